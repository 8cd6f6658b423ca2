package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/crmsync/crmsync/internal/connerr"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

var factories = map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}

// wakes records what the service woke.
type wakes struct {
	mu        sync.Mutex
	mail, pim []int64
}

func (w *wakes) WakeMail(id int64) { w.mu.Lock(); w.mail = append(w.mail, id); w.mu.Unlock() }
func (w *wakes) WakePIM(id int64)  { w.mu.Lock(); w.pim = append(w.pim, id); w.mu.Unlock() }

// noPIM is a PIM connector that never logs in: enough for what needs
// none (sync now).
type noPIM struct{}

func (noPIM) Verify(context.Context, crm.PIMKind, string, string, string) ([]store.PIMCollection, error) {
	return nil, errors.New("noPIM: no server")
}
func (noPIM) Seal(string, []byte) ([]byte, error) { return nil, errors.New("noPIM: no sealing") }

const retention = 7 * 24 * time.Hour

// env is a service on its own database, with an organisation of an admin
// and two members, Ann and Bob.
type env struct {
	t             *testing.T
	ctx           context.Context
	st            store.Store
	svc           *accounts.Service
	mail          *accountstest.Mail
	wakes         *wakes
	now           time.Time
	admin, ann    crm.Viewer
	bob           crm.Viewer
	dropboxDomain string
}

// eachStore runs test on SQLite and on PostgreSQL.
func eachStore(t *testing.T, test func(e *env)) {
	for name, f := range factories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, _ := f(t)
			test(newEnv(t, db))
		})
	}
}

func newEnv(t *testing.T, st store.Store) *env {
	e := &env{t: t, ctx: context.Background(), st: st, mail: accountstest.NewMail(), wakes: &wakes{},
		now: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC), dropboxDomain: "in.crm.test"}
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := st.CreateOrg(e.ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.test", AdminName: "Admin",
		TokenName: "init", TokenHash: hash, TokenPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	e.ann, e.bob = e.member("ann@acme.test"), e.member("bob@acme.test")
	e.svc = accounts.New(accounts.Config{Store: st, Mail: e.mail, PIM: noPIM{}, Waker: e.wakes,
		Now: func() time.Time { return e.now }, Retention: retention, DropboxDomain: e.dropboxDomain})
	return e
}

func (e *env) member(email string) crm.Viewer {
	e.t.Helper()
	u, err := e.st.CreateUser(e.ctx, e.admin.OrgID, store.UserParams{Email: email, Name: email, Role: crm.RoleMember})
	if err != nil {
		e.t.Fatal(err)
	}
	return crm.Viewer{OrgID: e.admin.OrgID, UserID: u.ID, Role: crm.RoleMember}
}

// connectAnn connects ann@acme.test with autoconfigured settings.
func (e *env) connectAnn() crm.MailAccount {
	e.t.Helper()
	a, reattached, err := e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: accountstest.GoodPassword})
	if err != nil || reattached {
		e.t.Fatalf("connect: %v (reattached %v)", err, reattached)
	}
	return a
}

func (e *env) credentials() []store.Credential {
	e.t.Helper()
	cs, err := e.st.ListCredentials(e.ctx, "", 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func (e *env) mailAccounts() []crm.MailAccount {
	e.t.Helper()
	p, err := e.st.ListMailAccounts(e.ctx, e.admin, store.MailAccountFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

// fieldError fails the test unless err is a *FieldError for field with
// code.
func fieldError(t *testing.T, err error, field, code string) {
	t.Helper()
	var fe *accounts.FieldError
	if !errors.As(err, &fe) || fe.Field != field || fe.Code != code || fe.Message == "" {
		t.Errorf("got %v, want a %s error on %s", err, code, field)
	}
}

func TestConnectVerifiesBeforeSavingAndSealsThePassword(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		a := e.connectAnn()
		if e.mail.VerifyCount() != 1 {
			t.Fatalf("Verify called %d times", e.mail.VerifyCount())
		}
		if v := e.mail.LastVerify(t); v.Password != accountstest.GoodPassword || v.Settings.IMAP.Host != "imap.acme.test" || v.Settings.IMAP.Username != "ann@acme.test" {
			t.Errorf("verified with %+v", v)
		}
		if a.UserID != e.ann.UserID || a.State != crm.StateConnecting || a.Mode != crm.ModeSync || a.Settings.Source != "autoconfig-xml" || a.Settings.SMTP == nil {
			t.Errorf("account: %+v", a)
		}
		creds := e.credentials()
		if len(creds) != 1 || creds[0].ID != a.CredentialID || creds[0].Purpose != "mail_password" {
			t.Fatalf("credentials: %+v (account's %q)", creds, a.CredentialID)
		}
		if bytes.Contains(creds[0].Ciphertext, []byte(accountstest.GoodPassword)) {
			t.Error("the password is stored in plain text")
		}
		if got := accountstest.Unseal(t, a.CredentialID, creds[0].Ciphertext); got != accountstest.GoodPassword {
			t.Errorf("sealed %q", got)
		}

		// The same address again is a conflict, and nothing more is stored.
		_, _, err := e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "Ann@Acme.test", Password: accountstest.GoodPassword})
		var ae *accounts.Error
		if !errors.Is(err, accounts.ErrConflict) || !errors.As(err, &ae) || ae.Field != "email" {
			t.Errorf("connecting twice: %v", err)
		}
		if len(e.credentials()) != 1 || len(e.mailAccounts()) != 1 {
			t.Error("a refused connection stored something")
		}
	})
}

func TestConnectWithAWrongPasswordSavesNothing(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		_, _, err := e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: "hunter2"})
		var me *connerr.Error
		if !errors.As(err, &me) || me.Kind != connerr.Auth {
			t.Errorf("wrong password: %v, want the connector's auth error unchanged", err)
		}
		// A server that cannot be reached, settings given by hand.
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: accountstest.GoodPassword,
			IMAP: &accounts.ServerSettingsRequest{Host: "down.example"}})
		if !errors.As(err, &me) || me.Kind != connerr.Unreachable {
			t.Errorf("unreachable: %v", err)
		}
		// Refusals before any login.
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test"})
		fieldError(t, err, "password", accounts.CodeRequired)
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: "x",
			IMAP: &accounts.ServerSettingsRequest{Host: "imap.acme.test", Port: 70000}})
		fieldError(t, err, "imap.port", accounts.CodeInvalidValue)
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@nowhere.test", Password: "x"})
		fieldError(t, err, "imap", accounts.CodeSettingsNotFound)
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: "x",
			IMAP: &accounts.ServerSettingsRequest{Host: "imap.acme.test", Security: "none"}})
		fieldError(t, err, "imap.security", accounts.CodePlaintextRefused)
		other := e.bob.UserID
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "bob@acme.test", Password: accountstest.GoodPassword, UserID: &other})
		if !errors.Is(err, accounts.ErrForbidden) {
			t.Errorf("connecting a colleague's mailbox: %v", err)
		}
		if e.mail.VerifyCount() != 2 {
			t.Errorf("Verify called %d times, want 2 (only for complete requests)", e.mail.VerifyCount())
		}
		if len(e.credentials()) != 0 || len(e.mailAccounts()) != 0 {
			t.Errorf("a failed connection stored something: %+v %+v", e.credentials(), e.mailAccounts())
		}
	})
}

func TestDisconnectNeedsConfirmation(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		a := e.connectAnn()
		_, err := e.svc.DisconnectMail(e.ctx, e.ann, a.ID, accounts.DisconnectRequest{By: "ann@acme.test"})
		var ae *accounts.Error
		if !errors.Is(err, accounts.ErrConfirmationRequired) || !errors.As(err, &ae) || ae.Field != "confirm_data_loss" {
			t.Fatalf("without confirmation: %v", err)
		}
		// It says what would be lost, and until when it can be restored.
		for _, want := range []string{"0 messages and their links", "9 January 2030", "confirm that you accept losing them"} {
			if !strings.Contains(ae.Message, want) {
				t.Errorf("message %q does not say %q", ae.Message, want)
			}
		}
		got, err := e.st.GetMailAccount(e.ctx, e.ann, a.ID)
		if err != nil || got.DisconnectedAt != nil || got.State != crm.StateConnecting {
			t.Errorf("the refusal changed the account: %+v, %v", got, err)
		}
		// Not Bob's to disconnect: he cannot see it.
		if _, err := e.svc.DisconnectMail(e.ctx, e.bob, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true}); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("Bob disconnecting: %v", err)
		}
	})
}

func TestReconnectWithinRetentionReattaches(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		a := e.connectAnn()
		d, err := e.svc.DisconnectMail(e.ctx, e.ann, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true, By: "ann@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		if d.State != crm.StateDisconnected || d.DisconnectedAt == nil || d.RetainedUntil == nil || !d.RetainedUntil.Equal(e.now.Add(retention)) {
			t.Fatalf("disconnected: %+v", d)
		}
		// Disconnected, it can be neither changed nor synced.
		pw := "new password"
		if _, err := e.svc.UpdateMail(e.ctx, e.ann, a.ID, accounts.MailAccountModificationRequest{Password: &pw}); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("updating a disconnected mailbox: %v", err)
		}
		if _, err := e.svc.SyncMailNow(e.ctx, e.ann, a.ID); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("syncing a disconnected mailbox: %v", err)
		}

		e.now = e.now.Add(24 * time.Hour)
		e.mail.SetPassword(pw)
		r, reattached, err := e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: pw})
		if err != nil || !reattached {
			t.Fatalf("reconnect: %v (reattached %v)", err, reattached)
		}
		if r.ID != a.ID || r.DisconnectedAt != nil || r.RetainedUntil != nil || r.State != crm.StateConnecting || r.CredentialID != a.CredentialID {
			t.Errorf("reattached: %+v, was %+v", r, a)
		}
		creds := e.credentials()
		if len(creds) != 1 || accountstest.Unseal(t, a.CredentialID, creds[0].Ciphertext) != pw {
			t.Errorf("the new password is not the one stored: %+v", creds)
		}
		if len(e.mailAccounts()) != 1 {
			t.Error("a second account was created")
		}

		// Once its retention has ended, the mailbox is no longer reattached.
		if _, err := e.svc.DisconnectMail(e.ctx, e.ann, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true}); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(retention + time.Second)
		_, _, err = e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: pw})
		if !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("reconnecting after the retention: %v", err)
		}
	})
}

func TestForwardMode(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		req := accounts.MailConnectionRequest{Email: "ann@acme.test", Mode: crm.ModeForward}
		a, _, err := e.svc.ConnectMail(e.ctx, e.ann, req)
		if err != nil || a.Provider != "dropbox" || len(a.DropboxToken) != 32 || a.CredentialID != "" || a.State != crm.StateSynced {
			t.Fatalf("forward mode: %+v, %v", a, err)
		}
		if e.mail.VerifyCount() != 0 || len(e.credentials()) != 0 {
			t.Error("forward mode logged in or stored a password")
		}
		pw := accountstest.GoodPassword
		if _, err := e.svc.UpdateMail(e.ctx, e.ann, a.ID, accounts.MailAccountModificationRequest{Password: &pw}); !errors.Is(err, accounts.ErrConflict) {
			t.Errorf("a password for a forwarding-mode mailbox: %v", err)
		}
		if _, err := e.svc.DisconnectMail(e.ctx, e.ann, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true}); err != nil {
			t.Fatal(err)
		}
		// Reconnected in forward mode: the same dropbox address.
		r, reattached, err := e.svc.ConnectMail(e.ctx, e.ann, req)
		if err != nil || !reattached || r.ID != a.ID || r.DropboxToken != a.DropboxToken {
			t.Errorf("reconnected: %+v (reattached %v), %v", r, reattached, err)
		}

		off := accounts.New(accounts.Config{Store: e.st})
		_, _, err = off.ConnectMail(e.ctx, e.bob, accounts.MailConnectionRequest{Email: "bob@acme.test", Mode: crm.ModeForward})
		fieldError(t, err, "mode", accounts.CodeForwardingDisabled)
		_, _, err = off.ConnectMail(e.ctx, e.bob, accounts.MailConnectionRequest{Email: "bob@acme.test", Password: "x"})
		if !errors.Is(err, accounts.ErrUnavailable) {
			t.Errorf("sync mode without a connector: %v", err)
		}
	})
}

func TestUpdateChangesOnlyTheGivenFields(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		a, _, err := e.svc.ConnectMail(e.ctx, e.ann, accounts.MailConnectionRequest{Email: "ann@acme.test", Password: accountstest.GoodPassword,
			IMAP: &accounts.ServerSettingsRequest{Host: "imap.acme.test"}, SMTP: &accounts.ServerSettingsRequest{Host: "smtp.acme.test"}})
		if err != nil {
			t.Fatal(err)
		}
		// Patch itself: only SMTP changes.
		req := accounts.MailAccountModificationRequest{SMTP: &accounts.ServerSettingsRequest{Host: "smtp2.acme.test", Security: "starttls"}}
		if err := req.Validate(); err != nil {
			t.Fatal(err)
		}
		patched := a
		req.Patch(&patched)
		if *patched.Settings.IMAP != *a.Settings.IMAP || patched.Settings.Source != "manual" || patched.Settings.AllowPlaintext {
			t.Errorf("Patch changed what it was not given: %+v", patched.Settings)
		}
		if s := patched.Settings.SMTP; s.Host != "smtp2.acme.test" || s.Port != 587 || s.Security != "starttls" || s.Username != "ann@acme.test" {
			t.Errorf("patched SMTP: %+v", s)
		}

		// New servers need the password, to log in before saving.
		_, err = e.svc.UpdateMail(e.ctx, e.ann, a.ID, req)
		fieldError(t, err, "password", accounts.CodeRequired)
		bad := accounts.MailAccountModificationRequest{IMAP: &accounts.ServerSettingsRequest{Host: "imap.acme.test", Security: "ssl"}}
		fieldError(t, bad.Validate(), "imap.security", accounts.CodeInvalidValue)
		yes := true
		if _, err := e.svc.UpdateMail(e.ctx, e.ann, a.ID, accounts.MailAccountModificationRequest{AllowPlaintext: &yes}); !errors.Is(err, accounts.ErrForbidden) {
			t.Errorf("a member allowing plain text: %v", err)
		}

		pw := "changed password"
		e.mail.SetPassword(pw)
		req.Password = &pw
		u, err := e.svc.UpdateMail(e.ctx, e.ann, a.ID, req)
		if err != nil {
			t.Fatal(err)
		}
		if *u.Settings.IMAP != *a.Settings.IMAP || *u.Settings.SMTP != *patched.Settings.SMTP || u.State != crm.StateConnecting || u.CredentialID != a.CredentialID {
			t.Errorf("updated: %+v", u.Settings)
		}
		if v := e.mail.LastVerify(t); v.Password != pw || v.Settings.SMTP.Host != "smtp2.acme.test" {
			t.Errorf("verified with %+v", v)
		}
		if creds := e.credentials(); len(creds) != 1 || accountstest.Unseal(t, a.CredentialID, creds[0].Ciphertext) != pw {
			t.Errorf("stored password: %+v", creds)
		}

		// A wrong password changes nothing.
		wrong := "wrong"
		_, err = e.svc.UpdateMail(e.ctx, e.ann, a.ID, accounts.MailAccountModificationRequest{Password: &wrong, RemoveSMTP: true})
		var me *connerr.Error
		if !errors.As(err, &me) || me.Kind != connerr.Auth {
			t.Errorf("wrong password: %v", err)
		}
		if got, _ := e.st.GetMailAccount(e.ctx, e.ann, a.ID); got.Settings.SMTP == nil {
			t.Error("a refused update removed the SMTP server")
		}

		// PIM accounts are patched the same way.
		p := crm.PIMAccount{URL: "https://dav.acme.test/", Username: "ann", Options: crm.PIMOptions{ConflictPolicy: "newest_wins",
			ImportCategories: []string{"Work"}, Collection: "/dav/ann/contacts/"}}
		policy := "crm_wins"
		preq := accounts.PIMAccountModificationRequest{ConflictPolicy: &policy}
		if err := preq.Validate(crm.PIMCardDAV, crm.ServiceContacts); err != nil {
			t.Fatal(err)
		}
		before := p
		preq.Patch(&p)
		if p.Options.ConflictPolicy != "crm_wins" || p.URL != before.URL || p.Username != before.Username || p.Options.Collection != before.Options.Collection ||
			len(p.Options.ImportCategories) != 1 {
			t.Errorf("PIM Patch: %+v", p)
		}
		tasks := "/dav/ann/tasks"
		fieldError(t, (&accounts.PIMAccountModificationRequest{TaskCollection: &tasks}).Validate(crm.PIMCardDAV, crm.ServiceContacts), "options.task_collection", accounts.CodeInvalidValue)
	})
}

func TestSyncNowWakesTheLoop(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		a := e.connectAnn()
		if _, err := e.svc.SyncMailNow(e.ctx, e.ann, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SyncMailNow(e.ctx, e.bob, a.ID); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("Bob syncing Ann's mailbox: %v", err)
		}
		p, err := e.st.CreatePIMAccount(e.ctx, e.ann, crm.PIMAccount{UserID: e.ann.UserID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.test/",
			Username: "ann", Options: crm.PIMOptions{ConflictPolicy: "newest_wins"}, State: crm.StateSynced})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.svc.SyncPIMNow(e.ctx, e.ann, p.ID)
		if err != nil || !s.SyncRequested {
			t.Fatalf("sync now: %+v, %v", s, err)
		}
		e.wakes.mu.Lock()
		defer e.wakes.mu.Unlock()
		if len(e.wakes.mail) != 1 || e.wakes.mail[0] != a.ID || len(e.wakes.pim) != 1 || e.wakes.pim[0] != p.ID {
			t.Errorf("woke mail %v, PIM %v; want [%d], [%d]", e.wakes.mail, e.wakes.pim, a.ID, p.ID)
		}
	})
}
