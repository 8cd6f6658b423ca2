package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// TestOutboxList: GET /api/v1/outbox shows the caller's queued, sent and
// failed messages newest first, with recipients, attempts, the last error
// and the stored copy once sent; filters by state and mailbox; pages; and
// shows a colleague nothing of it.
func TestOutboxList(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		m, account, _, _, _ := setupSend(t, o)
		var sentIDs []int64
		for i := range 3 {
			sentIDs = append(sentIDs, m.mustCall(202, "POST", "/api/v1/messages/send", m.annToken, map[string]any{
				"account_id": account, "to": []any{"Bob Client <bob@client.test>"}, "cc": []any{"carol@client.test"},
				"subject": fmt.Sprintf("Quote %d", i), "text": "Hello",
			}).ID())
		}
		// What the account's loop records: the first sent, the second refused.
		l, err := m.st.ClaimLease(m.ctx, "mail", fmt.Sprint(account), "test", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range []crm.OutboxState{crm.OutboxSent, crm.OutboxFailed} {
			it, err := m.st.GetOutboxItem(m.ctx, m.adminView, sentIDs[i])
			if err != nil {
				t.Fatal(err)
			}
			it.State, it.Attempts = st, 1+i
			if st == crm.OutboxSent {
				it.EmailID = &sentIDs[i] // any id: the list shows what the loop stored
			} else {
				it.LastError = "The SMTP server refused the recipient bob@client.test: check the address."
			}
			if err := m.st.UpdateOutbox(m.ctx, l.Fence(), it); err != nil {
				t.Fatal(err)
			}
		}

		r := m.mustCall(200, "GET", "/api/v1/outbox", m.annToken, nil)
		if got := ids(r.List); fmt.Sprint(got) != fmt.Sprint([]int64{sentIDs[2], sentIDs[1], sentIDs[0]}) {
			t.Fatalf("list = %v, want newest first %v", got, sentIDs)
		}
		sent, failed, queued := obj(r.List[2]), obj(r.List[1]), obj(r.List[0])
		to := obj(sent["to"].([]any)[0])
		if sent["state"] != "sent" || num(sent["email_id"]) != sentIDs[0] || num(sent["attempts"]) != 1 || sent["subject"] != "Quote 0" ||
			to["email"] != "bob@client.test" || to["name"] != "Bob Client" || len(sent["cc"].([]any)) != 1 || num(sent["account_id"]) != account {
			t.Errorf("sent = %v", sent)
		}
		if failed["state"] != "failed" || failed["last_error"] != "The SMTP server refused the recipient bob@client.test: check the address." || num(failed["attempts"]) != 2 {
			t.Errorf("failed = %v", failed)
		}
		if queued["state"] != "queued" || queued["email_id"] != nil || queued["last_error"] != nil {
			t.Errorf("queued = %v", queued)
		}
		for _, st := range []string{"queued", "sent", "failed"} {
			r := m.mustCall(200, "GET", "/api/v1/outbox?state="+st, m.annToken, nil)
			if len(r.List) != 1 || obj(r.List[0])["state"] != st {
				t.Errorf("state=%s: %s", st, r.Raw)
			}
		}
		if r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/outbox?account_id=%d", account+100), m.annToken, nil); len(r.List) != 0 {
			t.Errorf("another mailbox's filter: %s", r.Raw)
		}
		p1 := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/outbox?limit=2&account_id=%d", account), m.annToken, nil)
		next, _ := p1.Body["next_cursor"].(string)
		if len(p1.List) != 2 || next == "" {
			t.Fatalf("page 1 = %s", p1.Raw)
		}
		if p2 := m.mustCall(200, "GET", "/api/v1/outbox?limit=2&cursor="+next, m.annToken, nil); len(p2.List) != 1 || ids(p2.List)[0] != sentIDs[0] {
			t.Errorf("page 2 = %s", p2.Raw)
		}
		if r := m.mustCall(200, "GET", "/api/v1/outbox", m.bobToken, nil); len(r.List) != 0 {
			t.Errorf("Bob sees Ann's outbox: %s", r.Raw)
		}
		if r := m.mustCall(200, "GET", "/api/v1/outbox", m.token, nil); len(r.List) != 3 {
			t.Errorf("the admin sees %d items", len(r.List))
		}
		m.wantErr(m.do("GET", "/api/v1/outbox?state=lost", m.annToken, nil), 400, "invalid_parameter", "state")
		m.wantErr(m.do("GET", "/api/v1/outbox?account_id=x", m.annToken, nil), 400, "invalid_parameter", "account_id")
		m.wantErr(m.do("GET", "/api/v1/outbox?q=x", m.annToken, nil), 400, "invalid_parameter", "q")
	})
}
