package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

const (
	gClientID     = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"
	gClientSecret = "GOCSPX-google-secret-never-shown"
)

// googleBundle is an oauthBundle with Google's fake beside Microsoft's,
// and the fake mail connector (for autoconfig).
type googleBundle struct {
	*oauthBundle
	g *googlefake.Server
}

func setupGoogle(t *testing.T, opts ...bundleOpts) *googleBundle {
	t.Helper()
	o := setupOAuth(t, opts...)
	g := googlefake.New()
	t.Cleanup(g.Close)
	g.Identity.SetClock(o.clock.Now)
	g.Identity.AddApp(googlefake.App{ClientID: gClientID, ClientSecret: gClientSecret, RedirectURIs: []string{publicURL + "/oauth/google/callback"}})
	o.secrets = func() []string { return append([]string{gClientSecret}, g.Identity.RefreshTokens("ann@acme.test")...) }
	o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, Mail: accountstest.NewMail(),
		Logger: slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return &googleBundle{oauthBundle: o, g: g}
}

func (o *googleBundle) registerGoogle() {
	o.t.Helper()
	o.must(200, "PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": gClientID,
		"client_secret": gClientSecret, "auth_url": o.g.AuthURL(), "token_url": o.g.TokenURL(), "api_url": o.g.APIURL()})
}

// googleSignIn starts as ann and plays the browser at Google's fake up to
// the redirect back to crmsync, which it returns (not yet followed).
func (o *googleBundle) googleSignIn(services ...string) *url.URL {
	o.t.Helper()
	r := o.must(200, "POST", "/api/v1/oauth/google/start", o.annToken, map[string]any{"services": services, "mode": "sync"})
	au, err := url.Parse(r.Str("authorize_url"))
	if err != nil || !strings.HasPrefix(au.String(), o.g.AuthURL()+"?") {
		o.t.Fatalf("authorize_url %q", r.Str("authorize_url"))
	}
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("access_type") != "offline" || q.Get("include_granted_scopes") != "true" || q.Get("redirect_uri") != publicURL+"/oauth/google/callback" {
		o.t.Fatalf("authorize_url lacks PKCE, state, offline access or incremental scopes: %s", au)
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
	if err != nil || !strings.HasPrefix(back.String(), publicURL+"/oauth/google/callback?") {
		o.t.Fatalf("redirected to %q", resp.Header.Get("Location"))
	}
	o.seen = append(o.seen, back.Query().Get("code"))
	return back
}

func TestGoogleAppRegistration(t *testing.T) {
	o := setupGoogle(t)
	_, bobToken := o.user("bob@acme.test", "member", 0)
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", bobToken, map[string]any{"client_id": "x", "client_secret": "y"}), 403, "forbidden", "")
	o.wantErr(o.do("GET", "/api/v1/org/oauth-apps/google", o.token, nil), 409, "oauth_app_missing", "")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_secret": "y"}), 422, "required", "client_id")
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "x"}), 422, "required", "client_secret")
	for _, field := range []string{"auth_url", "token_url", "api_url"} {
		o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "x", "client_secret": "y",
			field: "http://accounts.example.com/x"}), 422, "invalid_value", field)
		o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "x", "client_secret": "y",
			field: "https://accounts.example.com/x?y=1"}), 422, "invalid_value", field)
	}
	o.wantErr(o.do("PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "x", "client_secret": "y",
		"tenant": "common"}), 422, "invalid_value", "tenant")

	r := o.must(200, "PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "x", "client_secret": gClientSecret})
	if r.Str("auth_url") != "https://accounts.google.com/o/oauth2/auth" || r.Str("token_url") != "https://oauth2.googleapis.com/token" ||
		r.Str("api_url") != google.DefaultAPIURL || r.Str("redirect_uri") != publicURL+"/oauth/google/callback" || r.Body["tenant"] != nil {
		t.Errorf("defaults: %s", r.Raw)
	}
	// http on loopback, for a local fake; a new client id without a
	// secret keeps the secret.
	o.must(200, "PUT", "/api/v1/org/oauth-apps/google", o.token, map[string]any{"client_id": "y", "api_url": "http://127.0.0.1:9/"})
	r = o.must(200, "GET", "/api/v1/org/oauth-apps/google", o.token, nil)
	if r.Str("client_id") != "y" || r.Str("api_url") != "http://127.0.0.1:9" || r.Str("auth_url") != "https://accounts.google.com/o/oauth2/auth" ||
		strings.Contains(string(r.Raw), gClientSecret) || strings.Contains(string(r.Raw), "secret") {
		t.Errorf("GET: %s", r.Raw)
	}
	// Microsoft's app is another one.
	o.wantErr(o.do("GET", "/api/v1/org/oauth-apps/microsoft", o.token, nil), 409, "oauth_app_missing", "")
	// The secret is sealed.
	cs, err := o.st.ListCredentials(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.Contains(string(c.Ciphertext), gClientSecret) {
			t.Errorf("credential %s holds the secret in clear", c.ID)
		}
	}
	o.must(204, "DELETE", "/api/v1/org/oauth-apps/google", o.token, nil)
	o.wantErr(o.do("DELETE", "/api/v1/org/oauth-apps/google", o.token, nil), 409, "oauth_app_missing", "")
	o.wantErr(o.do("POST", "/api/v1/oauth/google/start", o.annToken, map[string]any{"services": []string{"mail"}}), 409, "oauth_app_missing", "")
}

// A user signs in with Google: a mail account of provider google; its
// tokens are refreshed and sealed; a second sign-in adding a service asks
// no consent again and keeps the refresh token; a revoked grant is
// auth_failed "Sign in to Google again", and signing in again (with
// consent) comes back to the same account.
func TestGoogleSignInRefreshRevokeReattach(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupGoogle(t, opts)
		o.registerGoogle()
		o.g.Identity.AddUser(googlefake.User{Email: "Ann@Acme.test", HostedDomain: "acme.test"})
		o.wantErr(o.do("POST", "/api/v1/oauth/google/start", o.annToken, map[string]any{"services": []string{"fax"}}), 422, "invalid_value", "services")

		r := o.callback(o.googleSignIn("mail"), "application/json")
		if r.Status != 200 || r.Str("provider") != "google" || r.Str("email") != "ann@acme.test" || r.Body["mail_account_id"] == nil {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		auth := o.g.Identity.LastAuthorize()
		scopes := strings.Fields(auth.Get("scope"))
		for _, want := range []string{"openid", "email", "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.send"} {
			if !slices.Contains(scopes, want) {
				t.Errorf("scope %q not asked for: %v", want, scopes)
			}
		}
		if auth.Get("prompt") != "consent" {
			t.Errorf("first sign-in without prompt=consent: %v", auth)
		}
		id := int64(r.Body["mail_account_id"].(float64))
		a := o.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), o.annToken, nil)
		if a.Str("provider") != "google" || a.Str("mode") != "sync" || a.Str("email") != "ann@acme.test" || a.Str("state") != "connecting" {
			t.Errorf("account: %s", a.Raw)
		}
		if strings.Contains(string(a.Raw), "credential") || strings.Contains(string(a.Raw), "token") {
			t.Errorf("the account shows its sign-in: %s", a.Raw)
		}
		// Replaying the redirect finds the state used.
		ctx := context.Background()
		cred := r.Str("credential_id")
		ts, err := o.svc.TokenSource(ctx, o.orgID, "google", cred)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		rt := tok.RefreshToken
		o.seen = append(o.seen, tok.AccessToken, rt)
		// An hour later: refreshed; Google sends no new refresh token,
		// the one held stays.
		o.clock.Advance(time.Hour)
		tok, err = ts.Token()
		if err != nil || o.g.Identity.Grants("refresh_token") != 1 || tok.RefreshToken != rt {
			t.Fatalf("refresh: %v, %d refreshes", err, o.g.Identity.Grants("refresh_token"))
		}
		o.seen = append(o.seen, tok.AccessToken)
		// The clients of the connectors: the app's api_url, the token set's
		// bearer tokens (the fake's API accepts them), one gate per token set.
		cc := &cloudconn.Clients{OAuth: o.svc, Guard: testPeers}
		cfg, err := cc.Google(ctx, o.orgID, cred)
		if err != nil || cfg.APIURL != o.g.APIURL() || cfg.Gate == nil {
			t.Fatalf("cloudconn: %+v %v", cfg, err)
		}
		if again, _ := cc.Google(ctx, o.orgID, cred); again.Gate != cfg.Gate {
			t.Error("two gates for one token set")
		}
		cl, err := google.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		// Nothing is served at that path yet: a 404 past the token check,
		// not a 401.
		if err := cl.GetJSON(ctx, "/gmail/v1/users/me/nothing", nil, 1<<20, &v); connerr.KindOf(err) != connerr.Gone {
			t.Errorf("API with the token set: %v", err)
		}
		// The mailbox dials over the Gmail API with the stored token set:
		// its labels are its folders.
		acct, err := o.st.MailAccountByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		conn := &mailconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: cc}
		mb, err := conn.Dial(ctx, acct)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if fs, err := mb.Folders(ctx); err != nil || len(fs) == 0 {
			t.Errorf("labels: %v %v", fs, err)
		}
		mb.Close()

		// Adding a service: no forced consent, incremental scopes, and
		// Google gives no refresh token: the one held is kept.
		r = o.callback(o.googleSignIn("mail", "contacts"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id {
			t.Fatalf("adding contacts: %d %s", r.Status, r.Raw)
		}
		if p := o.g.Identity.LastAuthorize().Get("prompt"); p != "" {
			t.Errorf("a returning user is asked for consent again: prompt=%q", p)
		}
		cred = r.Str("credential_id")
		ts, _ = o.svc.TokenSource(ctx, o.orgID, "google", cred)
		o.clock.Advance(time.Hour)
		if tok, err := ts.Token(); err != nil || tok.RefreshToken != rt {
			t.Fatalf("after adding contacts: %v", err)
		}
		if n := o.oauthTokens(); n != 1 {
			t.Errorf("%d token sets, want 1", n)
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

		// Revoked: auth_failed, in words the user can act on; the API
		// refuses the old access token too.
		o.g.Identity.Revoke("ann@acme.test")
		o.clock.Advance(time.Hour)
		_, revoked := ts.Token()
		if connerr.KindOf(revoked) != connerr.Auth || !strings.Contains(connerr.Message(revoked), "Sign in to Google again") || o.leak(revoked.Error()) != "" {
			t.Fatalf("revoked: %v", revoked)
		}
		// The sync loop records it (as it does for any connector error).
		l, err := o.st.ClaimLease(ctx, "mail", fmt.Sprint(id), "test", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.st.RecordAccountStatus(ctx, l.Fence(), id, store.AccountStatus{State: crm.StateAuthFailed,
			ErrorCode: string(connerr.Auth), ErrorMessage: connerr.Message(revoked)}, nil); err != nil {
			t.Fatal(err)
		}
		if err := o.st.ReleaseLease(ctx, l); err != nil {
			t.Fatal(err)
		}
		a = o.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), o.annToken, nil)
		if a.Str("state") != "auth_failed" || !strings.Contains(string(a.Raw), "Sign in to Google again") {
			t.Errorf("account after revocation: %s", a.Raw)
		}
		// Signing in again (for what was connected: the mailbox and the
		// contacts) asks for consent, gets a new refresh token and comes
		// back to the same accounts.
		r = o.callback(o.googleSignIn("mail", "contacts"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id {
			t.Fatalf("sign in again: %d %s", r.Status, r.Raw)
		}
		if o.g.Identity.LastAuthorize().Get("prompt") != "consent" {
			t.Errorf("signing in after auth_failed without prompt=consent")
		}
		a = o.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), o.annToken, nil)
		if a.Str("state") != "connecting" || strings.Contains(string(a.Raw), "Sign in to Google again") {
			t.Errorf("account after signing in again: %s", a.Raw)
		}
		ts, _ = o.svc.TokenSource(ctx, o.orgID, "google", r.Str("credential_id"))
		o.clock.Advance(time.Hour)
		if tok, err := ts.Token(); err != nil || tok.RefreshToken == rt || tok.RefreshToken == "" {
			t.Fatalf("after signing in again: %v", err)
		}
		if n := o.oauthTokens(); n != 1 {
			t.Errorf("%d token sets, want 1", n)
		}
		// Disconnected, then signed in again: reattached.
		o.must(200, "DELETE", fmt.Sprintf("/api/v1/mail-accounts/%d?confirm_data_loss=true", id), o.annToken, nil)
		r = o.callback(o.googleSignIn("mail"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id || r.Body["reattached"] != true {
			t.Fatalf("reattach: %d %s", r.Status, r.Raw)
		}
	})
}

func TestGoogleCallbackRefusals(t *testing.T) {
	o := setupGoogle(t)
	o.registerGoogle()
	o.g.Identity.AddUser(googlefake.User{Email: "ann@acme.test", HostedDomain: "acme.test"})

	// A browser is sent on to the web UI.
	if r := o.callback(o.googleSignIn("mail"), ""); r.Status != 303 || r.Header.Get("Location") != publicURL+"/" {
		t.Errorf("browser: %d %q", r.Status, r.Header.Get("Location"))
	}
	// Replayed, forged, expired.
	back := o.googleSignIn("mail")
	if r := o.callback(back, "application/json"); r.Status != 200 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Raw)
	}
	if r := o.callback(back, "application/json"); r.Status != 400 || r.Body["error"].(map[string]any)["code"] != "oauth_state_invalid" {
		t.Errorf("replay: %d %s", r.Status, r.Raw)
	}
	if r := o.callback(&url.URL{Path: "/oauth/google/callback", RawQuery: "code=x&state=forged"}, "application/json"); r.Status != 400 {
		t.Errorf("forged: %d %s", r.Status, r.Raw)
	}
	back = o.googleSignIn("mail")
	o.clock.Advance(15 * time.Minute)
	if r := o.callback(back, "application/json"); r.Status != 400 {
		t.Errorf("expired: %d %s", r.Status, r.Raw)
	}
	// A state of Microsoft's flow is not Google's.
	o.registerApp("")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	ms := o.signIn("mail")
	ms.Path = "/oauth/google/callback"
	if r := o.callback(ms, "application/json"); r.Status != 400 {
		t.Errorf("Microsoft's state at Google's callback: %d %s", r.Status, r.Raw)
	}
	// Denied consent.
	o.g.Identity.DenyConsent(true)
	r := o.callback(o.googleSignIn("mail"), "application/json")
	if code, _, _ := r.Err(); r.Status != 403 || code != "oauth_denied" {
		t.Errorf("denied: %d %s", r.Status, r.Raw)
	}
	if r := o.callback(o.googleSignIn("mail"), ""); r.Status != 303 || r.Header.Get("Location") != publicURL+"/?oauth_error=oauth_denied" {
		t.Errorf("denied in a browser: %d %q", r.Status, r.Header.Get("Location"))
	}
	o.g.Identity.DenyConsent(false)
	// The Workspace domain's policy refuses the app: provider_blocked,
	// with advice.
	o.g.Identity.BlockDomain("acme.test", true)
	r = o.callback(o.googleSignIn("mail"), "application/json")
	if code, _, msg := r.Err(); r.Status != 422 || code != "provider_blocked" || !strings.Contains(msg, "administrator") || !strings.Contains(msg, "inbox") {
		t.Errorf("domain policy: %d %s", r.Status, r.Raw)
	}
	if r := o.callback(o.googleSignIn("mail"), ""); r.Status != 303 || r.Header.Get("Location") != publicURL+"/?oauth_error=provider_blocked" {
		t.Errorf("domain policy in a browser: %d %q", r.Status, r.Header.Get("Location"))
	}
	o.g.Identity.BlockDomain("acme.test", false)
	// A wrong client secret is the admin's to fix.
	o.g.Identity.AddApp(googlefake.App{ClientID: gClientID, ClientSecret: "rotated", RedirectURIs: []string{publicURL + "/oauth/google/callback"}})
	r = o.callback(o.googleSignIn("mail"), "application/json")
	if code, _, _ := r.Err(); r.Status != 422 || code != "provider_blocked" {
		t.Errorf("wrong secret: %d %s", r.Status, r.Raw)
	}
	// An address Google has not verified is not taken.
	o.g.Identity.AddApp(googlefake.App{ClientID: gClientID, ClientSecret: gClientSecret, RedirectURIs: []string{publicURL + "/oauth/google/callback"}})
	o.g.Identity.AddUser(googlefake.User{Email: "someone@acme.test", Unverified: true})
	if r := o.callback(o.googleSignIn("mail"), "application/json"); r.Status != 403 {
		t.Errorf("unverified address: %d %s", r.Status, r.Raw)
	}
	if n := o.oauthTokens(); n != 1 {
		t.Errorf("%d token sets, want only the first sign-in's", n)
	}
}

// A refresh refused because the domain's policy now blocks the app is
// provider_blocked, not a reconnect.
func TestGoogleRefreshUnderDomainPolicy(t *testing.T) {
	o := setupGoogle(t)
	o.registerGoogle()
	o.g.Identity.AddUser(googlefake.User{Email: "ann@acme.test", HostedDomain: "acme.test"})
	r := o.callback(o.googleSignIn("mail"), "application/json")
	if r.Status != 200 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Raw)
	}
	ts, err := o.svc.TokenSource(context.Background(), o.orgID, "google", r.Str("credential_id"))
	if err != nil {
		t.Fatal(err)
	}
	o.g.Identity.BlockDomain("acme.test", true)
	o.clock.Advance(time.Hour)
	if _, err := ts.Token(); connerr.KindOf(err) != connerr.Blocked || !strings.Contains(connerr.Message(err), "administrator") {
		t.Errorf("refresh under policy: %v", err)
	}
	// A refresh token past its lifetime (an app in testing) is a reconnect.
	o.g.Identity.BlockDomain("acme.test", false)
	o.g.Identity.SetRefreshLifetime(7 * 24 * time.Hour)
	o.clock.Advance(7 * 24 * time.Hour)
	if _, err := ts.Token(); connerr.KindOf(err) != connerr.Auth || !strings.Contains(connerr.Message(err), "Sign in to Google again") {
		t.Errorf("expired refresh token: %v", err)
	}
}

// Who signed in is read from userinfo when the token answer has no
// id_token.
func TestGoogleSignInWithoutIDToken(t *testing.T) {
	o := setupGoogle(t)
	o.registerGoogle()
	o.g.Identity.AddUser(googlefake.User{Email: "Ann@Acme.test"})
	o.g.Identity.WithoutIDToken(true)
	if r := o.callback(o.googleSignIn("mail"), "application/json"); r.Status != 200 || r.Str("email") != "ann@acme.test" {
		t.Errorf("sign-in: %d %s", r.Status, r.Raw)
	}
	o.g.Identity.AddUser(googlefake.User{Email: "other@acme.test", Unverified: true})
	if r := o.callback(o.googleSignIn("mail"), "application/json"); r.Status != 403 {
		t.Errorf("unverified address from userinfo: %d %s", r.Status, r.Raw)
	}
}

// Autoconfig offers Google's sign-in for Gmail once the organisation has
// its Google app, and keeps IMAP with an app password in every case.
func TestAutoconfigOffersGoogleSignIn(t *testing.T) {
	o := setupGoogle(t)
	r := o.must(200, "GET", "/api/v1/autoconfig?email=bob@gmail.com", o.annToken, nil)
	if r.Body["sign_in"] != nil || r.Str("auth") != "app_password" || obj(r.Body["imap"])["host"] != "imap.gmail.com" || !strings.Contains(r.Str("hint"), "app password") {
		t.Errorf("without a Google app: %s", r.Raw)
	}
	o.registerGoogle()
	r = o.must(200, "GET", "/api/v1/autoconfig?email=bob@gmail.com", o.annToken, nil)
	if r.Str("sign_in") != "google" || obj(r.Body["imap"])["host"] != "imap.gmail.com" ||
		!strings.Contains(r.Str("hint"), "sign in with Google") || !strings.Contains(r.Str("hint"), "app password") {
		t.Errorf("with a Google app: %s", r.Raw)
	}
	r = o.must(200, "GET", "/api/v1/autoconfig?email=ann@acme.test", o.annToken, nil)
	if r.Body["sign_in"] != nil {
		t.Errorf("acme.test: %s", r.Raw)
	}
}
