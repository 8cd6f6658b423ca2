package pimconn_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// memCredentials is a store.Credentials in memory.
type memCredentials struct {
	mu    sync.Mutex
	creds map[string]store.Credential
}

func (m *memCredentials) PutCredential(ctx context.Context, c store.Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.creds == nil {
		m.creds = map[string]store.Credential{}
	}
	m.creds[c.ID] = c
	return nil
}

func (m *memCredentials) GetCredential(ctx context.Context, orgID int64, id string) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[id]
	if !ok || c.OrgID != orgID {
		return store.Credential{}, store.ErrNotFound
	}
	return c, nil
}

func (m *memCredentials) DeleteCredential(ctx context.Context, orgID int64, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.creds, id)
	return nil
}

func (m *memCredentials) ListCredentials(ctx context.Context, afterID string, limit int) ([]store.Credential, error) {
	return nil, nil
}

func (m *memCredentials) ReplaceCiphertext(ctx context.Context, id string, old, new []byte) error {
	return nil
}

func newConnector(t *testing.T) *pimconn.Connector {
	t.Helper()
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	// The test servers (Radicale, httptest) are on loopback: the
	// allowance an operator gives with --private-hosts.
	return &pimconn.Connector{Credentials: &memCredentials{}, Keys: kr, Guard: netguard.MustParse("127.0.0.0/8")}
}

// collections writes cols as "kind href display name" lines.
func collections(cols []store.PIMCollection) []string {
	var out []string
	for _, c := range cols {
		out = append(out, string(c.Kind)+" "+c.Href+" "+c.DisplayName)
	}
	return out
}

func wantKind(t *testing.T, err error, kind connerr.Kind) *connerr.Error {
	t.Helper()
	var de *connerr.Error
	if !errors.As(err, &de) || de.Kind != kind {
		t.Fatalf("error %v, want a *connerr.Error of kind %s", err, kind)
	}
	if de.Message == "" {
		t.Errorf("%s without a message", kind)
	}
	return de
}

func TestVerifyCardDAV(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	srv.CreateAddressBook(t, user, "contacts", "Contacts")
	srv.CreateAddressBook(t, user, "work", "Work people")
	srv.CreateCalendar(t, user, "cal", "Calendar") // not an address book
	c := newConnector(t)
	ctx := t.Context()

	cols, err := c.Verify(ctx, crm.PIMCardDAV, srv.URL(), user, pass)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"contacts /user1/contacts/ Contacts", "contacts /user1/work/ Work people"}
	if got := collections(cols); !slices.Equal(got, want) {
		t.Errorf("collections %q, want %q", got, want)
	}

	// Wrong password: auth_failed, in words naming the user.
	_, err = c.Verify(ctx, crm.PIMCardDAV, srv.URL(), user, "wrong")
	if de := wantKind(t, err, connerr.Auth); !strings.Contains(de.Message, user) {
		t.Errorf("message %q does not name %s", de.Message, user)
	}

	// A user without any address book: no_collections, saying so.
	user2, pass2 := srv.User(2)
	_, err = c.Verify(ctx, crm.PIMCardDAV, srv.URL(), user2, pass2)
	if de := wantKind(t, err, pimconn.KindNoCollections); !strings.Contains(de.Message, "no address book for "+user2) {
		t.Errorf("message %q", de.Message)
	}
}

func TestVerifyCalDAV(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	srv.CreateAddressBook(t, user, "contacts", "Contacts") // not a calendar
	srv.CreateCalendar(t, user, "both", "Work", "VEVENT", "VTODO")
	srv.CreateCalendar(t, user, "events", "Meetings", "VEVENT")
	srv.CreateCalendar(t, user, "todo", "To do", "VTODO")
	srv.CreateCalendar(t, user, "journal", "Journal", "VJOURNAL")
	c := newConnector(t)

	cols, err := c.Verify(t.Context(), crm.PIMCalDAV, srv.URL()+"user1/", user, pass)
	if err != nil {
		t.Fatal(err)
	}
	// A calendar holding both is listed once per kind; a journal is not
	// synced.
	want := []string{
		"events /user1/both/ Work", "tasks /user1/both/ Work",
		"events /user1/events/ Meetings",
		"tasks /user1/todo/ To do",
	}
	if got := collections(cols); !slices.Equal(got, want) {
		t.Errorf("collections\n%q\nwant\n%q", got, want)
	}

	// Only journals: nothing to sync.
	user2, pass2 := srv.User(2)
	srv.CreateCalendar(t, user2, "journal", "Journal", "VJOURNAL")
	_, err = c.Verify(t.Context(), crm.PIMCalDAV, srv.URL(), user2, pass2)
	if de := wantKind(t, err, pimconn.KindNoCollections); !strings.Contains(de.Message, "events or tasks") {
		t.Errorf("message %q", de.Message)
	}
	// No calendar at all.
	user3, pass3 := srv.User(3)
	_, err = c.Verify(t.Context(), crm.PIMCalDAV, srv.URL(), user3, pass3)
	if de := wantKind(t, err, pimconn.KindNoCollections); !strings.Contains(de.Message, "no calendar for "+user3) {
		t.Errorf("message %q", de.Message)
	}
}

func TestVerifyUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newConnector(t)
	_, err = c.Verify(t.Context(), crm.PIMCardDAV, "http://"+addr+"/", "user1", "pass1")
	wantKind(t, err, connerr.Unreachable)
}

func TestUsable(t *testing.T) {
	t.Parallel()
	cols := []dav.Collection{
		{Href: "/a/", Type: dav.AddressBook, DisplayName: "A"},
		{Href: "/ro/", Type: dav.AddressBook, ReadOnly: true},
		{Href: "/any/", Type: dav.Calendar, DisplayName: "Any"}, // no component set: everything
		{Href: "/ev/", Type: dav.Calendar, Components: []string{"VEVENT"}},
		{Href: "/ro-cal/", Type: dav.Calendar, ReadOnly: true},
	}
	if got, want := collections(pimconn.Usable(crm.PIMCardDAV, cols)), []string{"contacts /a/ A"}; !slices.Equal(got, want) {
		t.Errorf("carddav: %q, want %q", got, want)
	}
	if got, want := collections(pimconn.Usable(crm.PIMCalDAV, cols)), []string{"events /any/ Any", "tasks /any/ Any", "events /ev/ "}; !slices.Equal(got, want) {
		t.Errorf("caldav: %q, want %q", got, want)
	}

}

func TestSealAndClient(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	srv.CreateAddressBook(t, user, "contacts", "Contacts")
	c := newConnector(t)
	ctx := t.Context()

	sealed, err := c.Seal("cred_1", []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), pass) {
		t.Fatal("sealed in clear")
	}
	if err := c.Credentials.PutCredential(ctx, store.Credential{ID: "cred_1", OrgID: 7, Purpose: "pim_password", Ciphertext: sealed}); err != nil {
		t.Fatal(err)
	}
	a := crm.PIMAccount{ID: 3, OrgID: 7, Kind: crm.PIMCardDAV, URL: srv.URL(), Username: user, CredentialID: "cred_1"}
	cl, err := c.Client(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if cl.BaseURL != srv.URL() || cl.Username != user || cl.Password != pass {
		t.Errorf("client %s %s", cl.BaseURL, cl.Username)
	}
	d, err := cl.Discover(ctx)
	if err != nil || len(d.AddressBooks()) != 1 {
		t.Fatalf("discover with the opened password: %v %+v", err, d)
	}

	// No credential: the user must enter the password again.
	noCred := a
	noCred.CredentialID = ""
	_, err = c.Client(ctx, noCred)
	wantKind(t, err, connerr.Auth)

	// A ciphertext moved to another credential does not open; nor does one
	// sealed under a key this server lacks: the operator's to fix.
	if err := c.Credentials.PutCredential(ctx, store.Credential{ID: "cred_2", OrgID: 7, Ciphertext: sealed}); err != nil {
		t.Fatal(err)
	}
	moved := a
	moved.CredentialID = "cred_2"
	_, err = c.Client(ctx, moved)
	if de := wantKind(t, err, connerr.Protocol); !strings.Contains(de.Message, "cannot be decrypted") {
		t.Errorf("message %q", de.Message)
	}
	other := newConnector(t)
	other.Credentials = c.Credentials
	_, err = other.Client(ctx, a)
	wantKind(t, err, connerr.Protocol)

	// A credential of another organisation is not found: an error of ours,
	// not the user's.
	stranger := a
	stranger.OrgID = 8
	_, err = c.Client(ctx, stranger)
	var de *connerr.Error
	if err == nil || errors.As(err, &de) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("credential of another org: %v", err)
	}
}
