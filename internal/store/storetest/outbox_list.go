package storetest

import (
	"fmt"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() { extraTests["OutboxList"] = testOutboxList }

// testOutboxList: ListOutbox pages newest first, filters by state and
// account, shows each viewer only what they may see, and carries the
// recipients and subject but neither the raw message nor the attachments.
func testOutboxList(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	var ids []int64
	for i, st := range []crm.OutboxState{crm.OutboxSent, crm.OutboxFailed, crm.OutboxQueued} {
		req := crm.SendRequest{To: []crm.Address{{Name: "Hank", Email: "hank@globex.com"}}, Cc: []crm.Address{{Email: "cc@globex.com"}},
			Bcc: []crm.Address{{Email: "bcc@globex.com"}}, Subject: fmt.Sprintf("Offer %d", i), Text: "body",
			Attachments: []crm.SendAttachment{{Filename: "big.bin", ContentType: "application/octet-stream", Content: []byte("secret-bytes")}}}
		it, err := s.EnqueueMail(ctx, mb.uv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: fmt.Sprintf("list%d@crmsync", i),
			From: crm.Address{Email: "ann@acme.example"}, Request: req, Raw: []byte("raw")})
		must(t, err)
		if st != crm.OutboxQueued {
			it.State, it.Attempts, it.LastError = st, 1, "refused"
			if st == crm.OutboxSent {
				it.EmailID, it.LastError = ptr(int64(7)), ""
			}
			must(t, s.UpdateOutbox(ctx, mb.fence, it))
		}
		ids = append(ids, it.ID)
	}
	all, err := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{})
	must(t, err)
	if len(all.Items) != 3 || all.Items[0].ID != ids[2] || all.Items[2].ID != ids[0] || all.NextCursor != "" {
		t.Fatalf("list = %+v, want ids %v newest first", all, ids)
	}
	first := all.Items[2]
	if first.State != crm.OutboxSent || first.EmailID == nil || *first.EmailID != 7 || first.Attempts != 1 || first.From.Email != "ann@acme.example" ||
		first.Request.Subject != "Offer 0" || len(first.Request.To) != 1 || first.Request.To[0].Name != "Hank" ||
		len(first.Request.Cc) != 1 || len(first.Request.Bcc) != 1 || first.AccountID != mb.account.ID || first.OwnerID != mb.user.ID {
		t.Fatalf("sent item = %+v", first)
	}
	if first.Raw != nil || first.Request.Attachments != nil || first.Request.Text != "" {
		t.Fatalf("a list item carries its message: %+v", first)
	}
	if all.Items[1].State != crm.OutboxFailed || all.Items[1].LastError != "refused" {
		t.Fatalf("failed item = %+v", all.Items[1])
	}
	p1, err := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{Limit: 2})
	must(t, err)
	if len(p1.Items) != 2 || p1.NextCursor == "" {
		t.Fatalf("page 1 = %+v", p1)
	}
	p2, err := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{Limit: 2, Cursor: p1.NextCursor})
	must(t, err)
	if len(p2.Items) != 1 || p2.Items[0].ID != ids[0] || p2.NextCursor != "" {
		t.Fatalf("page 2 = %+v", p2)
	}
	for _, st := range []crm.OutboxState{crm.OutboxQueued, crm.OutboxSent, crm.OutboxFailed} {
		got, err := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{State: st})
		must(t, err)
		if len(got.Items) != 1 || got.Items[0].State != st {
			t.Fatalf("state %s = %+v", st, got.Items)
		}
	}
	if got, _ := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{AccountID: mb.account.ID + 1000}); len(got.Items) != 0 {
		t.Fatalf("another account's filter = %+v", got.Items)
	}
	if got, _ := s.ListOutbox(ctx, mb.uv, store.OutboxFilter{AccountID: mb.account.ID}); len(got.Items) != 3 {
		t.Fatalf("account filter = %d items", len(got.Items))
	}
	_, zv := mb.bundle.user(t, "zed@acme.example", crm.RoleMember, nil)
	if got, _ := s.ListOutbox(ctx, zv, store.OutboxFilter{}); len(got.Items) != 0 {
		t.Fatalf("a colleague sees Ann's outbox: %+v", got.Items)
	}
	if got, _ := s.ListOutbox(ctx, mb.av, store.OutboxFilter{}); len(got.Items) != 3 {
		t.Fatalf("the admin sees %d items", len(got.Items))
	}
	_, err = s.ListOutbox(ctx, mb.uv, store.OutboxFilter{Cursor: "nonsense"})
	wantErr(t, err, store.ErrBadCursor)
}
