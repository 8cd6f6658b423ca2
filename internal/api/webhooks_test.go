package api_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// withWebhooks gives the bundle's server the webhooks service, with a
// guard that allows this machine (as --private-hosts 127.0.0.0/8 would).
func withWebhooks(t *testing.T, b *bundle) {
	t.Helper()
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b.srv = api.New(api.Config{Store: b.st, Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), Now: b.clock.Now,
		Webhooks: &webhooks.Service{Store: b.st, Keys: kr, Guard: netguard.MustParse("127.0.0.0/8")}})
}

func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		if r := b.do("GET", "/api/v1/webhooks", b.token, nil); r.Status != 503 {
			t.Fatalf("without the service: %d", r.Status)
		}
		withWebhooks(t, b)

		r := b.must(201, "POST", "/api/v1/webhooks", b.token, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"message.stored", "account.state_changed", "message.stored"}, "description": "CRM"})
		id := r.ID()
		secret := r.Str("secret")
		if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
			t.Fatalf("created = %s", r.Raw)
		}
		if ev := r.Body["events"].([]any); len(ev) != 2 || ev[0] != "account.state_changed" || r.Body["active"] != true {
			t.Fatalf("created = %s", r.Raw)
		}
		got := b.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, nil)
		if strings.Contains(string(got.Raw), secret) || got.Body["secret"] != nil {
			t.Fatalf("the secret is shown again: %s", got.Raw)
		}
		list := b.must(200, "GET", "/api/v1/webhooks", b.token, nil)
		if len(list.List) != 1 || strings.Contains(string(list.Raw), secret) {
			t.Fatalf("list = %s", list.Raw)
		}
		// A secret the admin sets is not shown back.
		set := b.must(201, "POST", "/api/v1/webhooks", b.token, map[string]any{"url": "http://127.0.0.1:9/b", "events": []string{"task.synced"}, "secret": "a long enough shared secret"})
		if set.Body["secret"] != nil || strings.Contains(string(set.Raw), "shared secret") {
			t.Fatalf("an admin's secret is echoed: %s", set.Raw)
		}
		b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"url": "http://127.0.0.1:9/c", "events": []string{"task.synced"}, "secret": "short"}), 422, "invalid_value", "secret")
		b.must(204, "DELETE", fmt.Sprintf("/api/v1/webhooks/%d", set.ID()), b.token, nil)

		// Validation and SSRF.
		b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"events": []string{"message.stored"}}), 422, "required", "url")
		b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"url": "https://crm.example.com/", "events": []string{"message.deleted"}}), 422, "invalid_value", "events")
		b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"url": "https://crm.example.com/", "events": []string{}}), 422, "required", "events")
		for _, u := range []string{"http://10.1.2.3/hook", "https://192.168.0.1/", "https://[fd00::1]/", "http://169.254.169.254/latest/meta-data"} {
			b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"url": u, "events": []string{"message.stored"}}), 422, "not_allowed", "url")
		}
		b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, map[string]any{"url": "https://10.0.0.1/"}), 422, "not_allowed", "url")
		b.wantErr(b.do("POST", "/api/v1/webhooks", b.token, map[string]any{"url": "ftp://crm.example.com/", "events": []string{"message.stored"}}), 422, "invalid_value", "url")

		// Change; rotate the secret (shown once).
		up := b.must(200, "PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, map[string]any{"events": []string{"contact.synced"}, "active": false})
		if ev := up.Body["events"].([]any); len(ev) != 1 || ev[0] != "contact.synced" || up.Body["active"] != false || up.Body["description"] != "CRM" || up.Body["secret"] != nil {
			t.Fatalf("updated = %s", up.Raw)
		}
		rot := b.must(200, "PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, map[string]any{"rotate_secret": true})
		if s := rot.Str("secret"); s == "" || s == secret {
			t.Fatalf("rotated = %s", rot.Raw)
		}
		if dl := b.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), b.token, nil); len(dl.List) != 0 {
			t.Fatalf("deliveries = %s", dl.Raw)
		}
		b.wantErr(b.do("POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/999/retry", id), b.token, nil), 404, "not_found", "")

		// Admins only.
		_, member := b.user("m@acme.test", "member", 0)
		_, manager := b.user("boss@acme.test", "manager", 0)
		for _, tok := range []string{member, manager} {
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/api/v1/webhooks", nil},
				{"POST", "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"message.stored"}}},
				{"GET", fmt.Sprintf("/api/v1/webhooks/%d", id), nil},
				{"PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), map[string]any{"active": true}},
				{"DELETE", fmt.Sprintf("/api/v1/webhooks/%d", id), nil},
				{"GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), nil},
				{"POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/1/retry", id), nil},
			} {
				b.wantErr(b.do(c.method, c.path, tok, c.body), 403, "forbidden", "")
			}
		}

		// Another organisation's admin: not found.
		_, _, other := b.newOrg("Globex", "admin@globex.test")
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", fmt.Sprintf("/api/v1/webhooks/%d", id), nil},
			{"PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), map[string]any{"active": true}},
			{"DELETE", fmt.Sprintf("/api/v1/webhooks/%d", id), nil},
			{"GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), nil},
			{"POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/1/retry", id), nil},
		} {
			b.wantErr(b.do(c.method, c.path, other, c.body), 404, "not_found", "")
		}
		if l := b.must(200, "GET", "/api/v1/webhooks", other, nil); len(l.List) != 0 {
			t.Fatalf("another organisation lists %s", l.Raw)
		}
		b.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, nil)
		b.must(204, "DELETE", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, nil)
		b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/webhooks/%d", id), b.token, nil), 404, "not_found", "")
	})
}
