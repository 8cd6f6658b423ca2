package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/oauth"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

const (
	msClientID     = "11111111-2222-3333-4444-555555555555"
	msClientSecret = "client-secret-never-shown"
	publicURL      = "http://crm.acme.test"
)

// oauthBundle is a server with sign-in enabled against the fake identity
// platform, and a member (ann) who signs in.
type oauthBundle struct {
	*bundle
	fake     *graphfake.Server
	keys     *secret.Keyring
	svc      *oauth.Service
	annToken string
	browser  *http.Client // does not follow redirects: the test does
	seen     []string     // tokens and codes the fake gave out
	// secrets are more secrets never to be shown (another provider's).
	secrets func() []string
}

func setupOAuth(t *testing.T, opts ...bundleOpts) *oauthBundle {
	t.Helper()
	b := setup(t, opts...)
	fake := graphfake.New()
	t.Cleanup(fake.Close)
	fake.Identity.SetClock(b.clock.Now)
	fake.Identity.AddApp(graphfake.App{ClientID: msClientID, ClientSecret: msClientSecret, RedirectURI: publicURL + "/oauth/microsoft/callback"})
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	o := &oauthBundle{bundle: b, fake: fake, keys: kr,
		browser: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	o.svc = oauth.New(oauth.Config{Store: b.st, Keys: kr, PublicURL: publicURL, Now: b.clock.Now,
		HTTP: &http.Client{Transport: testPeers.Transport(nil)}})
	b.srv = api.New(api.Config{Store: b.st, Now: b.clock.Now, OAuth: o.svc,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, o.annToken = b.user("ann@acme.test", "member", 0)
	t.Cleanup(func() {
		if s := o.leak(b.logs.String()); s != "" {
			t.Errorf("a secret is in the logs: %s", s)
		}
	})
	return o
}

// leak returns the first secret found in s: the app's secret, or any
// token the fake issued for ann.
func (o *oauthBundle) leak(s string) string {
	all := append(append([]string{msClientSecret}, o.seen...), o.fake.Identity.RefreshTokens("ann@acme.test")...)
	if o.secrets != nil {
		all = append(all, o.secrets()...)
	}
	for _, x := range all {
		if x != "" && strings.Contains(s, x) {
			return x
		}
	}
	return ""
}

func (o *oauthBundle) registerApp(tenant string) {
	o.t.Helper()
	o.must(200, "PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": msClientID,
		"client_secret": msClientSecret, "tenant": tenant, "login_url": o.fake.LoginURL(), "graph_url": o.fake.GraphURL()})
}

// signIn starts as ann and plays the browser up to the redirect back to
// crmsync, which it returns (not yet followed).
func (o *oauthBundle) signIn(services ...string) *url.URL {
	o.t.Helper()
	r := o.must(200, "POST", "/api/v1/oauth/microsoft/start", o.annToken, map[string]any{"services": services, "mode": "sync"})
	au, err := url.Parse(r.Str("authorize_url"))
	if err != nil || !strings.HasPrefix(au.String(), o.fake.LoginURL()+"/organizations/oauth2/v2.0/authorize?") && !strings.Contains(au.Path, "/oauth2/v2.0/authorize") {
		o.t.Fatalf("authorize_url %q", r.Str("authorize_url"))
	}
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "offline_access") {
		o.t.Fatalf("authorize_url lacks PKCE, state or offline_access: %s", au)
	}
	resp, err := o.browser.Get(au.String())
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		o.t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), publicURL+"/oauth/microsoft/callback?") {
		o.t.Fatalf("redirected to %q", resp.Header.Get("Location"))
	}
	o.seen = append(o.seen, back.Query().Get("code"))
	return back
}

// callback follows the redirect to crmsync as a browser (accept "") or as
// a client wanting JSON.
func (o *oauthBundle) callback(back *url.URL, accept string) *resp {
	o.t.Helper()
	req := httptest.NewRequest("GET", back.RequestURI(), nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	o.srv.ServeHTTP(rec, req)
	r := &resp{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.Raw, &r.Body); err != nil {
			o.t.Fatal(err)
		}
		if _, _, msg := r.Err(); forPeople(msg) != "" {
			o.t.Errorf("the message names %s: %s", forPeople(msg), msg)
		}
	}
	if s := o.leak(string(r.Raw)); s != "" {
		o.t.Errorf("the answer holds a secret %q: %s", s, r.Raw)
	}
	return r
}

func (o *oauthBundle) oauthTokens() int {
	o.t.Helper()
	cs, err := o.st.ListCredentials(context.Background(), "", 100)
	if err != nil {
		o.t.Fatal(err)
	}
	n := 0
	for _, c := range cs {
		if c.Purpose == "oauth_token" {
			n++
		}
	}
	return n
}

func TestOAuthAppRegistration(t *testing.T) {
	o := setupOAuth(t)
	_, bobToken := o.user("bob@acme.test", "member", 0)
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", bobToken, map[string]any{"client_id": "x", "client_secret": "y"}), 403, "forbidden", "")
	o.wantErr(o.do("GET", "/api/v1/org/oauth-apps/microsoft", o.token, nil), 409, "oauth_app_missing", "")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_secret": "y"}), 422, "required", "client_id")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x"}), 422, "required", "client_secret")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x", "client_secret": "y",
		"login_url": "http://login.example.com"}), 422, "invalid_value", "login_url")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x", "client_secret": "y",
		"graph_url": "ftp://graph.example.com"}), 422, "invalid_value", "graph_url")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x", "client_secret": "y",
		"tenant": "../x"}), 422, "invalid_value", "tenant")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/yahoo", o.token, map[string]any{"client_id": "x", "client_secret": "y"}), 404, "not_found", "")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x", "client_secret": "y",
		"api_url": "https://www.googleapis.com"}), 422, "invalid_value", "api_url")

	r := o.must(200, "PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "x", "client_secret": msClientSecret})
	if r.Str("tenant") != "organizations" || r.Str("login_url") != "https://login.microsoftonline.com" || r.Str("graph_url") != "https://graph.microsoft.com" ||
		r.Str("redirect_uri") != publicURL+"/oauth/microsoft/callback" {
		t.Errorf("defaults: %s", r.Raw)
	}
	// A new client id without a secret keeps the secret.
	o.must(200, "PUT", "/api/v1/org/oauth-apps/microsoft", o.token, map[string]any{"client_id": "y", "tenant": "common"})
	r = o.must(200, "GET", "/api/v1/org/oauth-apps/microsoft", o.token, nil)
	if r.Str("client_id") != "y" || r.Str("tenant") != "common" || strings.Contains(string(r.Raw), msClientSecret) || strings.Contains(string(r.Raw), "secret") {
		t.Errorf("GET: %s", r.Raw)
	}
	o.must(204, "DELETE", "/api/v1/org/oauth-apps/microsoft", o.token, nil)
	o.wantErr(o.do("DELETE", "/api/v1/org/oauth-apps/microsoft", o.token, nil), 409, "oauth_app_missing", "")
	o.wantErr(o.do("POST", "/api/v1/oauth/microsoft/start", o.annToken, map[string]any{"services": []string{"mail"}}), 409, "oauth_app_missing", "")
	if n := o.oauthTokens(); n != 0 {
		t.Errorf("%d token sets", n)
	}
}

func TestOAuthSignInRefreshAndRevoke(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupOAuth(t, opts)
		o.registerApp("")
		o.fake.Identity.AddUser(graphfake.User{Email: "Ann@Acme.test"})
		o.wantErr(o.do("POST", "/api/v1/oauth/microsoft/start", o.annToken, map[string]any{"services": []string{"fax"}}), 422, "invalid_value", "services")
		o.wantErr(o.do("POST", "/api/v1/oauth/microsoft/start", o.annToken, map[string]any{}), 422, "required", "services")

		back := o.signIn("mail", "contacts", "calendar", "tasks")
		r := o.callback(back, "application/json")
		if r.Status != 200 || r.Str("email") != "ann@acme.test" || r.Str("credential_id") == "" || len(r.Body["services"].([]any)) != 4 {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		if r.Body["mail_account_id"] == nil || r.Body["reattached"] != false || r.Body["notes"] != nil {
			t.Errorf("callback: no mailbox, or a note when everything was connected: %s", r.Raw)
		}
		// One account per other service, of kind microsoft, sharing the
		// sign-in; none shows a secret.
		ids, _ := r.Body["pim_account_ids"].([]any)
		if len(ids) != 3 {
			t.Fatalf("pim accounts: %s", r.Raw)
		}
		for i, svc := range []string{"contacts", "calendar", "tasks"} {
			a := o.must(200, "GET", fmt.Sprintf("/api/v1/pim-accounts/%d", int64(ids[i].(float64))), o.annToken, nil)
			if a.Str("kind") != "microsoft" || a.Str("service") != svc || a.Str("username") != "ann@acme.test" || a.Str("state") != "connecting" {
				t.Errorf("%s account: %s", svc, a.Raw)
			}
			if strings.Contains(string(a.Raw), "credential") || strings.Contains(string(a.Raw), "token") {
				t.Errorf("%s account shows a secret: %s", svc, a.Raw)
			}
		}
		// Replaying the redirect finds the state used.
		replay := o.callback(back, "application/json")
		if code, _, _ := replay.Err(); replay.Status != 400 || code != "oauth_state_invalid" {
			t.Errorf("replay: %d %s", replay.Status, replay.Raw)
		}
		cred := r.Str("credential_id")
		ctx := context.Background()
		ts, err := o.svc.TokenSource(ctx, o.orgID, "microsoft", cred)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		first := tok.RefreshToken
		o.seen = append(o.seen, tok.AccessToken, first)
		if o.fake.Identity.Grants("refresh_token") != 0 {
			t.Errorf("a fresh token was refreshed")
		}
		// An hour later the access token is due: refreshed, and the
		// rotated refresh token is what is stored.
		o.clock.Advance(time.Hour)
		tok, err = ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		o.seen = append(o.seen, tok.AccessToken, tok.RefreshToken)
		if o.fake.Identity.Grants("refresh_token") != 1 || tok.RefreshToken == first || tok.RefreshToken == "" {
			t.Fatalf("no rotation: %d refreshes", o.fake.Identity.Grants("refresh_token"))
		}
		ts2, _ := o.svc.TokenSource(ctx, o.orgID, "microsoft", cred)
		if again, err := ts2.Token(); err != nil || again.RefreshToken != tok.RefreshToken || again.AccessToken != tok.AccessToken {
			t.Errorf("the rotation is not what another source reads: %v", err)
		}
		// A token Graph refused before its expiry is replaced at once.
		forced, err := ts.(interface {
			Stale(string) (*oauth2.Token, error)
		}).Stale(tok.AccessToken)
		if err != nil || forced.AccessToken == tok.AccessToken || o.fake.Identity.Grants("refresh_token") != 2 {
			t.Fatalf("stale: %v, %d refreshes", err, o.fake.Identity.Grants("refresh_token"))
		}
		o.seen = append(o.seen, forced.AccessToken, forced.RefreshToken)
		if again, err := ts.Token(); err != nil || again.AccessToken != forced.AccessToken {
			t.Errorf("after the forced refresh: %v", err)
		}
		// Nothing in clear in the database.
		cs, err := o.st.ListCredentials(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if s := o.leak(string(c.Ciphertext)); s != "" {
				t.Errorf("credential %s holds %q in clear", c.ID, s)
			}
		}
		// Revoked: auth_failed, in words the user can act on.
		o.fake.Identity.Revoke("ann@acme.test")
		o.clock.Advance(time.Hour)
		_, err = ts.Token()
		if connerr.KindOf(err) != connerr.Auth || !strings.Contains(connerr.Message(err), "Sign in to Microsoft again") {
			t.Errorf("revoked: %v", err)
		}
		if s := o.leak(err.Error()); s != "" {
			t.Errorf("the error names a secret: %v", err)
		}
		// Each AADSTS code of the reference that a new sign-in cures.
		for _, code := range []int{70008, 700082, 65001, 50076} {
			o.fake.Identity.FailRefresh(code)
			if _, err := ts.Token(); connerr.KindOf(err) != connerr.Auth || !strings.Contains(connerr.Message(err), "Sign in to Microsoft again") {
				t.Errorf("AADSTS%d: %v", code, err)
			}
		}
	})
}

func TestOAuthCallbackRefusals(t *testing.T) {
	o := setupOAuth(t)
	o.registerApp("organizations")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})

	// A browser is sent on to the web UI.
	if r := o.callback(o.signIn("mail"), ""); r.Status != 303 || r.Header.Get("Location") != publicURL+"/" {
		t.Errorf("browser: %d %q", r.Status, r.Header.Get("Location"))
	}
	// Expired.
	back := o.signIn("mail")
	o.clock.Advance(oauth.StateLifetime + time.Second)
	o.fake.Identity.SetClock(func() time.Time { return o.clock.Now().Add(-oauth.StateLifetime) })
	r := o.callback(back, "application/json")
	if code, _, _ := r.Err(); r.Status != 400 || code != "oauth_state_invalid" {
		t.Errorf("expired: %d %s", r.Status, r.Raw)
	}
	o.fake.Identity.SetClock(o.clock.Now)
	// Unknown.
	if r := o.callback(&url.URL{Path: "/oauth/microsoft/callback", RawQuery: "code=x&state=forged"}, "application/json"); r.Status != 400 {
		t.Errorf("forged state: %d %s", r.Status, r.Raw)
	}
	// Denied consent.
	o.fake.Identity.DenyConsent(true)
	r = o.callback(o.signIn("mail"), "application/json")
	if code, _, _ := r.Err(); r.Status != 403 || code != "oauth_denied" {
		t.Errorf("denied: %d %s", r.Status, r.Raw)
	}
	if r := o.callback(o.signIn("mail"), ""); r.Status != 303 || r.Header.Get("Location") != publicURL+"/?oauth_error=oauth_denied" {
		t.Errorf("denied in a browser: %d %q", r.Status, r.Header.Get("Location"))
	}
	o.fake.Identity.DenyConsent(false)
	// A personal account at a work-only app.
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@outlook.test", Personal: true})
	r = o.callback(o.signIn("mail"), "application/json")
	if code, _, msg := r.Err(); r.Status != 403 || code != "consumer_account_not_allowed" || !strings.Contains(msg, "forwarding") {
		t.Errorf("personal: %d %s", r.Status, r.Raw)
	}
	if n := o.oauthTokens(); n != 1 {
		t.Errorf("%d token sets, want only the browser's", n)
	}
	// With tenant common the personal account signs in.
	o.registerApp("common")
	if r := o.callback(o.signIn("mail"), "application/json"); r.Status != 200 || r.Str("email") != "ann@outlook.test" {
		t.Errorf("personal at common: %d %s", r.Status, r.Raw)
	}
}

func TestOAuthTokenErrorsClassified(t *testing.T) {
	// A wrong client secret is the admin's to fix, not a reconnect.
	o := setupOAuth(t)
	o.registerApp("")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	o.fake.Identity.AddApp(graphfake.App{ClientID: msClientID, ClientSecret: "rotated", RedirectURI: publicURL + "/oauth/microsoft/callback"})
	r := o.callback(o.signIn("mail"), "application/json")
	if code, _, _ := r.Err(); r.Status != 422 || code != "provider_blocked" {
		t.Errorf("wrong secret: %d %s", r.Status, r.Raw)
	}
}

func init() {
	requestTypes["PUT /api/v1/org/oauth-apps/{provider}"] = api.OAuthAppRequest{}
	requestTypes["POST /api/v1/oauth/{provider}/start"] = api.OAuthStartRequest{}
}
