package accounts_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// davServer is a PIM connector whose server holds two address books, a
// calendar and a task list, behind one password; it can list an
// account's collections with the stored password (a PIMCollectionLister)
// and counts its logins.
type davServer struct {
	st     store.Store
	t      *testing.T
	mu     sync.Mutex
	logins int
}

var davCollections = []store.PIMCollection{
	{Href: "/dav/ann/home/", Kind: pim.Contacts, DisplayName: "Home"},
	{Href: "/dav/ann/work/", Kind: pim.Contacts, DisplayName: "Work"},
	{Href: "/dav/ann/cal/", Kind: pim.Events, DisplayName: "Calendar"},
	{Href: "/dav/ann/todo/", Kind: pim.Tasks, DisplayName: "To do"},
}

func (d *davServer) Verify(_ context.Context, _ crm.PIMKind, _, _, password string) ([]store.PIMCollection, error) {
	d.mu.Lock()
	d.logins++
	d.mu.Unlock()
	if password != accountstest.GoodPassword {
		return nil, connerr.New(connerr.Auth, "The server refused the username or password.", nil)
	}
	return append([]store.PIMCollection(nil), davCollections...), nil
}

func (d *davServer) Seal(id string, pw []byte) ([]byte, error) { return accountstest.Seal(id, pw), nil }

func (d *davServer) Collections(ctx context.Context, a crm.PIMAccount) ([]store.PIMCollection, error) {
	cred, err := d.st.GetCredential(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return nil, err
	}
	return d.Verify(ctx, a.Kind, a.URL, a.Username, accountstest.Unseal(d.t, cred.ID, cred.Ciphertext))
}

func withDAV(e *env) *davServer {
	d := &davServer{st: e.st, t: e.t}
	e.svc = accounts.New(accounts.Config{Store: e.st, Mail: e.mail, PIM: d, Waker: e.wakes,
		Now: func() time.Time { return e.now }, Retention: retention, DropboxDomain: e.dropboxDomain})
	return d
}

// DiscoverPIM lists what an account of the kind asked for can sync, and
// saves nothing; a refused login is the connector's error; a missing
// password is refused before any login.
func TestDiscoverPIM(t *testing.T) {
	eachStore(t, func(e *env) {
		d := withDAV(e)
		req := accounts.PIMConnectionRequest{Kind: "carddav", URL: "https://dav.example.com/", Username: "ann", Password: accountstest.GoodPassword}
		cols, err := e.svc.DiscoverPIM(e.ctx, e.ann, req)
		if err != nil || len(cols) != 2 || cols[0].DisplayName != "Home" || cols[1].DisplayName != "Work" {
			t.Fatalf("address books: %+v, %v", cols, err)
		}
		req.Kind = "caldav"
		cols, err = e.svc.DiscoverPIM(e.ctx, e.ann, req)
		if err != nil || len(cols) != 2 || cols[0].Kind != pim.Events || cols[1].Kind != pim.Tasks {
			t.Fatalf("calendars: %+v, %v", cols, err)
		}
		req.Password = "wrong"
		if _, err := e.svc.DiscoverPIM(e.ctx, e.ann, req); connerr.KindOf(err) != connerr.Auth {
			t.Fatalf("wrong password: %v", err)
		}
		logins := d.logins
		req.Password = ""
		var fe *accounts.FieldError
		if _, err := e.svc.DiscoverPIM(e.ctx, e.ann, req); !errors.As(err, &fe) || fe.Field != "password" || d.logins != logins {
			t.Fatalf("no password: %v (%d logins)", err, d.logins-logins)
		}
		page, err := e.st.ListPIMAccounts(e.ctx, e.admin, store.PIMAccountFilter{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("discovery saved accounts: %+v, %v", page.Items, err)
		}
		if n := len(e.credentials()); n != 0 {
			t.Fatalf("discovery stored %d credentials", n)
		}
	})
}

// The collection choices of an account are the server's, listed with
// the stored password; its view (what the API and the web app show) has
// the counts of its kind and the history.
func TestPIMCollectionChoicesAndView(t *testing.T) {
	eachStore(t, func(e *env) {
		withDAV(e)
		a, err := e.svc.ConnectPIM(e.ctx, e.ann, accounts.PIMConnectionRequest{Kind: "carddav", URL: "https://dav.example.com/",
			Username: "ann", Password: accountstest.GoodPassword, Options: accounts.PIMOptionsRequest{Collection: "/dav/ann/work/"}})
		if err != nil || a.Options.Collection != "/dav/ann/work/" {
			t.Fatalf("connect: %+v, %v", a.Options, err)
		}
		cols, err := e.svc.PIMCollectionChoices(e.ctx, e.ann, a.ID)
		if err != nil || len(cols) != len(davCollections) {
			t.Fatalf("choices: %+v, %v", cols, err)
		}
		if _, err := e.svc.PIMCollectionChoices(e.ctx, e.bob, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another member's account: %v", err)
		}
		v, err := e.svc.PIMView(e.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if v.Counts.Contacts == nil || *v.Counts.Contacts != 0 || v.Counts.Events != nil || v.Counts.Tasks != nil {
			t.Errorf("counts of an address book: %+v", v.Counts)
		}
		if v.Failure != nil || v.History == nil || v.ItemErrors == nil || v.Warnings == nil || v.Collections == nil {
			t.Errorf("view: %+v", v)
		}
		failing := a
		failing.State, failing.ErrorCode, failing.ErrorMessage = crm.StateAuthFailed, "auth_failed", "Refused."
		if f := accounts.SummarizePIM(failing).Failure; f == nil || f.Code != "auth_failed" || f.Message != "Refused." {
			t.Errorf("failure of a refused login: %+v", f)
		}
		failing.State = crm.StateSynced // recovered: the code is history
		if f := accounts.SummarizePIM(failing).Failure; f != nil {
			t.Errorf("failure of a synced account: %+v", f)
		}
	})
}

// A sign-in with Microsoft for mail and calendar lists contacts and tasks
// as missing; connecting contacts uses the sign-in's token set, wakes the
// loop, and is refused a second time; a provider not signed in with is
// refused, naming what to do.
func TestConnectSignedInPIM(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		withDAV(e)
		req := accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "ann@acme.test", CredentialID: e.putToken("oauth-1"),
			Services: []string{"calendar", "mail"}}
		if _, err := e.svc.ConnectOAuth(e.ctx, e.ann, req); err != nil {
			t.Fatal(err)
		}
		ins, err := e.svc.PIMSignIns(e.ctx, e.ann)
		if err != nil || len(ins) != 1 || ins[0].Kind != crm.PIMMicrosoft || ins[0].Email != "ann@acme.test" ||
			len(ins[0].Missing) != 2 || ins[0].Missing[0] != crm.ServiceContacts || ins[0].Missing[1] != crm.ServiceTasks {
			t.Fatalf("sign-ins: %+v, %v", ins, err)
		}
		if ins, _ := e.svc.PIMSignIns(e.ctx, e.bob); len(ins) != 0 {
			t.Errorf("Bob sees Ann's sign-ins: %+v", ins)
		}
		woken := len(e.wakes.pim)
		a, err := e.svc.ConnectSignedInPIM(e.ctx, e.ann, crm.PIMMicrosoft, "ann@acme.test", crm.ServiceContacts)
		if err != nil || a.Service != crm.ServiceContacts || a.CredentialID != "oauth-1" || a.UserID != e.ann.UserID || a.State != crm.StateConnecting {
			t.Fatalf("contacts: %+v, %v", a, err)
		}
		if len(e.wakes.pim) != woken+1 {
			t.Errorf("the new account's loop was not woken")
		}
		if _, err := e.svc.ConnectSignedInPIM(e.ctx, e.ann, crm.PIMMicrosoft, "ann@acme.test", crm.ServiceContacts); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("twice: %v", err)
		}
		if ins, _ := e.svc.PIMSignIns(e.ctx, e.ann); len(ins) != 1 || len(ins[0].Missing) != 1 || ins[0].Missing[0] != crm.ServiceTasks {
			t.Errorf("after connecting contacts: %+v", ins)
		}
		if _, err := e.svc.ConnectSignedInPIM(e.ctx, e.ann, crm.PIMGoogle, "ann@acme.test", crm.ServiceTasks); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("a provider not signed in with: %v", err)
		}
		if _, err := e.svc.ConnectSignedInPIM(e.ctx, e.bob, crm.PIMMicrosoft, "ann@acme.test", crm.ServiceTasks); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("Bob with Ann's sign-in: %v", err)
		}
	})
}
