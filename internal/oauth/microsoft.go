package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Microsoft defaults (reference §2.1).
const (
	MicrosoftLoginURL = "https://login.microsoftonline.com"
	MicrosoftGraphURL = "https://graph.microsoft.com"
	MicrosoftTenant   = "organizations"
	// consumerTenant is the tid of personal Microsoft accounts (§2.7).
	consumerTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// Microsoft is the Microsoft identity platform (v2 endpoints) with Graph.
type Microsoft struct{}

func (Microsoft) Name() string    { return "microsoft" }
func (Microsoft) Display() string { return "Microsoft" }

func (Microsoft) Defaults(a *App) {
	if a.Tenant == "" {
		a.Tenant = MicrosoftTenant
	}
	if a.LoginURL == "" {
		a.LoginURL = MicrosoftLoginURL
	}
	if a.GraphURL == "" {
		a.GraphURL = MicrosoftGraphURL
	}
}

func (Microsoft) Endpoint(a App) oauth2.Endpoint {
	base := strings.TrimSuffix(a.LoginURL, "/") + "/" + a.Tenant + "/oauth2/v2.0/"
	// Microsoft documents the secret in the body; saying so spares
	// x/oauth2's probing of both styles.
	return oauth2.Endpoint{AuthURL: base + "authorize", TokenURL: base + "token", AuthStyle: oauth2.AuthStyleInParams}
}

// microsoftScopes are the Graph scopes per service (§2.5).
var microsoftScopes = map[string][]string{
	"mail":     {"Mail.ReadWrite", "Mail.Send"},
	"contacts": {"Contacts.ReadWrite", "MailboxSettings.ReadWrite"},
	"calendar": {"Calendars.ReadWrite"},
	"tasks":    {"Tasks.ReadWrite"},
}

func (Microsoft) Scopes(services []string) ([]string, error) {
	out := []string{"offline_access", "openid", "email", "profile", "User.Read"}
	for _, s := range services {
		sc, ok := microsoftScopes[s]
		if !ok {
			return nil, fmt.Errorf("%q is not a service: use mail, contacts, calendar or tasks", s)
		}
		for _, x := range sc {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// Identify takes the account's kind from the id_token's tid (decided by
// tid, not by the address's domain, §2.7) and its address from Graph's
// /me (mail, else userPrincipalName). The id_token came straight from the
// token endpoint over the connection crmsync opened, so its signature
// needs no check (OpenID Connect Core §3.1.3.7).
func (m Microsoft) Identify(ctx context.Context, c *http.Client, a App, tok *oauth2.Token) (Identity, error) {
	var id Identity
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		claims, err := jwtClaims(raw)
		if err != nil {
			return id, connerr.New(connerr.Protocol, "Microsoft's sign-in answer could not be read; try again.", err)
		}
		id.Personal = claims.TID == consumerTenant
		id.Email = claims.Email
		if id.Email == "" {
			id.Email = claims.PreferredUsername
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.GraphURL, "/")+"/v1.0/me", nil)
	if err != nil {
		return id, err
	}
	tok.SetAuthHeader(req)
	resp, err := c.Do(req)
	if err != nil {
		return id, transportError(err, req.URL.Host, "Microsoft Graph did not answer; try again in a moment.")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return id, connerr.New(connerr.Protocol, "Microsoft Graph did not say who signed in; try again.", fmt.Errorf("me: status %d", resp.StatusCode))
	}
	var me struct {
		Mail              string `json:"mail"`
		UserPrincipalName string `json:"userPrincipalName"`
	}
	if err := json.Unmarshal(body, &me); err != nil {
		return id, connerr.New(connerr.Protocol, "Microsoft Graph's answer could not be read; try again.", err)
	}
	if me.Mail != "" {
		id.Email = me.Mail
	} else if me.UserPrincipalName != "" {
		id.Email = me.UserPrincipalName
	}
	if id.Email == "" {
		return id, connerr.New(connerr.Protocol, "Microsoft did not say which address signed in; try again.", errors.New("me: no address"))
	}
	id.Email = strings.ToLower(id.Email)
	return id, nil
}

type idClaims struct {
	TID               string `json:"tid"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
}

func jwtClaims(raw string) (idClaims, error) {
	var c idClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return c, errors.New("id_token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// WrongAccountKind: AADSTS50020 and 500208 say the account's kind is not
// allowed at this tenant (§2.6).
func (Microsoft) WrongAccountKind(code, description string) bool {
	m := aadsts.FindStringSubmatch(description)
	return m != nil && (m[1] == "50020" || m[1] == "500208")
}

const signInAgain = "Sign in to Microsoft again to reconnect"

// Classify maps the token endpoint's error (§2.3, §2.6) to the taxonomy:
// what a new sign-in cures is auth_failed, with words saying so; what the
// admin must fix (the app's secret, its registration, a policy) is
// provider_blocked; throttling is throttled.
func (Microsoft) Classify(err error, server string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return transportError(err, server, "Microsoft's sign-in service did not answer; crmsync tries again later.")
	}
	codes := aadstsCodes(re)
	has := func(cs ...int) bool {
		return slices.ContainsFunc(cs, func(c int) bool { return slices.Contains(codes, c) })
	}
	e := &connerr.Error{Server: server, Err: fmt.Errorf("token endpoint: %s %v", re.ErrorCode, codes)}
	switch {
	case has(7000215, 7000222):
		e.Kind, e.Message = connerr.Blocked, "The organisation's Microsoft app secret is wrong or has expired: an admin must enter a current one in the organisation's settings."
	case has(700016) || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
		e.Kind, e.Message = connerr.Blocked, "Microsoft does not know the organisation's app: an admin must check its client id and tenant in the organisation's settings."
	case has(53003, 530032):
		e.Kind, e.Message = connerr.Blocked, "A Microsoft policy of your organisation blocks this sign-in: ask your Microsoft administrator."
	case has(50020, 500208, 9002332, 90124, 90130, 50194):
		e.Kind, e.Message = connerr.Blocked, "This kind of Microsoft account cannot sign in with the organisation's app: use your work or school account, or ask an admin to check the app's tenant."
	case has(50196, 90055) || re.ErrorCode == "temporarily_unavailable" || re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests:
		e.Kind, e.Message = connerr.Throttled, "Microsoft's sign-in service asked crmsync to slow down; it tries again later."
	case has(65001):
		e.Kind, e.Message = connerr.Auth, signInAgain+" and accept what crmsync asks for: the consent was withdrawn."
	case has(50076, 50079, 50078) || re.ErrorCode == "interaction_required":
		e.Kind, e.Message = connerr.Auth, signInAgain+": Microsoft asks for multi-factor authentication."
	case re.ErrorCode == "invalid_grant" || has(70008, 700082, 50173, 70043, 700084, 70000, 54005):
		e.Kind, e.Message = connerr.Auth, signInAgain+": the sign-in has expired or was revoked."
	case re.Response != nil && re.Response.StatusCode >= 500:
		e.Kind, e.Message = connerr.Unreachable, "Microsoft's sign-in service is failing; crmsync tries again later."
	default:
		e.Kind, e.Message = connerr.Protocol, "Microsoft's sign-in service refused the request; try again, and tell an admin if it goes on."
	}
	return e
}

// aadstsCodes reads error_codes from the body (x/oauth2 does not parse
// it), or the AADSTS number in the description.
func aadstsCodes(re *oauth2.RetrieveError) []int {
	var body struct {
		Codes []int `json:"error_codes"`
	}
	if json.Unmarshal(re.Body, &body) == nil && len(body.Codes) > 0 {
		return body.Codes
	}
	var out []int
	for _, m := range aadsts.FindAllStringSubmatch(re.ErrorDescription, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			out = append(out, n)
		}
	}
	return out
}
