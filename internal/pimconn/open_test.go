package pimconn_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// countingTransport counts PROPFIND requests (discovery's).
type countingTransport struct{ propfinds atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == "PROPFIND" {
		c.propfinds.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestOpen: the options pick the collections; known collections with a
// sync token spare the discovery; a chosen collection that is gone is an
// error the user can act on.
func TestOpen(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	cal := srv.CreateCalendar(t, user, "work", "Work", "VEVENT")
	todo := srv.CreateCalendar(t, user, "todo", "To do", "VTODO")
	c := newConnector(t)
	ct := &countingTransport{}
	c.HTTPClient = &http.Client{Transport: ct}
	ctx := t.Context()
	sealed, err := c.Seal("cred_1", []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Credentials.PutCredential(ctx, store.Credential{ID: "cred_1", OrgID: 7, Ciphertext: sealed}); err != nil {
		t.Fatal(err)
	}
	a := crm.PIMAccount{ID: 3, OrgID: 7, Kind: crm.PIMCalDAV, URL: srv.URL(), Username: user, CredentialID: "cred_1",
		Options: crm.PIMOptions{Collection: cal}}
	ts, err := c.Open(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Collection.Href != cal || ts[0].Collection.Kind != pimconn.KindEvents ||
		ts[1].Collection.Href != todo || ts[1].Collection.Kind != pimconn.KindTasks || !ts[0].Remote.(*pimconn.Remote).SupportsSync {
		t.Fatalf("targets %+v", ts)
	}
	if ct.propfinds.Load() == 0 {
		t.Fatal("a first Open did not discover")
	}

	// Known collections, each proven by a sync token: no discovery.
	known := []store.PIMCollection{ts[0].Collection, ts[1].Collection}
	known[0].SyncToken, known[1].SyncToken = "t1", "t2"
	ct.propfinds.Store(0)
	ts2, err := c.Open(ctx, a, known)
	if err != nil || len(ts2) != 2 || ts2[0].Remote.(*pimconn.Remote).Href != cal || ts2[1].Remote.(*pimconn.Remote).Href != todo {
		t.Fatalf("from known: %+v %v", ts2, err)
	}
	if n := ct.propfinds.Load(); n != 0 {
		t.Errorf("Open from known collections sent %d PROPFINDs", n)
	}
	// A known collection without a token (its cursor dropped) or an
	// option the known ones do not answer: discovery again.
	known[1].SyncToken = ""
	if _, err := c.Open(ctx, a, known); err != nil || ct.propfinds.Load() == 0 {
		t.Errorf("a collection without a token did not make Open discover (%v)", err)
	}

	// The chosen calendar is gone: so says the error, naming the server.
	srv.Delete(t, user, cal)
	_, err = c.Open(ctx, a, nil)
	if e := wantKind(t, err, connerr.Gone); !strings.Contains(e.Message, cal) || e.Server == "" || !errors.Is(err, connerr.ErrGone) {
		t.Errorf("gone collection: %v (server %q)", err, e.Server)
	}
}

// TestOpenTaskCalendarWithoutTasks: a task list chosen earlier that no
// longer takes tasks (a calendar of events only) does not stop the events:
// the tasks target carries a warning for the user instead.
func TestOpenTaskCalendarWithoutTasks(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	cal := srv.CreateCalendar(t, user, "work", "Work", "VEVENT")
	srv.CreateCalendar(t, user, "todo", "To do", "VTODO")
	events := srv.CreateCalendar(t, user, "holidays", "Holidays", "VEVENT")
	c := newConnector(t)
	ctx := t.Context()
	sealed, err := c.Seal("cred_1", []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Credentials.PutCredential(ctx, store.Credential{ID: "cred_1", OrgID: 7, Ciphertext: sealed}); err != nil {
		t.Fatal(err)
	}
	a := crm.PIMAccount{ID: 3, OrgID: 7, Kind: crm.PIMCalDAV, URL: srv.URL(), Username: user, CredentialID: "cred_1",
		Options: crm.PIMOptions{Collection: cal, TaskCollection: events}}
	ts, err := c.Open(ctx, a, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(ts) != 2 || ts[0].Remote == nil || ts[0].Collection.Href != cal || ts[1].Remote != nil ||
		!strings.Contains(ts[1].Warning, "no longer accepts tasks") || !strings.Contains(ts[1].Warning, "todo") {
		t.Fatalf("targets: %+v", ts)
	}
}
