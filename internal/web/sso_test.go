package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/oidcpeer"
	"github.com/crmsync/crmsync/internal/web"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// On a server with several organisations the sign-in page cannot know
// whose provider to offer: it asks the email first, and sends the browser
// to that organisation's provider (the browser flow of one organisation
// is in flows/sso_test.go).
func TestSSOEmailFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		ctx := context.Background()
		st, _ := f(t)
		var orgs []crm.Org
		for _, o := range []struct{ name, admin string }{{"Acme", "admin@acme.test"}, {"Other", "admin@other.test"}} {
			_, prefix, h := auth.NewToken()
			org, _, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: o.name, AdminEmail: o.admin, AdminName: "Admin",
				TokenName: "init", TokenHash: h, TokenPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			orgs = append(orgs, org)
		}
		if _, err := st.CreateUser(ctx, orgs[0].ID, store.UserParams{Email: "alice@acme.test", Name: "Alice Andersson", Role: crm.RoleMember}); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + ln.Addr().String()
		peer := oidcpeer.Start(t, oidcpeer.Options{ClientID: "crmsync", ClientSecret: "s3cret-s3cret",
			RedirectURIs: []string{base + sso.CallbackPath},
			Users:        []oidcpeer.User{{Username: "alice", Password: "pw-alice", Email: "alice@acme.test", EmailVerified: true}}})
		keys, _ := secret.NewKeyring(secret.NewKey())
		svc := sso.New(sso.Config{Store: st, Keys: keys, PublicURL: base,
			HTTP: &http.Client{Transport: netguard.MustParse("127.0.0.0/8").Transport(nil), Timeout: 10 * time.Second}})
		if _, err := svc.Set(ctx, orgs[0].ID, sso.Input{Name: "Acme ID", Issuer: peer.Issuer, ClientID: "crmsync", ClientSecret: "s3cret-s3cret"}); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: web.New(web.Config{Store: st, SignIn: signin.New(signin.Config{Store: st}), SSO: svc})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })

		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(u string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Accept-Language", "en")
			r, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			return r, string(b)
		}
		post := func(u string, form url.Values) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept-Language", "en")
			r, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			return r, string(b)
		}

		_, page := get(base + "/login")
		if !strings.Contains(page, `href="/sso"`) || !strings.Contains(page, "Sign in with single sign-on") || strings.Contains(page, "Acme ID") {
			t.Fatalf("the sign-in page of a server with two organisations:\n%s", page)
		}
		r, page := get(base + "/sso")
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https:") {
			t.Errorf("the email page's policy would block the redirect to the provider: %s", csp)
		}
		m := csrfField.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form:\n%s", page)
		}
		for _, email := range []string{"nobody@acme.test", "admin@other.test"} {
			r, page = post(base+"/sso", url.Values{"csrf": {m[1]}, "email": {email}, "next": {"/"}})
			if r.StatusCode != 422 || !strings.Contains(page, "Single sign-on is not set up for this address. Sign in with your password, or ask your admin.") {
				t.Fatalf("%s: %d\n%s", email, r.StatusCode, page)
			}
		}
		r, _ = post(base+"/sso", url.Values{"csrf": {m[1]}, "email": {"Alice@acme.test"}, "next": {"/settings"}})
		to := r.Header.Get("Location")
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(to, peer.Issuer) {
			t.Fatalf("alice: %d to %q", r.StatusCode, to)
		}
		back, err := oidcpeer.SignIn(to, "alice", "pw-alice")
		if err != nil {
			t.Fatal(err)
		}
		r, page = get(back.String())
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/settings" {
			t.Fatalf("callback: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), page)
		}
		r, page = get(base + "/settings")
		if r.StatusCode != 200 || !strings.Contains(page, `action="/logout"`) {
			t.Fatalf("not signed in after the provider: %d\n%s", r.StatusCode, page)
		}
		// The state cookie is gone: the same redirect again is refused.
		r, page = get(back.String())
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(page, "This sign-in has expired, was already used, or was started in another browser.") {
			t.Fatalf("replayed: %d\n%s", r.StatusCode, page)
		}
	})
}
