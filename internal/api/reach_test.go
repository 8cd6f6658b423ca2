package api_test

import (
	"fmt"
	"testing"
)

// Managers read their reports' mail and accounts but do not act on them:
// settings, folder choice, flags written back to the provider, sync now,
// disconnection and sending belong to the owner, and admins (offboarding)
// (issue 10 point 8).
func TestManagersReadButDoNotActOnMailboxes(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	max, maxToken := p.user("max@acme.test", "manager", 0)
	p.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", p.ann), p.token, map[string]any{"manager_id": max})
	account, _, msgs := p.mailbox()
	pimID := p.connect(nil)
	if pimID.Status != 201 {
		t.Fatalf("connect PIM: %d %s", pimID.Status, pimID.Raw)
	}
	pim := pimID.ID()
	acc := fmt.Sprintf("/api/v1/mail-accounts/%d", account)
	msg := fmt.Sprintf("/api/v1/messages/%d", msgs[0].ID)
	flags := map[string]any{"flags": map[string]any{"flagged": true}}
	send := map[string]any{"account_id": account, "to": []any{"carol@client.test"}, "subject": "Hi", "text": "Hello"}

	// The manager reads…
	for _, path := range []string{acc, acc + "/folders", msg, fmt.Sprintf("/api/v1/messages?account_id=%d", account), pimPath(pim)} {
		p.mustCall(200, "GET", path, maxToken, nil)
	}
	// …but every action on the report's mailbox and address book is refused.
	for _, rq := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"PATCH", acc, map[string]any{"password": goodPassword}, ""},
		{"PUT", acc + "/folders", map[string]any{"folders": []string{"INBOX"}}, ""},
		{"DELETE", acc + "?confirm_data_loss=true", nil, ""},
		{"PATCH", msg, flags, ""},
		{"POST", "/api/v1/messages/send", send, "account_id"},
		{"PATCH", pimPath(pim), map[string]any{"password": goodPassword}, ""},
		{"POST", pimPath(pim, "/sync"), nil, ""},
		{"DELETE", pimPath(pim), nil, ""},
	} {
		p.wantErr(p.call(rq.method, rq.path, maxToken, rq.body), 403, "forbidden", rq.field)
	}
	if a := p.account(account); a.DisconnectedAt != nil {
		t.Fatal("the manager disconnected the report's mailbox")
	}
	if r := p.mustCall(200, "GET", msg, maxToken, nil); r.Body["flags"].(map[string]any)["flagged"] == true {
		t.Fatal("the manager's flag reached the message")
	}

	// The owner acts on all of it.
	p.mustCall(200, "PATCH", acc, p.annToken, map[string]any{"password": goodPassword})
	p.mustCall(200, "PUT", acc+"/folders", p.annToken, map[string]any{"folders": []string{"INBOX", "Sent"}})
	p.mustCall(200, "PATCH", msg, p.annToken, flags)
	p.mustCall(202, "POST", "/api/v1/messages/send", p.annToken, send)
	p.mustCall(200, "PATCH", pimPath(pim), p.annToken, map[string]any{"password": goodPassword})
	p.mustCall(202, "POST", pimPath(pim, "/sync"), p.annToken, nil)

	// So does an admin, down to offboarding; sending as Ann stays Ann's.
	p.mustCall(200, "PATCH", acc, p.token, map[string]any{"password": goodPassword})
	p.mustCall(200, "PUT", acc+"/folders", p.token, map[string]any{"folders": []string{"INBOX"}})
	p.mustCall(200, "PATCH", msg, p.token, map[string]any{"flags": map[string]any{"flagged": false}})
	p.wantErr(p.call("POST", "/api/v1/messages/send", p.token, send), 403, "forbidden", "account_id")
	p.mustCall(202, "POST", pimPath(pim, "/sync"), p.token, nil)
	p.mustCall(204, "DELETE", pimPath(pim), p.token, nil)
	p.mustCall(200, "DELETE", acc+"?confirm_data_loss=true", p.token, nil)
}
