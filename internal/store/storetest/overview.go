package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() { extraTests["Overview"] = testOverview }

func testOverview(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	// A forwarding-mode mailbox counts, but has no sync to fall behind.
	_, err := s.CreateMailAccount(ctx, mb.uv, crm.MailAccount{UserID: mb.user.ID, Email: "fwd@acme.example", Provider: "imap",
		Mode: crm.ModeForward, State: crm.StateSynced, DropboxToken: "tok-overview"})
	must(t, err)
	must(t, s.PutCredential(ctx, store.Credential{ID: "pim-ov", OrgID: mb.org.ID, Purpose: "pim_password", Ciphertext: []byte{1}}))
	pa, err := s.CreatePIMAccount(ctx, mb.uv, crm.PIMAccount{UserID: mb.user.ID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.example/",
		Username: "ann", CredentialID: "pim-ov"})
	must(t, err)
	synced := time.Now().Add(-time.Hour).Truncate(time.Second)
	pf, err := s.ClaimLease(ctx, "pim", fmt.Sprint(pa.ID), "test", time.Minute)
	must(t, err)
	must(t, s.RecordPIMStatus(ctx, pf.Fence(), pa.ID, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &synced}, false, nil))
	next := time.Now().Add(time.Minute)
	must(t, s.RecordAccountStatus(ctx, mb.fence, mb.account.ID, store.AccountStatus{State: crm.StateAuthFailed, ErrorCode: "auth_failed",
		ErrorMessage: "Sign in again.", Failures: 1, NextAttemptAt: &next}, nil))

	counts, err := s.AccountCounts(ctx)
	must(t, err)
	byKey := map[string]store.AccountCount{}
	for _, c := range counts {
		byKey[c.Kind+" "+c.Provider+" "+string(c.State)] = c
	}
	if len(counts) != 3 {
		t.Fatalf("counts = %+v", counts)
	}
	failing := byKey["mail imap auth_failed"]
	if failing.Count != 1 || failing.ErrorCode != "auth_failed" || failing.OldestSync == nil || !failing.OldestSync.Equal(mb.account.CreatedAt) {
		t.Errorf("failing mailbox = %+v (created %v)", failing, mb.account.CreatedAt)
	}
	if fwd := byKey["mail imap synced"]; fwd.Count != 1 || fwd.OldestSync != nil {
		t.Errorf("forwarding mailbox = %+v", fwd)
	}
	if p := byKey["pim carddav/contacts synced"]; p.Count != 1 || p.OldestSync == nil || !p.OldestSync.Equal(synced) {
		t.Errorf("pim account = %+v, want oldest sync %v", p, synced)
	}

	q, snd, err := s.OutboxDepth(ctx)
	must(t, err)
	if q != 0 || snd != 0 {
		t.Fatalf("empty outbox depth = %d, %d", q, snd)
	}
	req := crm.SendRequest{To: []crm.Address{{Email: "hank@globex.com"}}, Subject: "Hello", Text: "Hi"}
	var items []crm.OutboxItem
	for _, id := range []string{"ov1@crmsync", "ov2@crmsync", "ov3@crmsync"} {
		it, err := s.EnqueueMail(ctx, mb.uv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: id, Request: req, Raw: []byte("raw")})
		must(t, err)
		items = append(items, it)
	}
	items[0].State, items[0].Attempts = crm.OutboxSending, 1
	must(t, s.UpdateOutbox(ctx, mb.fence, items[0]))
	items[1].State = crm.OutboxSent
	must(t, s.UpdateOutbox(ctx, mb.fence, items[1]))
	q, snd, err = s.OutboxDepth(ctx)
	must(t, err)
	if q != 1 || snd != 1 {
		t.Fatalf("outbox depth = %d queued, %d sending; want 1, 1", q, snd)
	}
}
