package googlefake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Lifetimes the identity fake gives out (Google's: codes are short-lived,
// access tokens last an hour).
const (
	CodeLifetime   = 10 * time.Minute
	AccessLifetime = 3599 * time.Second
	// MaxRefreshTokens is how many live refresh tokens one user may hold
	// per client; the next one issued invalidates the oldest (§3).
	MaxRefreshTokens = 100
)

// User is an account that can sign in.
type User struct {
	Email string
	Sub   string // stable subject id
	// HostedDomain is the Google Workspace domain (the hd claim); empty
	// for a consumer account.
	HostedDomain string
	// Unverified marks an address Google has not verified.
	Unverified bool
}

// App is a registered OAuth client.
type App struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
}

type grantKey struct{ user, client string }

type authCode struct {
	user                  *User
	clientID, redirectURI string
	challenge, method     string
	scopes                []string
	offline, consent      bool
	expires               time.Time
	used                  bool
}

type refreshToken struct {
	user     *User
	clientID string
	issued   time.Time
	seq      int
	revoked  bool
}

type accessToken struct {
	user    *User
	scopes  []string
	expires time.Time
}

// Identity is the fake of Google's OAuth 2.0 endpoints: authorize (the
// browser's side: the user at the browser consents or not), token (code
// and refresh grants) and OpenID userinfo. Safe for concurrent use.
type Identity struct {
	mu       sync.Mutex
	now      func() time.Time
	apps     map[string]App
	users    map[string]*User
	signIn   string // the user at the browser
	deny     bool
	blocked  map[string]bool       // Workspace domains whose policy refuses every app
	granted  map[grantKey][]string // scopes each user granted each client
	codes    map[string]*authCode
	refresh  map[string]*refreshToken
	access   map[string]*accessToken
	rtLife   time.Duration // 0: refresh tokens do not expire
	noIDTok  bool          // answer codes without an id_token
	seq      int
	grants   map[string]int
	lastAuth url.Values
}

// NewIdentity returns an empty fake on the real clock.
func NewIdentity() *Identity {
	return &Identity{now: time.Now, apps: map[string]App{}, users: map[string]*User{}, blocked: map[string]bool{},
		granted: map[grantKey][]string{}, codes: map[string]*authCode{}, refresh: map[string]*refreshToken{},
		access: map[string]*accessToken{}, grants: map[string]int{}}
}

// SetClock sets the clock of codes, tokens and their expiry.
func (id *Identity) SetClock(now func() time.Time) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.now = now
}

// AddApp registers (or replaces) a client.
func (id *Identity) AddApp(a App) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.apps[a.ClientID] = a
}

// AddUser adds an account and makes it the one at the browser.
func (id *Identity) AddUser(u User) *User {
	id.mu.Lock()
	defer id.mu.Unlock()
	if u.Sub == "" {
		u.Sub = randomDigits()
	}
	p := &u
	id.users[strings.ToLower(u.Email)] = p
	id.signIn = strings.ToLower(u.Email)
	return p
}

// SignInAs makes email the user at the browser.
func (id *Identity) SignInAs(email string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.signIn = strings.ToLower(email)
}

// DenyConsent makes the user at the browser refuse (or accept again).
func (id *Identity) DenyConsent(deny bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.deny = deny
}

// BlockDomain makes a Workspace domain's policy refuse every third-party
// app (or allow them again): authorize answers admin_policy_enforced, and
// its users' refresh tokens are refused with the same error.
func (id *Identity) BlockDomain(domain string, block bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.blocked[strings.ToLower(domain)] = block
}

// Revoke revokes the user's access to every client, as they do on their
// Google account's security page: refresh and access tokens stop working
// and the grant is forgotten (the next sign-in asks for consent again).
func (id *Identity) Revoke(email string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	for _, r := range id.refresh {
		if strings.EqualFold(r.user.Email, email) {
			r.revoked = true
		}
	}
	for t, a := range id.access {
		if strings.EqualFold(a.user.Email, email) {
			delete(id.access, t)
		}
	}
	for k := range id.granted {
		if strings.EqualFold(k.user, email) {
			delete(id.granted, k)
		}
	}
}

// SetRefreshLifetime makes refresh tokens expire d after they were issued
// (an app in "Testing" gets 7 days, §3); 0 for no expiry.
func (id *Identity) SetRefreshLifetime(d time.Duration) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.rtLife = d
}

// WithoutIDToken makes the token endpoint leave the id_token out (or put
// it back), so that a client must ask userinfo who signed in.
func (id *Identity) WithoutIDToken(without bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.noIDTok = without
}

// Grants returns how many token requests of grant type g were served.
func (id *Identity) Grants(g string) int {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.grants[g]
}

// LastAuthorize returns the query of the last authorize request.
func (id *Identity) LastAuthorize() url.Values {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.lastAuth
}

// RefreshTokens returns the user's live refresh tokens, for tests that
// look for them where they must not be.
func (id *Identity) RefreshTokens(email string) []string {
	id.mu.Lock()
	defer id.mu.Unlock()
	var out []string
	for t, r := range id.refresh {
		if strings.EqualFold(r.user.Email, email) && !r.revoked {
			out = append(out, t)
		}
	}
	return out
}

// Valid says whether an access token is live: plug it into API.CheckToken.
func (id *Identity) Valid(token string) bool {
	_, ok := id.userOf(token)
	return ok
}

func (id *Identity) userOf(token string) (*accessToken, bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	a := id.access[token]
	if a == nil || !id.now().Before(a.expires) {
		return nil, false
	}
	return a, true
}

// Register mounts the endpoints on mux at Google's paths: authorize at
// /o/oauth2/auth, token at /token, userinfo at /oauth2/v3/userinfo (under
// the APIs' root, as www.googleapis.com serves it).
func (id *Identity) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /o/oauth2/auth", id.authorize)
	mux.HandleFunc("POST /token", id.token)
	mux.HandleFunc("GET /oauth2/v3/userinfo", id.userinfo)
}

// authorize plays Google's consent screen for the user at the browser.
// Errors Google shows on its own page (an unknown client, a redirect URI
// not registered) are a 400 page, never a redirect.
func (id *Identity) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id.mu.Lock()
	defer id.mu.Unlock()
	id.lastAuth = q
	app, ok := id.apps[q.Get("client_id")]
	if !ok {
		http.Error(w, "Error 401: invalid_client. The OAuth client was not found.", http.StatusUnauthorized)
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(app.RedirectURIs, redirect) {
		http.Error(w, "Error 400: redirect_uri_mismatch", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "Unsupported response type.")
		return
	case len(scopes) == 0:
		fail("invalid_request", "Missing required parameter: scope")
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		// Google accepts plain; crmsync must send S256 (§2.2 applies).
		fail("invalid_request", "code_challenge_method S256 with a code_challenge is required by this fake.")
		return
	}
	for _, s := range scopes {
		if !knownScope(s) {
			fail("invalid_scope", "Some requested scopes were invalid. {invalid="+s+"}")
			return
		}
	}
	u := id.users[id.signIn]
	if u == nil || id.deny {
		fail("access_denied", "The user denied access.")
		return
	}
	if u.HostedDomain != "" && id.blocked[strings.ToLower(u.HostedDomain)] {
		fail("admin_policy_enforced", "The Google Account is unable to authorize one or more scopes requested due to the policies of their Google Workspace administrator.")
		return
	}
	key := grantKey{strings.ToLower(u.Email), app.ClientID}
	if q.Get("include_granted_scopes") == "true" {
		for _, s := range id.granted[key] {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	// A refresh token is issued when offline access is asked for and the
	// user consents: always with prompt=consent, otherwise only when the
	// user has no grant yet (§3).
	_, hadGrant := id.granted[key]
	consent := slices.Contains(strings.Fields(q.Get("prompt")), "consent") || !hadGrant
	id.granted[key] = union(id.granted[key], scopes)
	c := randomToken("4/0A")
	id.codes[c] = &authCode{user: u, clientID: app.ClientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		method: q.Get("code_challenge_method"), scopes: scopes, offline: q.Get("access_type") == "offline",
		consent: consent, expires: id.now().Add(CodeLifetime)}
	back(url.Values{"code": {c}, "scope": {strings.Join(scopes, " ")}})
}

func knownScope(s string) bool {
	switch s {
	case "openid", "email", "profile":
		return true
	}
	return strings.HasPrefix(s, "https://www.googleapis.com/auth/")
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// tokenFail writes the token endpoint's error body (RFC 6749 §5.2).
func tokenFail(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (id *Identity) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenFail(w, http.StatusBadRequest, "invalid_request", "Could not read the request body.")
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	id.grants[f.Get("grant_type")]++
	app, ok := id.apps[clientID]
	switch {
	case !ok:
		tokenFail(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	case secret != app.ClientSecret:
		tokenFail(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	now := id.now()
	switch f.Get("grant_type") {
	case "authorization_code":
		c := id.codes[f.Get("code")]
		switch {
		case c == nil || c.clientID != clientID:
			tokenFail(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		case c.used:
			tokenFail(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
		case !now.Before(c.expires):
			tokenFail(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
		case f.Get("redirect_uri") != c.redirectURI:
			tokenFail(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		case !pkceMatches(c.challenge, f.Get("code_verifier")):
			tokenFail(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
		default:
			c.used = true
			out := id.issue(c.user, c.scopes)
			if c.offline && c.consent {
				out["refresh_token"] = id.newRefresh(c.user, clientID)
			}
			if slices.Contains(c.scopes, "openid") && !id.noIDTok {
				out["id_token"] = idToken(c.user, clientID, c.scopes, now)
			}
			writeToken(w, out)
		}
	case "refresh_token":
		rt := id.refresh[f.Get("refresh_token")]
		switch {
		case rt == nil || rt.clientID != clientID || rt.revoked || (id.rtLife > 0 && !now.Before(rt.issued.Add(id.rtLife))):
			tokenFail(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		case rt.user.HostedDomain != "" && id.blocked[strings.ToLower(rt.user.HostedDomain)]:
			tokenFail(w, http.StatusBadRequest, "admin_policy_enforced", "The Google Account is unable to authorize one or more scopes requested due to the policies of their Google Workspace administrator.")
		default:
			// No new refresh token: the one sent stays the one (§3).
			out := id.issue(rt.user, id.granted[grantKey{strings.ToLower(rt.user.Email), clientID}])
			writeToken(w, out)
		}
	default:
		tokenFail(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+f.Get("grant_type"))
	}
}

func pkceMatches(challenge, verifier string) bool {
	if verifier == "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}

// newRefresh issues a refresh token, invalidating the user's oldest for
// the client past MaxRefreshTokens.
func (id *Identity) newRefresh(u *User, clientID string) string {
	id.seq++
	t := randomToken("1//0")
	id.refresh[t] = &refreshToken{user: u, clientID: clientID, issued: id.now(), seq: id.seq}
	var live []*refreshToken
	for _, r := range id.refresh {
		if r.user == u && r.clientID == clientID && !r.revoked {
			live = append(live, r)
		}
	}
	if len(live) > MaxRefreshTokens {
		oldest := slices.MinFunc(live, func(a, b *refreshToken) int { return a.seq - b.seq })
		oldest.revoked = true
	}
	return t
}

func (id *Identity) issue(u *User, scopes []string) map[string]any {
	at := randomToken("ya29.")
	id.access[at] = &accessToken{user: u, scopes: scopes, expires: id.now().Add(AccessLifetime)}
	return map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(AccessLifetime / time.Second),
		"scope": strings.Join(scopes, " ")}
}

func writeToken(w http.ResponseWriter, out map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// claims are the OpenID claims of the user, as the id_token and userinfo
// carry them (email only with the email scope).
func claims(u *User, scopes []string) map[string]any {
	c := map[string]any{"sub": u.Sub}
	if slices.Contains(scopes, "email") {
		c["email"], c["email_verified"] = u.Email, !u.Unverified
	}
	if u.HostedDomain != "" {
		c["hd"] = u.HostedDomain
	}
	return c
}

// idToken is a JWT with Google's claims; its signature is not a real one
// (a client reading it from the token endpoint need not check it).
func idToken(u *User, clientID string, scopes []string, now time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	c := claims(u, scopes)
	c["iss"], c["aud"], c["azp"], c["iat"], c["exp"] = "https://accounts.google.com", clientID, clientID, now.Unix(), now.Add(time.Hour).Unix()
	return enc(map[string]string{"alg": "RS256", "kid": "fake", "typ": "JWT"}) + "." + enc(c) + "." + base64.RawURLEncoding.EncodeToString([]byte("fake-signature"))
}

func (id *Identity) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, ok := id.userOf(tok)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		tokenFail(w, http.StatusUnauthorized, "invalid_token", "Invalid Credentials")
		return
	}
	JSON(w, claims(a.user, a.scopes))
}

func randomToken(prefix string) string { return prefix + rand.Text() }

func randomDigits() string {
	b := []byte(rand.Text())
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return "1" + string(b[:20])
}
