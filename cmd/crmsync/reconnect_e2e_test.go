package main

import (
	"fmt"
	"net"
	"net/smtp"
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/mailgen"
)

// TestReconnectModeSwitchE2E is issue 13 point 4 against real servers, on
// both databases: the binary syncing Dovecot, sending through an SMTP
// server that checks its own password, and receiving forwarded mail on its
// dropbox. A mailbox is disconnected and reconnected with only its
// password (servers kept, it sends once, with SMTP's own password), then
// switched to forwarding, given a forwarded message, and switched back:
// every message keeps its id and its manual link, nothing is doubled.
func TestReconnectModeSwitchE2E(t *testing.T) {
	t.Parallel()
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const n = 20
			e, token := mailDB(t, kind)
			dc := dovecot.Start(t, nil)
			user, pass := dc.User(1)
			email := "admin@acme.example" // the profile's address: the one mail is sent from
			dc.BulkLoad(t, user, "INBOX", (&mailgen.Generator{Seed: mailSeed}).Generate(n))
			out := smtptest.Start(t, &smtptest.Options{User: "ann.smtp", Password: "smtp-own-secret"})
			dropbox := freeLoopback(t)
			srv := e.serveMail(caFile(t, dc), "--smtp", dropbox, "--dropbox-domain", "in.crm.test")

			// SMTP with a password of its own: the wrong one is refused
			// before anything is saved, the right one connects.
			body := mailAccountBody(dc, user, pass)
			body["email"] = email
			body["smtp"] = map[string]any{"host": out.Host, "port": out.Port, "security": "none", "username": "ann.smtp", "password": "not-the-smtp-secret"}
			if code, resp := srv.call("POST", "/api/v1/mail-accounts", token, body); code != 422 {
				t.Fatalf("wrong SMTP password: %d %v, want 422", code, resp)
			}
			body["smtp"].(map[string]any)["password"] = "smtp-own-secret"
			code, acct := srv.call("POST", "/api/v1/mail-accounts", token, body)
			if code != 201 {
				t.Fatalf("connect: %d %v", code, acct)
			}
			id := int64(acct["id"].(float64))
			path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
			waitSynced(t, srv, token, id, 45*time.Second)
			before := listMessages(t, srv, token, id)
			if len(before) != n {
				t.Fatalf("%d messages synced, want %d", len(before), n)
			}
			first := int64(before[0]["id"].(float64))
			co := int64(srv.mustCall(201, "POST", "/api/v1/companies", token, map[string]any{"name": "Globex"})["id"].(float64))
			srv.mustCall(201, "POST", fmt.Sprintf("/api/v1/messages/%d/links", first), token, map[string]any{"type": "company", "id": co})

			// Disconnected, then reconnected with only the password: the
			// same account, its servers kept, able to send.
			srv.mustCall(200, "DELETE", path+"?confirm_data_loss=true", token, nil)
			acct = srv.mustCall(200, "POST", "/api/v1/mail-accounts", token, map[string]any{"email": email, "password": pass})
			wantKept(t, "reconnected", acct, id, dc.Port, out.Port)
			waitSynced(t, srv, token, id, 45*time.Second)

			// A message sent now goes out once, with SMTP's own password
			// (the test server accepts no other).
			srv.mustCall(202, "POST", "/api/v1/messages/send", token, map[string]any{
				"account_id": id, "to": []map[string]any{{"email": "carol@client.test"}}, "subject": "After reconnecting", "text": "hello"})
			out.Wait(t, 1, 30*time.Second)

			// To forwarding mode; a message forwarded to the dropbox is listed.
			acct = srv.mustCall(200, "PATCH", path, token, map[string]any{"mode": "forward"})
			addr, _ := acct["dropbox_address"].(string)
			if acct["mode"] != "forward" || addr == "" {
				t.Fatalf("forward: %v", acct)
			}
			tag := fmt.Sprintf("fwd%d", time.Now().UnixNano())
			raw := "From: " + email + "\r\nTo: " + addr + "\r\nSubject: Fwd: order " + tag + "\r\nMessage-ID: <" + tag + "@crmsync.test>\r\n" +
				"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\n---------- Forwarded message ---------\r\nFrom: Carol <carol@client.test>\r\n" +
				"Date: Mon, 1 Jan 2030 08:00:00 +0000\r\nSubject: order " + tag + "\r\nTo: " + email + "\r\n\r\nThe order.\r\n"
			if err := smtp.SendMail(dropbox, nil, email, []string{addr}, []byte(raw)); err != nil {
				t.Fatalf("forwarding to the dropbox: %v", err)
			}
			forwarded := waitListed(t, srv, token, tag)

			// Back to sync with the password: the loop syncs again.
			acct = srv.mustCall(200, "PATCH", path, token, map[string]any{"mode": "sync", "password": pass})
			wantKept(t, "back to sync", acct, id, dc.Port, out.Port)
			waitSynced(t, srv, token, id, 45*time.Second)
			time.Sleep(3 * time.Second) // a pass after "synced" would show a duplicate or a loss

			after := listMessages(t, srv, token, id)
			ids := map[int64]bool{}
			keys := map[string]int{}
			for _, m := range after {
				ids[int64(m["id"].(float64))] = true
				keys[fmt.Sprint(m["folder"], "|", m["message_id"])]++
			}
			for _, m := range before {
				if !ids[int64(m["id"].(float64))] {
					t.Errorf("message %v (%v) lost its id after reconnecting and switching modes", m["id"], m["message_id"])
				}
			}
			if !ids[forwarded] {
				t.Errorf("the forwarded message %d is no longer listed after switching back to sync", forwarded)
			}
			for k, c := range keys {
				if c > 1 {
					t.Errorf("%s stored %d times", k, c)
				}
			}
			// n synced, the one sent (in Sent), the one forwarded.
			if len(after) != n+2 {
				t.Errorf("%d messages after the round trip, want %d", len(after), n+2)
			}
			msg := srv.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages/%d", first), token, nil)
			links, _ := msg["links"].([]any)
			if !slices.ContainsFunc(links, func(l any) bool {
				m := l.(map[string]any)
				return m["type"] == "company" && int64(m["id"].(float64)) == co && m["source"] == "manual"
			}) {
				t.Errorf("the manual link of message %d is gone: %v", first, links)
			}
			if got := len(out.Messages()); got != 1 {
				t.Errorf("the SMTP server received %d messages, want the one sent", got)
			}
		})
	}
}

// wantKept checks that an account is still id, with its IMAP and SMTP
// servers, and able to send.
func wantKept(t *testing.T, when string, acct map[string]any, id int64, imapPort, smtpPort int) {
	t.Helper()
	st, _ := acct["settings"].(map[string]any)
	imap, _ := st["imap"].(map[string]any)
	smtp, _ := st["smtp"].(map[string]any)
	if int64(acct["id"].(float64)) != id || acct["can_send"] != true || imap == nil || smtp == nil ||
		imap["port"] != float64(imapPort) || smtp["port"] != float64(smtpPort) || smtp["username"] != "ann.smtp" {
		t.Errorf("%s: %v", when, acct)
	}
}

// waitListed waits until a message whose text holds tag is listed, and
// returns its id.
func waitListed(t *testing.T, p *process, token, tag string) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		data := p.mustCall(200, "GET", "/api/v1/messages?q="+tag, token, nil)["data"].([]any)
		if len(data) == 1 {
			return int64(data[0].(map[string]any)["id"].(float64))
		}
		if len(data) > 1 || time.Now().After(deadline) {
			t.Fatalf("a message tagged %s is listed %d times", tag, len(data))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeLoopback returns a free address on 127.0.0.1.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
