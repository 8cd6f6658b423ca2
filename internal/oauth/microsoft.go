package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

func (Microsoft) Settings() [3]Setting {
	return [3]Setting{
		{"tenant", func(a *App) *string { return &a.Tenant }},
		{"login_url", func(a *App) *string { return &a.LoginURL }},
		{"graph_url", func(a *App) *string { return &a.GraphURL }},
	}
}

var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$`)

func (m Microsoft) Check(a *App) error {
	if !tenantPattern.MatchString(a.Tenant) {
		return fieldError(CodeInvalid, "tenant", "tenant must be organizations, common, consumers, a tenant id or a tenant's domain.")
	}
	ss := m.Settings()
	return urlSettings(a, ss[1:]...)
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
	return scopesFor([]string{"offline_access", "openid", "email", "profile", "User.Read"}, microsoftScopes, services)
}

// AuthOptions: offline_access among the scopes is what brings a refresh
// token, on every sign-in (§2.2).
func (Microsoft) AuthOptions(bool) []oauth2.AuthCodeOption { return nil }

// Identify takes the account's kind from the id_token's tid (decided by
// tid, not by the address's domain, §2.7) and its address from Graph's
// /me (mail, else userPrincipalName). A personal account is refused when
// the app's tenant is organizations.
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
	var me struct {
		Mail              string `json:"mail"`
		UserPrincipalName string `json:"userPrincipalName"`
	}
	status, err := getJSON(ctx, c, strings.TrimSuffix(a.GraphURL, "/")+"/v1.0/me", tok, "Microsoft Graph", &me)
	if err != nil {
		return id, err
	}
	if status != http.StatusOK {
		return id, connerr.New(connerr.Protocol, "Microsoft Graph did not say who signed in; try again.", fmt.Errorf("me: status %d", status))
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
	if id.Personal && a.Tenant == MicrosoftTenant {
		return id, consumerRefused(m)
	}
	return id, nil
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// AuthorizeError: AADSTS50020 and 500208 say the account's kind is not
// allowed at this tenant (§2.6).
func (m Microsoft) AuthorizeError(code, description string) error {
	if x := aadsts.FindStringSubmatch(description); x != nil && (x[1] == "50020" || x[1] == "500208") {
		return consumerRefused(m)
	}
	return nil
}

const signInAgain = "Sign in to Microsoft again to reconnect"

// Classify maps the token endpoint's error (§2.3, §2.6) to the taxonomy:
// what a new sign-in cures is auth_failed, with words saying so; what the
// admin must fix (the app's secret, its registration, a policy) is
// provider_blocked; throttling is throttled.
func (Microsoft) Classify(err error, server string) error {
	return classifyToken(err, server, "Microsoft", func(re *oauth2.RetrieveError) (connerr.Kind, string) {
		codes := aadstsCodes(re)
		has := func(cs ...int) bool {
			return slices.ContainsFunc(cs, func(c int) bool { return slices.Contains(codes, c) })
		}
		switch {
		case has(7000215, 7000222):
			return connerr.Blocked, "The organisation's Microsoft app secret is wrong or has expired: an admin must enter a current one in the organisation's settings."
		case has(700016) || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
			return connerr.Blocked, "Microsoft does not know the organisation's app: an admin must check its client id and tenant in the organisation's settings."
		case has(53003, 530032):
			return connerr.Blocked, "A Microsoft policy of your organisation blocks this sign-in: ask your Microsoft administrator."
		case has(50020, 500208, 9002332, 90124, 90130, 50194):
			return connerr.Blocked, "This kind of Microsoft account cannot sign in with the organisation's app: use your work or school account, or ask an admin to check the app's tenant."
		case has(50196, 90055):
			return connerr.Throttled, ""
		case has(65001):
			return connerr.Auth, signInAgain + " and accept what crmsync asks for: the consent was withdrawn."
		case has(50076, 50079, 50078) || re.ErrorCode == "interaction_required":
			return connerr.Auth, signInAgain + ": Microsoft asks for multi-factor authentication."
		case re.ErrorCode == "invalid_grant" || has(70008, 700082, 50173, 70043, 700084, 70000, 54005):
			return connerr.Auth, signInAgain + ": the sign-in has expired or was revoked."
		}
		return "", ""
	})
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
