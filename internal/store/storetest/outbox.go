package storetest

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() { extraTests["Outbox"] = testOutbox }

func testOutbox(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	req := crm.SendRequest{To: []crm.Address{{Email: "hank@globex.com"}}, Subject: "Hello", Text: "Hi Hank",
		Attachments: []crm.SendAttachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte("data")}},
		Links:       []crm.LinkRef{{Type: crm.LinkCompany, ID: 7}}}
	it, err := s.EnqueueMail(ctx, mb.uv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: "m1@crmsync", From: crm.Address{Email: "ann@acme.example"}, Request: req, Raw: []byte("raw")})
	must(t, err)
	if it.ID == 0 || it.State != crm.OutboxQueued || it.OwnerID != mb.user.ID {
		t.Fatalf("enqueued = %+v", it)
	}
	_, err = s.EnqueueMail(ctx, mb.uv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: "m1@crmsync", Request: req})
	wantErr(t, err, store.ErrConflict)
	_, zv := mb.bundle.user(t, "zed@acme.example", crm.RoleMember, nil)
	_, err = s.EnqueueMail(ctx, zv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: "m2@crmsync", Request: req})
	wantField(t, err, "account_id", "not_found")
	got, err := s.GetOutboxItem(ctx, mb.uv, it.ID)
	must(t, err)
	if got.Request.Subject != "Hello" || string(got.Request.Attachments[0].Content) != "data" || string(got.Raw) != "raw" || got.From.Email != "ann@acme.example" {
		t.Fatalf("get = %+v", got)
	}
	_, err = s.GetOutboxItem(ctx, zv, it.ID)
	wantErr(t, err, store.ErrNotFound)
	now := time.Now()
	due, err := s.DueOutbox(ctx, mb.account.ID, now.Add(time.Second), time.Minute, 10)
	must(t, err)
	if len(due) != 1 {
		t.Fatalf("due = %d", len(due))
	}
	if other, _ := s.DueOutbox(ctx, mb.account.ID+1000, now.Add(time.Second), time.Minute, 10); len(other) != 0 {
		t.Fatal("another account's loop is given this account's mail")
	}
	got.State, got.Attempts = crm.OutboxSending, 1
	must(t, s.UpdateOutbox(ctx, mb.fence, got))
	due, _ = s.DueOutbox(ctx, mb.account.ID, now.Add(time.Second), time.Minute, 10)
	if len(due) != 0 {
		t.Fatal("an item being sent is due again at once")
	}
	due, _ = s.DueOutbox(ctx, mb.account.ID, now.Add(2*time.Minute), time.Minute, 10)
	if len(due) != 1 {
		t.Fatal("an item left in sending by a dead process is not picked up again")
	}
	got.State, got.EmailID = crm.OutboxSent, ptr(int64(42))
	must(t, s.UpdateOutbox(ctx, mb.fence, got))
	due, _ = s.DueOutbox(ctx, mb.account.ID, now.Add(time.Hour), time.Minute, 10)
	if len(due) != 0 {
		t.Fatal("a sent item is due")
	}
	stale := mb.fence
	stale.Generation++
	wantErr(t, s.UpdateOutbox(ctx, stale, got), store.ErrLeaseLost)
	got, _ = s.GetOutboxItem(ctx, mb.uv, it.ID)
	if got.State != crm.OutboxSent || got.EmailID == nil || *got.EmailID != 42 {
		t.Fatalf("after update = %+v", got)
	}
}
