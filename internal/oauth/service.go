package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// StateLifetime is how long a sign-in may take between start and the
// provider's redirect back.
const StateLifetime = 10 * time.Minute

// DefaultPublicURL is where crmsync is reached when nothing else is said.
const DefaultPublicURL = "http://127.0.0.1:8080"

// Config is what a Service needs.
type Config struct {
	Store store.Store
	Keys  *secret.Keyring
	// HTTP is the client for every request to a provider. It must go
	// through the network guard (netguard.Guard.Transport).
	HTTP *http.Client
	// PublicURL is the base of the redirect address (default
	// DefaultPublicURL).
	PublicURL string
	// Now is the clock for states and token expiry (default time.Now).
	Now func() time.Time
	// Providers default to Microsoft and Google.
	Providers []Provider
}

// Service signs users in with providers and keeps their tokens.
type Service struct {
	st        store.Store
	keys      *secret.Keyring
	http      *http.Client
	publicURL string
	now       func() time.Time
	providers []Provider
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, keys: cfg.Keys, http: cfg.HTTP, publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		now: cfg.Now, providers: cfg.Providers}
	if s.publicURL == "" {
		s.publicURL = DefaultPublicURL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.providers == nil {
		s.providers = []Provider{Microsoft{}, Google{}}
	}
	if s.http == nil {
		panic("oauth: Config.HTTP is required (a client through the network guard)")
	}
	return s
}

// PublicURL is the base crmsync is reached at.
func (s *Service) PublicURL() string { return s.publicURL }

func (s *Service) provider(name string) (Provider, error) {
	for _, p := range s.providers {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, &Error{Code: CodeUnknownProvider, Message: "This server does not sign in with that provider."}
}

// Display is a provider's name for people ("Google"); the name itself
// for one this server does not sign in with.
func (s *Service) Display(provider string) string {
	if p, err := s.provider(provider); err == nil {
		return p.Display()
	}
	return provider
}

func (s *Service) redirectURI(p Provider) string {
	return s.publicURL + "/oauth/" + p.Name() + "/callback"
}

func (s *Service) config(p Provider, a App) *oauth2.Config {
	return &oauth2.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, Endpoint: p.Endpoint(a), RedirectURL: s.redirectURI(p)}
}

// clientContext makes x/oauth2 use the guarded client.
func (s *Service) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.http)
}

// StartRequest is a user's request to sign in.
type StartRequest struct {
	OrgID, UserID int64
	Provider      string
	Services      []string
	Mode          string
}

// Start records a single-use state for the user and returns the address
// to send their browser to.
func (s *Service) Start(ctx context.Context, r StartRequest) (string, error) {
	p, err := s.provider(r.Provider)
	if err != nil {
		return "", err
	}
	switch r.Mode {
	case "", "sync":
		r.Mode = "sync"
	default:
		return "", fieldError(CodeInvalid, "mode", "mode must be sync: signing in with %s syncs the mailbox (forwarding mode needs no sign-in).", p.Display())
	}
	if len(r.Services) == 0 {
		return "", fieldError(CodeRequired, "services", "services is required: one or more of mail, contacts, calendar and tasks.")
	}
	services := slices.Compact(slices.Sorted(slices.Values(r.Services)))
	scopes, err := p.Scopes(services)
	if err != nil {
		return "", fieldError(CodeInvalid, "services", "%s.", err.Error())
	}
	a, err := s.app(ctx, r.OrgID, p)
	if err != nil {
		return "", err
	}
	returning, err := s.signedIn(ctx, r.OrgID, r.UserID, p.Name(), "")
	if err != nil {
		return "", err
	}
	state := rand.Text()
	hash := stateHash(state)
	verifier := oauth2.GenerateVerifier()
	sealed, err := s.keys.Seal([]byte(verifier), stateAD(hash))
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := s.st.PutOAuthState(ctx, store.OAuthState{StateHash: hash, OrgID: r.OrgID, UserID: r.UserID, Provider: p.Name(),
		Services: services, Mode: r.Mode, Verifier: sealed, ExpiresAt: now.Add(StateLifetime)}, now); err != nil {
		return "", err
	}
	cfg := s.config(p, a)
	cfg.Scopes = scopes
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, p.AuthOptions(returning != "")...)
	return cfg.AuthCodeURL(state, opts...), nil
}

func stateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// stateAD binds a sealed verifier to its state.
func stateAD(hash string) []byte { return secret.CredentialAD("oauth_state:" + hash) }

// Result is a finished sign-in: who, for what, and the credential now
// holding the token set.
type Result struct {
	OrgID, UserID int64
	Provider      string
	Email         string
	Services      []string
	Mode          string
	CredentialID  string
}

// Finish handles the provider's redirect back (its query parameters): it
// takes the state (once), redeems the code with the PKCE verifier, finds
// who signed in, and stores the token set sealed. Refusals are *Error;
// failures talking to the provider are *connerr.Error.
func (s *Service) Finish(ctx context.Context, provider string, q url.Values) (*Result, error) {
	p, err := s.provider(provider)
	if err != nil {
		return nil, err
	}
	state := q.Get("state")
	if state == "" {
		return nil, errStateInvalid
	}
	st, err := s.st.TakeOAuthState(ctx, stateHash(state))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errStateInvalid
	}
	if err != nil {
		return nil, err
	}
	if st.Provider != p.Name() || !s.now().Before(st.ExpiresAt) {
		return nil, errStateInvalid
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if err := p.AuthorizeError(e, desc); err != nil {
			return nil, err
		}
		switch {
		case e == "access_denied":
			return nil, &Error{Code: CodeDenied, Message: fmt.Sprintf("%s sign-in was cancelled or access was not granted, so nothing was connected: start again and accept what crmsync asks for, or ask an admin if your organisation must approve the app first.", p.Display())}
		default:
			return nil, connerr.New(connerr.Protocol, fmt.Sprintf("%s could not complete the sign-in; start again, and tell an admin if it goes on.", p.Display()), fmt.Errorf("authorize: %s", e))
		}
	}
	code := q.Get("code")
	if code == "" {
		return nil, connerr.New(connerr.Protocol, fmt.Sprintf("%s sent no sign-in code back; start again.", p.Display()), errors.New("callback without code"))
	}
	a, err := s.app(ctx, st.OrgID, p)
	if err != nil {
		return nil, err
	}
	verifier, err := s.keys.Open(st.Verifier, stateAD(st.StateHash))
	if err != nil {
		return nil, fmt.Errorf("oauth: opening the sign-in's verifier: %w", err)
	}
	cfg := s.config(p, a)
	cctx := s.clientContext(ctx)
	tok, err := cfg.Exchange(cctx, code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		return nil, p.Classify(err, hostOf(cfg.Endpoint.TokenURL))
	}
	who, err := p.Identify(cctx, s.http, a, tok)
	if err != nil {
		return nil, err
	}
	set := s.tokenSet(tok, "")
	if set.RefreshToken == "" {
		// A provider that issues a refresh token only on the first
		// consent (Google, §3) gives none to a returning user: the
		// grant, and the refresh token crmsync holds for it, still
		// stand, now with the scopes added.
		if set.RefreshToken, err = s.heldRefreshToken(ctx, st.OrgID, st.UserID, p.Name(), who.Email); err != nil {
			return nil, err
		}
	}
	if set.RefreshToken == "" {
		return nil, connerr.New(connerr.Protocol, fmt.Sprintf("%s gave no lasting access; start again and accept what crmsync asks for.", p.Display()), errors.New("no refresh_token"))
	}
	credID := "oauth-" + strings.ToLower(rand.Text())
	if err := s.putTokenSet(ctx, st.OrgID, credID, set); err != nil {
		return nil, err
	}
	return &Result{OrgID: st.OrgID, UserID: st.UserID, Provider: p.Name(), Email: who.Email, Services: st.Services,
		Mode: st.Mode, CredentialID: credID}, nil
}

// signedIn returns the credential of the user's working sign-in with
// the provider (for the address email, any when ""): the token set of a
// connected mailbox not failing its sign-in. "" when there is none.
func (s *Service) signedIn(ctx context.Context, orgID, userID int64, provider, email string) (string, error) {
	v := crm.Viewer{OrgID: orgID, UserID: userID, Role: crm.RoleMember}
	f := store.MailAccountFilter{ListParams: store.ListParams{Q: email, Limit: store.MaxLimit}, UserID: &userID}
	for {
		page, err := s.st.ListMailAccounts(ctx, v, f)
		if err != nil {
			return "", err
		}
		for _, a := range page.Items {
			if a.Provider == provider && a.DisconnectedAt == nil && a.CredentialID != "" && a.State != crm.StateAuthFailed &&
				(email == "" || strings.EqualFold(a.Email, email)) {
				return a.CredentialID, nil
			}
		}
		if page.NextCursor == "" {
			return "", nil
		}
		f.Cursor = page.NextCursor
	}
}

// heldRefreshToken is the refresh token of the user's working sign-in
// for email, "" when there is none.
func (s *Service) heldRefreshToken(ctx context.Context, orgID, userID int64, provider, email string) (string, error) {
	credID, err := s.signedIn(ctx, orgID, userID, provider, email)
	if err != nil || credID == "" {
		return "", err
	}
	set, _, err := s.loadTokenSet(ctx, orgID, credID)
	if err != nil {
		return "", err
	}
	return set.RefreshToken, nil
}

func consumerRefused(p Provider) *Error {
	return &Error{Code: CodeConsumerAccount, Message: fmt.Sprintf("The organisation's %s app accepts only work or school accounts, and this is a personal account: connect this mailbox in forwarding mode instead, or ask an admin to allow personal accounts.", p.Display())}
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// DeleteTokens forgets a token set (a disconnected account, or a sign-in
// whose account could not be made).
func (s *Service) DeleteTokens(ctx context.Context, orgID int64, credentialID string) error {
	err := s.st.DeleteCredential(ctx, orgID, credentialID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
