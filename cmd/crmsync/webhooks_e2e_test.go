package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/webhooks"
)

// TestWebhooksE2E runs the binary with a receiver on this machine (allowed
// with --private-hosts): a message forwarded to a dropbox is stored, and
// its message.stored event arrives signed, with its event id, and shows
// as delivered in the endpoint's log.
func TestWebhooksE2E(t *testing.T) {
	t.Parallel()
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, token := mailDB(t, kind)
			var mu sync.Mutex
			var got []*http.Request
			var bodies [][]byte
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got, bodies = append(got, r), append(bodies, b)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(rc.Close)
			dropbox := freeLoopback(t)
			srv := e.start(listeningRe, "serve", "--http", "127.0.0.1:0", "--smtp", dropbox, "--dropbox-domain", "in.crm.test", "--private-hosts", "127.0.0.0/8")
			deadline := time.Now().Add(15 * time.Second)
			for {
				if resp, err := http.Get("http://" + srv.addr + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("/healthz never answered 200:\n%s", srv.stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}

			hook := srv.mustCall(201, "POST", "/api/v1/webhooks", token, map[string]any{"url": rc.URL + "/crm", "events": []string{"message.stored"}})
			secret, _ := hook["secret"].(string)
			id := int64(hook["id"].(float64))
			if code, _ := srv.call("POST", "/api/v1/webhooks", token, map[string]any{"url": "http://10.9.8.7/", "events": []string{"message.stored"}}); code != 422 {
				t.Fatalf("a private address outside --private-hosts: %d, want 422", code)
			}
			acct := srv.mustCall(201, "POST", "/api/v1/mail-accounts", token, map[string]any{"email": "admin@acme.example", "mode": "forward"})
			addr, _ := acct["dropbox_address"].(string)
			tag := fmt.Sprintf("hook%d", time.Now().UnixNano())
			raw := "From: admin@acme.example\r\nTo: " + addr + "\r\nSubject: Fwd: order " + tag + "\r\nMessage-ID: <" + tag + "@crmsync.test>\r\n" +
				"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\n---------- Forwarded message ---------\r\nFrom: Carol <carol@client.test>\r\n" +
				"Date: Mon, 1 Jan 2030 08:00:00 +0000\r\nSubject: order " + tag + "\r\nTo: admin@acme.example\r\n\r\nThe order.\r\n"
			if err := smtp.SendMail(dropbox, nil, "admin@acme.example", []string{addr}, []byte(raw)); err != nil {
				t.Fatalf("forwarding to the dropbox: %v", err)
			}

			deadline = time.Now().Add(30 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no webhook within 30 s:\n%s", tailString(srv.stderr.String(), 8<<10))
				}
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			r, body := got[0], bodies[0]
			mu.Unlock()
			if err := webhooks.Verify([]byte(secret), r.Header.Get("Crmsync-Signature"), body, time.Now(), 5*time.Minute); err != nil {
				t.Fatalf("signature: %v", err)
			}
			var ev struct {
				ID   string         `json:"id"`
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != "message.stored" || ev.ID != r.Header.Get("Crmsync-Event-Id") || !strings.Contains(fmt.Sprint(ev.Data["subject"]), tag) || r.URL.Path != "/crm" {
				t.Fatalf("event %+v, headers %v", ev, r.Header)
			}
			deadline = time.Now().Add(10 * time.Second)
			for {
				log := srv.mustCall(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), token, nil)["data"].([]any)
				if len(log) == 1 && log[0].(map[string]any)["state"] == "delivered" && log[0].(map[string]any)["event_id"] == ev.ID {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("delivery log: %v", log)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
