package main

// End-to-end PIM test: the real binary syncing an address book on a real
// Radicale (internal/testpeer/radicale), on SQLite and PostgreSQL, driven
// through the API only.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

func TestEndToEndPIM(t *testing.T) {
	srv := radicale.Start(t, nil)
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			user, pass := srv.User(2)
			name := "book-" + kind
			book := srv.CreateAddressBook(t, user, name, "Work contacts")
			srv.Put(t, user, book+"grace.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:grace\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"+
				"EMAIL:grace@navy.example\r\nORG:US Navy\r\nEND:VCARD\r\n")
			e, token := mailDB(t, kind)
			p := e.serve()
			defer p.stop()
			p.mustCall(http.StatusCreated, "POST", "/api/v1/contacts", token, map[string]any{
				"first_name": "Ada", "last_name": "Lovelace", "emails": []string{"ada@analytical.example"}, "title": "Countess"})

			// A wrong password is refused before anything is saved.
			code, out := p.call("POST", "/api/v1/pim-accounts", token, map[string]any{"kind": "carddav", "url": srv.URL(), "username": user, "password": "wrong"})
			if code != http.StatusUnprocessableEntity || out["error"].(map[string]any)["code"] != "auth_failed" {
				t.Fatalf("wrong password: %d %v", code, out)
			}
			acct := p.mustCall(http.StatusCreated, "POST", "/api/v1/pim-accounts", token, map[string]any{
				"kind": "carddav", "url": srv.URL(), "username": user, "password": pass,
				"options": map[string]any{"collection": book}})
			path := fmt.Sprintf("/api/v1/pim-accounts/%d", int64(acct["id"].(float64)))
			view := waitPIM(t, p, path, token, func(v map[string]any) bool {
				c, _ := v["counts"].(map[string]any)
				return v["state"] == "synced" && c != nil && c["contacts"] == float64(2)
			})
			if h, _ := view["history"].([]any); len(h) == 0 {
				t.Errorf("no history after the first sync: %v", view)
			}
			contacts := p.mustCall(http.StatusOK, "GET", "/api/v1/contacts?q=Grace", token, nil)
			if d, _ := contacts["data"].([]any); len(d) != 1 {
				t.Fatalf("Grace not imported: %v", contacts)
			}
			// A new CRM contact reaches the server at once (the API wakes the
			// loop; its poll is a minute away).
			p.mustCall(http.StatusCreated, "POST", "/api/v1/contacts", token, map[string]any{
				"first_name": "Alan", "last_name": "Turing", "emails": []string{"alan@bletchley.example"}})
			waitPIM(t, p, path, token, func(v map[string]any) bool {
				c, _ := v["counts"].(map[string]any)
				return c != nil && c["contacts"] == float64(3)
			})
			// A change on the server comes in on "sync now".
			srv.Put(t, user, book+"alice.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice\r\nFN:Alice Ball\r\nN:Ball;Alice;;;\r\n"+
				"EMAIL:alice@hawaii.example\r\nEND:VCARD\r\n")
			p.mustCall(http.StatusAccepted, "POST", path+"/sync", token, nil)
			waitPIM(t, p, path, token, func(v map[string]any) bool {
				c, _ := v["counts"].(map[string]any)
				return c != nil && c["contacts"] == float64(4)
			})
			listing := srv.Request(t, user, "PROPFIND", book, http.Header{"Depth": {"1"}}, "")
			if n := strings.Count(string(listing.Body), ".vcf</"); n != 4 {
				t.Errorf("the server holds %d vCards, want 4:\n%s", n, listing.Body)
			}
		})
	}
}

// waitPIM polls a PIM account's view until ok, for up to 40 s: less than
// the loop's poll interval plus a pass, so that what it waits for must
// come from a wake-up.
func waitPIM(t *testing.T, p *process, path, token string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		v := p.mustCall(http.StatusOK, "GET", path, token, nil)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("PIM account never reached the expected state: %v\n%s", v, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
