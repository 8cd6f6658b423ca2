package sso_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/oidcpeer"
)

const publicURL = "http://crm.test"

type fixture struct {
	ctx   context.Context
	st    store.Store
	keys  *secret.Keyring
	peer  *oidcpeer.Peer
	acme  crm.Org
	other crm.Org
	svc   *sso.Service
}

func newOrg(t *testing.T, st store.Store, name, adminEmail string) crm.Org {
	t.Helper()
	_, prefix, h := auth.NewToken()
	org, _, _, err := st.CreateOrg(context.Background(), store.CreateOrgParams{Name: name, AdminEmail: adminEmail,
		AdminName: "Admin", TokenName: "init", TokenHash: h, TokenPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func guarded(list string) *http.Client {
	return &http.Client{Transport: netguard.MustParse(list).Transport(nil), Timeout: 10 * time.Second}
}

// setup: Acme (Alice, Bob) and Other (Olga) in crmsync; the provider
// knows Alice, Olga, a stranger, and Bob with an unverified email.
func setup(t *testing.T, f storetest.Factory) *fixture {
	st, _ := f(t)
	x := &fixture{ctx: context.Background(), st: st}
	x.acme = newOrg(t, st, "Acme", "admin@acme.test")
	x.other = newOrg(t, st, "Other", "admin@other.test")
	for _, u := range []struct {
		org   int64
		email string
	}{{x.acme.ID, "alice@acme.test"}, {x.acme.ID, "bob@acme.test"}, {x.other.ID, "olga@other.test"}} {
		if _, err := st.CreateUser(x.ctx, u.org, store.UserParams{Email: u.email, Name: u.email, Role: crm.RoleMember}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if x.keys, err = secret.NewKeyring(secret.NewKey()); err != nil {
		t.Fatal(err)
	}
	x.peer = oidcpeer.Start(t, oidcpeer.Options{ClientID: "crmsync", ClientSecret: "client-secret-1",
		RedirectURIs: []string{publicURL + sso.CallbackPath},
		Users: []oidcpeer.User{
			{Username: "alice", Password: "pw-alice", Email: "Alice@Acme.test", EmailVerified: true},
			{Username: "bob", Password: "pw-bob", Email: "bob@acme.test", EmailVerified: false},
			{Username: "olga", Password: "pw-olga", Email: "olga@other.test", EmailVerified: true},
			{Username: "stranger", Password: "pw-stranger", Email: "stranger@else.test", EmailVerified: true},
		}})
	x.svc = x.service(time.Now)
	return x
}

func (x *fixture) service(now func() time.Time) *sso.Service {
	return sso.New(sso.Config{Store: x.st, Keys: x.keys, HTTP: guarded("127.0.0.0/8"), PublicURL: publicURL, Now: now})
}

func (x *fixture) configure(t *testing.T) {
	t.Helper()
	if _, err := x.svc.Set(x.ctx, x.acme.ID, sso.Input{Name: "Acme ID", Issuer: x.peer.Issuer, ClientID: "crmsync", ClientSecret: "client-secret-1"}); err != nil {
		t.Fatal(err)
	}
}

func code(err error) string {
	var e *sso.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// signIn starts a sign-in, signs in at the provider and returns its
// redirect back.
func (x *fixture) signIn(t *testing.T, username, password string) (url.Values, sso.Started) {
	t.Helper()
	started, err := x.svc.Start(x.ctx, x.acme.ID, "/records?x=1")
	if err != nil {
		t.Fatal(err)
	}
	back, err := oidcpeer.SignIn(started.URL, username, password)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != publicURL+sso.CallbackPath {
		t.Fatalf("sent back to %s", back)
	}
	return back.Query(), started
}

func TestConfigure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		x := setup(t, f)
		if _, err := x.svc.Get(x.ctx, x.acme.ID); code(err) != sso.CodeNotConfigured {
			t.Fatalf("before: %v", err)
		}
		for _, c := range []struct {
			in   sso.Input
			code string
		}{
			{sso.Input{Issuer: "", ClientID: "c", ClientSecret: "s"}, sso.CodeRequired},
			{sso.Input{Issuer: "http://idp.example.com", ClientID: "c", ClientSecret: "s"}, sso.CodeInvalid},
			{sso.Input{Issuer: "ftp://idp.example.com", ClientID: "c", ClientSecret: "s"}, sso.CodeInvalid},
			{sso.Input{Issuer: x.peer.Issuer + "?a=b", ClientID: "c", ClientSecret: "s"}, sso.CodeInvalid},
			{sso.Input{Issuer: x.peer.Issuer, ClientSecret: "s"}, sso.CodeRequired},
			{sso.Input{Issuer: x.peer.Issuer, ClientID: "c"}, sso.CodeRequired},
			{sso.Input{Issuer: x.peer.Issuer + "/nothing-here", ClientID: "c", ClientSecret: "s"}, sso.CodeDiscovery},
			{sso.Input{Name: strings.Repeat("n", sso.MaxName+1), Issuer: x.peer.Issuer, ClientID: "c", ClientSecret: "s"}, sso.CodeInvalid},
		} {
			if _, err := x.svc.Set(x.ctx, x.acme.ID, c.in); code(err) != c.code {
				t.Errorf("Set(%+v) = %v, want %s", c.in, err, c.code)
			}
		}
		// Loopback is refused unless the operator allows it.
		strict := sso.New(sso.Config{Store: x.st, Keys: x.keys, HTTP: guarded(""), PublicURL: publicURL})
		if _, err := strict.Set(x.ctx, x.acme.ID, sso.Input{Issuer: x.peer.Issuer, ClientID: "c", ClientSecret: "s"}); connerr.KindOf(err) != connerr.NotAllowed {
			t.Fatalf("a loopback issuer without --private-hosts: %v", err)
		}

		v, err := x.svc.Set(x.ctx, x.acme.ID, sso.Input{Issuer: x.peer.Issuer, ClientID: "crmsync", ClientSecret: "client-secret-1"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != "127.0.0.1" || v.Issuer != x.peer.Issuer || v.ClientID != "crmsync" || v.RedirectURI != publicURL+"/sso/callback" || v.UpdatedAt.IsZero() {
			t.Fatalf("view %+v", v)
		}
		// The secret is sealed at rest, bound to its credential.
		cred, err := x.st.GetCredential(x.ctx, x.acme.ID, fmt.Sprintf("sso-%d", x.acme.ID))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cred.Ciphertext), "client-secret-1") {
			t.Fatal("the client secret is stored in the clear")
		}
		if pt, err := x.keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID)); err != nil || string(pt) != "client-secret-1" {
			t.Fatalf("opening the secret: %q, %v", pt, err)
		}
		// Replacing without a secret keeps the secret.
		if v, err = x.svc.Set(x.ctx, x.acme.ID, sso.Input{Name: "Acme ID", Issuer: x.peer.Issuer, ClientID: "crmsync"}); err != nil || v.Name != "Acme ID" {
			t.Fatalf("replace: %+v, %v", v, err)
		}
		if cred2, _ := x.st.GetCredential(x.ctx, x.acme.ID, cred.ID); string(cred2.Ciphertext) != string(cred.Ciphertext) {
			t.Fatal("the secret changed though none was given")
		}
		d, err := x.svc.Test(x.ctx, x.acme.ID)
		if err != nil || !strings.HasPrefix(d.AuthorizationURL, x.peer.Issuer) || !strings.HasPrefix(d.TokenURL, x.peer.Issuer) {
			t.Fatalf("test: %+v, %v", d, err)
		}
		// Another organisation sees nothing of it.
		if _, err := x.svc.Get(x.ctx, x.other.ID); code(err) != sso.CodeNotConfigured {
			t.Fatalf("other organisation: %v", err)
		}
		if err := x.svc.Delete(x.ctx, x.other.ID); code(err) != sso.CodeNotConfigured {
			t.Fatalf("other organisation deleting: %v", err)
		}
		if err := x.svc.Delete(x.ctx, x.acme.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := x.st.GetCredential(x.ctx, x.acme.ID, cred.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the secret outlives its configuration: %v", err)
		}
		if _, err := x.svc.Start(x.ctx, x.acme.ID, "/"); code(err) != sso.CodeNotConfigured {
			t.Fatalf("start after delete: %v", err)
		}
	})
}

func TestSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		x := setup(t, f)
		x.configure(t)

		q, started := x.signIn(t, "alice", "pw-alice")
		if q.Get("code") == "" || q.Get("state") != started.State {
			t.Fatalf("redirect back: %v", q)
		}
		// Another browser (no or another bound state) cannot use it, and
		// does not burn it.
		if _, err := x.svc.Finish(x.ctx, q, ""); code(err) != sso.CodeStateInvalid {
			t.Fatalf("without the browser's state: %v", err)
		}
		if _, err := x.svc.Finish(x.ctx, q, "someone-else"); code(err) != sso.CodeStateInvalid {
			t.Fatalf("with another browser's state: %v", err)
		}
		res, err := x.svc.Finish(x.ctx, q, started.State)
		if err != nil {
			t.Fatal(err)
		}
		if res.User.Email != "alice@acme.test" || res.User.OrgID != x.acme.ID || res.Next != "/records?x=1" {
			t.Fatalf("signed in %+v", res)
		}
		// Replayed: refused.
		if _, err := x.svc.Finish(x.ctx, q, started.State); code(err) != sso.CodeStateInvalid {
			t.Fatalf("replayed: %v", err)
		}
		// Forged.
		if _, err := x.svc.Finish(x.ctx, url.Values{"state": {"forged"}, "code": {"x"}}, "forged"); code(err) != sso.CodeStateInvalid {
			t.Fatalf("forged: %v", err)
		}

		// Strangers, another organisation's user, an unverified email.
		for _, c := range []struct{ user, code, words string }{
			{"stranger", sso.CodeNotMember, "stranger@else.test is not a user of this organisation in crmsync: ask your admin to add you."},
			{"olga", sso.CodeNotMember, "ask your admin to add you"},
			{"bob", sso.CodeUnverified, "has not verified your email"},
		} {
			q, started := x.signIn(t, c.user, "pw-"+c.user)
			_, err := x.svc.Finish(x.ctx, q, started.State)
			if code(err) != c.code || !strings.Contains(err.Error(), c.words) {
				t.Errorf("%s: %v, want %s (%q)", c.user, err, c.code, c.words)
			}
		}

		// Too late: the state has expired.
		q, started = x.signIn(t, "alice", "pw-alice")
		late := x.service(func() time.Time { return time.Now().Add(sso.StateLifetime + time.Minute) })
		if _, err := late.Finish(x.ctx, q, started.State); code(err) != sso.CodeStateInvalid {
			t.Fatalf("expired: %v", err)
		}
		// The provider says no: the state is used up all the same.
		started, err = x.svc.Start(x.ctx, x.acme.ID, "/")
		if err != nil {
			t.Fatal(err)
		}
		denied := url.Values{"state": {started.State}, "error": {"access_denied"}}
		if _, err := x.svc.Finish(x.ctx, denied, started.State); code(err) != sso.CodeDenied {
			t.Fatalf("denied: %v", err)
		}
		if _, err := x.svc.Finish(x.ctx, denied, started.State); code(err) != sso.CodeStateInvalid {
			t.Fatalf("denied, then again: %v", err)
		}
		// A code redeemed by another client secret is refused by the provider.
		q, started = x.signIn(t, "alice", "pw-alice")
		if _, err := x.svc.Set(x.ctx, x.acme.ID, sso.Input{Name: "Acme ID", Issuer: x.peer.Issuer, ClientID: "crmsync", ClientSecret: "wrong"}); err != nil {
			t.Fatal(err)
		}
		if _, err := x.svc.Finish(x.ctx, q, started.State); code(err) != sso.CodeTokenInvalid {
			t.Fatalf("wrong client secret: %v", err)
		}
	})
}

func TestStartForEmailAndChoices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		x := setup(t, f)
		if lone, any, err := x.svc.SignInChoices(x.ctx); err != nil || lone != nil || any {
			t.Fatalf("nothing set up: %+v %v %v", lone, any, err)
		}
		x.configure(t)
		// Two organisations: the page asks for the email first.
		if lone, any, err := x.svc.SignInChoices(x.ctx); err != nil || lone != nil || !any {
			t.Fatalf("two organisations: %+v %v %v", lone, any, err)
		}
		for _, email := range []string{"nobody@acme.test", "olga@other.test"} {
			if _, err := x.svc.StartForEmail(x.ctx, email, "/"); code(err) != sso.CodeNotConfigured {
				t.Errorf("%s: %v", email, err)
			}
		}
		started, err := x.svc.StartForEmail(x.ctx, " Bob@Acme.test ", "/")
		if err != nil {
			t.Fatal(err)
		}
		// The email only routes: who signs in is the provider's word.
		back, err := oidcpeer.SignIn(started.URL, "alice", "pw-alice")
		if err != nil {
			t.Fatal(err)
		}
		res, err := x.svc.Finish(x.ctx, back.Query(), started.State)
		if err != nil || res.User.Email != "alice@acme.test" {
			t.Fatalf("%+v, %v", res, err)
		}
		u, err := url.Parse(started.URL)
		if err != nil {
			t.Fatal(err)
		}
		aq := u.Query()
		if aq.Get("code_challenge_method") != "S256" || aq.Get("code_challenge") == "" || aq.Get("nonce") == "" ||
			aq.Get("redirect_uri") != publicURL+sso.CallbackPath || !strings.Contains(aq.Get("scope"), "openid") {
			t.Fatalf("authorization request %v", aq)
		}
	})
	// One organisation: its provider is offered by name.
	st, _ := storetest.SQLite(t)
	org := newOrg(t, st, "Solo", "admin@solo.test")
	keys, _ := secret.NewKeyring(secret.NewKey())
	peer := oidcpeer.Start(t, oidcpeer.Options{ClientID: "c", ClientSecret: "s", RedirectURIs: []string{publicURL + sso.CallbackPath}})
	svc := sso.New(sso.Config{Store: st, Keys: keys, HTTP: guarded("127.0.0.0/8"), PublicURL: publicURL})
	if _, err := svc.Set(context.Background(), org.ID, sso.Input{Name: "Solo ID", Issuer: peer.Issuer, ClientID: "c", ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	lone, any, err := svc.SignInChoices(context.Background())
	if err != nil || lone == nil || lone.Name != "Solo ID" || lone.OrgID != org.ID || !any {
		t.Fatalf("one organisation: %+v %v %v", lone, any, err)
	}
}
