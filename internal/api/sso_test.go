package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/testpeer/oidcpeer"
)

// The organisation's single sign-on through the API: admins only, the
// secret never shown, the issuer checked by discovery through the
// network guard.
func TestSSOConfigAPI(t *testing.T) {
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		peer := oidcpeer.Start(t, oidcpeer.Options{ClientID: "crmsync", ClientSecret: "sso-client-secret",
			RedirectURIs: []string{publicURL + sso.CallbackPath}})
		kr, err := secret.NewKeyring(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		svc := func(guard *netguard.Guard) *sso.Service {
			return sso.New(sso.Config{Store: b.st, Keys: kr, PublicURL: publicURL, HTTP: &http.Client{Transport: guard.Transport(nil)}})
		}
		// Without the service: 503 (for admins).
		b.wantErr(b.do("GET", "/api/v1/org/sso", b.token, nil), 503, "unavailable", "")
		b.srv = api.New(api.Config{Store: b.st, Now: b.clock.Now, SSO: svc(netguard.MustParse(""))})
		_, member := b.user("ann@acme.test", "member", 0)
		body := map[string]any{"name": "Acme ID", "issuer": peer.Issuer, "client_id": "crmsync", "client_secret": "sso-client-secret"}
		// Loopback is the operator's to allow.
		b.wantErr(b.do("PUT", "/api/v1/org/sso", b.token, body), 422, "destination_not_allowed", "")

		b.srv = api.New(api.Config{Store: b.st, Now: b.clock.Now, SSO: svc(netguard.MustParse("127.0.0.0/8"))})
		b.wantErr(b.do("GET", "/api/v1/org/sso", b.token, nil), 404, "sso_not_configured", "")
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			b.wantErr(b.do(m, "/api/v1/org/sso", member, body), 403, "forbidden", "")
		}
		b.wantErr(b.do("PUT", "/api/v1/org/sso", b.token, map[string]any{"issuer": peer.Issuer, "client_id": "crmsync"}), 422, "required", "client_secret")
		b.wantErr(b.do("PUT", "/api/v1/org/sso", b.token, map[string]any{"issuer": "http://idp.example.com", "client_id": "c", "client_secret": "s"}), 422, "invalid_value", "issuer")
		b.wantErr(b.do("PUT", "/api/v1/org/sso", b.token, map[string]any{"issuer": peer.Issuer + "/nope", "client_id": "c", "client_secret": "s"}), 422, "sso_discovery_failed", "issuer")
		b.wantErr(b.do("PUT", "/api/v1/org/sso", b.token, map[string]any{"issuer": peer.Issuer, "client_id": "c", "client_secret": "s", "extra": 1}), 400, "unknown_field", "extra")

		r := b.must(200, "PUT", "/api/v1/org/sso", b.token, body)
		if r.Str("name") != "Acme ID" || r.Str("issuer") != peer.Issuer || r.Str("redirect_uri") != publicURL+"/sso/callback" {
			t.Fatalf("put: %s", r.Raw)
		}
		r = b.must(200, "GET", "/api/v1/org/sso", b.token, nil)
		if r.Str("client_id") != "crmsync" || strings.Contains(string(r.Raw), "sso-client-secret") || strings.Contains(string(r.Raw), "client_secret") {
			t.Fatalf("get: %s", r.Raw)
		}
		// Another organisation's admin sees none of it.
		_, _, otherAdmin := b.newOrg("Other", "admin@other.test")
		b.wantErr(b.do("GET", "/api/v1/org/sso", otherAdmin, nil), 404, "sso_not_configured", "")
		b.wantErr(b.do("DELETE", "/api/v1/org/sso", otherAdmin, nil), 404, "sso_not_configured", "")

		b.must(204, "DELETE", "/api/v1/org/sso", b.token, nil)
		b.wantErr(b.do("GET", "/api/v1/org/sso", b.token, nil), 404, "sso_not_configured", "")
	})
}
