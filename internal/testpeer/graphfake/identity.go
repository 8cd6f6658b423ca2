package graphfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// ConsumerTenant is the tenant id of personal Microsoft accounts, in an
// id_token's tid (reference §2.7).
const ConsumerTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// Lifetimes the fake gives out.
const (
	CodeLifetime   = 10 * time.Minute
	AccessLifetime = 3599 * time.Second
)

// User is an account that can sign in.
type User struct {
	Email    string
	Personal bool   // a personal Microsoft account (tid ConsumerTenant)
	OID      string // object id, stable
	Tenant   string // tenant id of a work or school account
}

// App is a registered client.
type App struct {
	ClientID, ClientSecret, RedirectURI string
}

type code struct {
	user                  *User
	clientID, redirectURI string
	challenge, method     string
	scopes                []string
	expires               time.Time
	used                  bool
}

type refresh struct {
	user     *User
	clientID string
	scopes   []string
	revoked  bool
}

type access struct {
	user    *User
	expires time.Time
}

// Identity is the fake identity platform. Fields are set before use or
// through its methods; all of it is safe for concurrent use.
type Identity struct {
	mu      sync.Mutex
	now     func() time.Time
	apps    map[string]App
	users   map[string]*User
	signIn  string // the user at the browser
	deny    bool
	failRef *tokenError // every refresh fails with it while set
	codes   map[string]*code
	refresh map[string]*refresh
	access  map[string]*access
	// Requests counts token requests by grant type.
	grants map[string]int
}

// NewIdentity returns an empty identity platform on the real clock.
func NewIdentity() *Identity {
	return &Identity{now: time.Now, apps: map[string]App{}, users: map[string]*User{},
		codes: map[string]*code{}, refresh: map[string]*refresh{}, access: map[string]*access{}, grants: map[string]int{}}
}

// SetClock sets the fake's clock (code and access token expiry).
func (id *Identity) SetClock(now func() time.Time) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.now = now
}

// AddApp registers a client.
func (id *Identity) AddApp(a App) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.apps[a.ClientID] = a
}

// AddUser adds an account and makes it the one signing in at the browser.
func (id *Identity) AddUser(u User) *User {
	id.mu.Lock()
	defer id.mu.Unlock()
	if u.OID == "" {
		u.OID = randomID()
	}
	if u.Tenant == "" && !u.Personal {
		u.Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	}
	p := &u
	id.users[strings.ToLower(u.Email)] = p
	id.signIn = strings.ToLower(u.Email)
	return p
}

// SignInAs makes email the user at the browser: authorize consents as them.
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

// Revoke revokes every refresh token of the user ("revoke all sessions").
func (id *Identity) Revoke(email string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	for _, r := range id.refresh {
		if strings.EqualFold(r.user.Email, email) {
			r.revoked = true
		}
	}
}

// FailRefresh makes every refresh fail with the AADSTS code given
// (70008, 700082, 50173, 65001: invalid_grant; 50076: interaction_required),
// until called with 0.
func (id *Identity) FailRefresh(aadsts int) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.failRef = nil
	if aadsts == 0 {
		return
	}
	e := &tokenError{Error: "invalid_grant", Code: aadsts, Description: "The refresh token is no longer valid."}
	if aadsts == 50076 {
		e.Error, e.Description = "interaction_required", "Due to a configuration change made by your administrator, you must use multi-factor authentication."
	}
	id.failRef = e
}

// Grants returns how many token requests of grant type g were served.
func (id *Identity) Grants(g string) int {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.grants[g]
}

// RefreshTokens returns the live refresh tokens of the user, for tests
// that look for them where they must not be.
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

// UserOf returns the user whose valid access token the request bears, for
// the Graph handlers.
func (id *Identity) UserOf(r *http.Request) (*User, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	a := id.access[tok]
	if a == nil || !id.now().Before(a.expires) {
		return nil, false
	}
	return a.user, true
}

// Register mounts the identity endpoints and Graph's /me on mux.
func (id *Identity) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", id.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", id.token)
	mux.HandleFunc("GET /v1.0/me", id.me)
}

// tenantAccepts reports whether the tenant segment lets u sign in (§2.1).
func tenantAccepts(tenant string, u *User) bool {
	switch tenant {
	case "common":
		return true
	case "organizations":
		return !u.Personal
	case "consumers":
		return u.Personal
	default:
		return !u.Personal && (tenant == u.Tenant || strings.Contains(tenant, "."))
	}
}

func (id *Identity) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id.mu.Lock()
	defer id.mu.Unlock()
	app, ok := id.apps[q.Get("client_id")]
	if !ok {
		http.Error(w, "AADSTS700016: Application not found in the directory.", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect != app.RedirectURI {
		// A mismatched redirect URI is never redirected to.
		http.Error(w, "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "AADSTS700054: response_type 'code' is expected.")
		return
	case q.Get("code_challenge") == "" || (q.Get("code_challenge_method") != "S256" && q.Get("code_challenge_method") != "plain"):
		fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required.")
		return
	}
	u := id.users[id.signIn]
	if u == nil {
		fail("access_denied", "AADSTS50126: Error validating credentials due to invalid username or password.")
		return
	}
	if !tenantAccepts(r.PathValue("tenant"), u) {
		fail("invalid_request", "AADSTS500208: The domain is not a valid login domain for the account type.")
		return
	}
	if id.deny {
		fail("access_denied", "AADSTS65004: User declined to consent to access the app.")
		return
	}
	c := randomID()
	id.codes[c] = &code{user: u, clientID: app.ClientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		method: q.Get("code_challenge_method"), scopes: strings.Fields(q.Get("scope")), expires: id.now().Add(CodeLifetime)}
	back(url.Values{"code": {c}})
}

// tokenError is the token endpoint's error body (§2.3).
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Code        int    `json:"-"`
	Codes       []int  `json:"error_codes"`
	Timestamp   string `json:"timestamp"`
	TraceID     string `json:"trace_id"`
	Correlation string `json:"correlation_id"`
	URI         string `json:"error_uri"`
}

func (id *Identity) fail(w http.ResponseWriter, status int, e tokenError) {
	e.Codes = []int{e.Code}
	e.Description = fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.Code, e.Description, randomID(), randomID(), id.now().UTC().Format("2006-01-02 15:04:05Z"))
	e.Timestamp = id.now().UTC().Format("2006-01-02 15:04:05Z")
	e.TraceID, e.Correlation = randomID(), randomID()
	e.URI = fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.Code)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

func (id *Identity) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
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
	if !ok {
		id.fail(w, http.StatusBadRequest, tokenError{Error: "unauthorized_client", Code: 700016, Description: "Application not found in the directory."})
		return
	}
	if secret != app.ClientSecret {
		id.fail(w, http.StatusUnauthorized, tokenError{Error: "invalid_client", Code: 7000215, Description: "Invalid client secret provided."})
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		c := id.codes[f.Get("code")]
		switch {
		case c == nil || c.clientID != clientID:
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 70000, Description: "The provided authorization code is invalid."})
		case c.used:
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 54005, Description: "OAuth2 Authorization code was already redeemed."})
		case !id.now().Before(c.expires):
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 70008, Description: "The provided authorization code has expired."})
		case f.Get("redirect_uri") != c.redirectURI:
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 50011, Description: "The redirect URI does not match the one of the authorization request."})
		case !pkceMatches(c.method, c.challenge, f.Get("code_verifier")):
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 501481, Description: "The Code_Verifier does not match the code_challenge supplied in the authorization request."})
		default:
			c.used = true
			id.issue(w, c.user, clientID, c.scopes)
		}
	case "refresh_token":
		rt := id.refresh[f.Get("refresh_token")]
		switch {
		case id.failRef != nil:
			id.fail(w, http.StatusBadRequest, *id.failRef)
		case rt == nil || rt.clientID != clientID:
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 9002313, Description: "Invalid request. Request is malformed or invalid."})
		case rt.revoked:
			id.fail(w, http.StatusBadRequest, tokenError{Error: "invalid_grant", Code: 50173, Description: "The provided grant has expired due to it being revoked, a fresh auth token is needed."})
		default:
			// Rotation: a new refresh token every time; the old one
			// keeps working until revoked (§2.4, §2.8).
			id.issue(w, rt.user, clientID, rt.scopes)
		}
	default:
		id.fail(w, http.StatusBadRequest, tokenError{Error: "unsupported_grant_type", Code: 70003, Description: "The app requested an unsupported grant type."})
	}
}

func pkceMatches(method, challenge, verifier string) bool {
	if verifier == "" {
		return false
	}
	if method == "plain" {
		return verifier == challenge
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}

// issue answers a token response, honouring offline_access (a refresh
// token) and openid (an id_token).
func (id *Identity) issue(w http.ResponseWriter, u *User, clientID string, scopes []string) {
	at := randomID()
	id.access[at] = &access{user: u, expires: id.now().Add(AccessLifetime)}
	out := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(AccessLifetime / time.Second),
		"ext_expires_in": int(AccessLifetime / time.Second), "scope": strings.Join(scopes, " ")}
	if slices.Contains(scopes, "offline_access") {
		rt := randomID()
		id.refresh[rt] = &refresh{user: u, clientID: clientID, scopes: scopes}
		out["refresh_token"] = rt
	}
	if slices.Contains(scopes, "openid") {
		out["id_token"] = idToken(u, clientID, id.now())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// idToken is an unsigned-looking JWT with the claims of §2.7.
func idToken(u *User, clientID string, now time.Time) string {
	tid := u.Tenant
	if u.Personal {
		tid = ConsumerTenant
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{"aud": clientID, "iss": "https://login.microsoftonline.com/" + tid + "/v2.0",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "tid": tid, "oid": u.OID, "sub": u.OID + clientID,
		"preferred_username": u.Email, "email": u.Email, "ver": "2.0"}
	return enc(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "fake"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("fake-signature"))
}

func (id *Identity) me(w http.ResponseWriter, r *http.Request) {
	u, ok := id.UserOf(r)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Access token is empty or invalid.","innerError":{}}}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"id": u.OID, "mail": u.Email, "userPrincipalName": u.Email, "displayName": u.Email})
}
