package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	mailTests := map[string]func(*testing.T, Factory){
		"MailService":      testMailService,
		"MailAccounts":     testMailAccounts,
		"MailFolders":      testMailFolders,
		"MailSaveMessages": testMailSaveMessages,
		"MailFlags":        testMailFlags,
		"MailListEmails":   testMailListEmails,
		"MailStatusFenced": testMailStatusFenced,
	}
	for k, v := range mailTests {
		extraTests[k] = v
	}
}

// mailBundle is an org with a member who has one IMAP account with INBOX.
type mailBundle struct {
	bundle
	user    crm.User
	uv      crm.Viewer
	account crm.MailAccount
	fence   store.Fence
	inbox   store.Folder
}

func setupMail(t testing.TB, f Factory) mailBundle {
	b := setup(t, f)
	u, uv := b.user(t, "ann@acme.example", crm.RoleMember, nil)
	a, err := b.s.CreateMailAccount(b.ctx, uv, crm.MailAccount{UserID: u.ID, Email: "Ann@Acme.example", Provider: "imap", Mode: crm.ModeSync,
		State: crm.StateConnecting, CredentialID: "cred-1",
		Settings: crm.MailSettings{IMAP: &crm.ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: "ann"}}})
	must(t, err)
	l, err := b.s.ClaimLease(b.ctx, "mail", fmt.Sprint(a.ID), "test", time.Minute)
	must(t, err)
	folders, err := b.s.SyncFolders(b.ctx, l.Fence(), a.ID, []store.FolderInfo{{Name: "INBOX", Role: "inbox"}, {Name: "Sent", Role: "sent"}, {Name: "Lists"}, {Name: "[Gmail]", NoSelect: true}}, []string{"inbox", "sent"})
	must(t, err)
	if err := b.s.PutCredential(b.ctx, store.Credential{ID: "cred-1", OrgID: b.org.ID, Purpose: "mail_password", Ciphertext: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	mb := mailBundle{bundle: b, user: u, uv: uv, account: a, fence: l.Fence()}
	for _, fo := range folders {
		if fo.Name == "INBOX" {
			mb.inbox = fo
		}
	}
	return mb
}

// email is a message with remote id "uv:uid" (the store takes any opaque
// string), or a forwarded message's "fwd:hash" when uid is 0.
func email(uv uint32, uid uint32, hash string, date time.Time, from string, to ...string) crm.Email {
	rid := fmt.Sprintf("%d:%d", uv, uid)
	if uid == 0 {
		rid = "fwd:" + hash
	}
	e := crm.Email{RemoteID: rid, Hash: hash, MessageID: hash + "@mail.example", Subject: "Subject " + hash, Date: date,
		Participants: crm.Participants{From: []crm.Address{{Name: "Sender", Email: from}}}, Text: "body " + hash, HTML: "<p>body</p>", Size: 100}
	for _, a := range to {
		e.Participants.To = append(e.Participants.To, crm.Address{Email: a})
	}
	return e
}

func testMailService(t *testing.T, f Factory) {
	b := setup(t, f)
	got, err := b.s.MailService(b.ctx, b.org.ID)
	must(t, err)
	if got != nil {
		t.Fatalf("unset service = %+v", got)
	}
	svc := &crm.MailService{Kind: "imap", IMAP: &crm.ServerSettings{Host: "mail.acme.example", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"}}
	must(t, b.s.PutMailService(b.ctx, b.org.ID, svc))
	got, err = b.s.MailService(b.ctx, b.org.ID)
	must(t, err)
	if got == nil || got.IMAP.Host != "mail.acme.example" || got.SMTP != nil {
		t.Fatalf("service = %+v", got)
	}
	other := newOrg(t, b.s, "other")
	if o, _ := b.s.MailService(b.ctx, other.org.ID); o != nil {
		t.Fatal("mail service leaks to another organisation")
	}
	must(t, b.s.PutMailService(b.ctx, b.org.ID, nil))
	if got, _ = b.s.MailService(b.ctx, b.org.ID); got != nil {
		t.Fatal("service not cleared")
	}
}

func testMailAccounts(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	if mb.account.Email != "ann@acme.example" || mb.account.ID == 0 {
		t.Fatalf("account = %+v", mb.account)
	}
	got, err := b.s.GetMailAccount(b.ctx, mb.uv, mb.account.ID)
	must(t, err)
	if got.Settings.IMAP == nil || got.Settings.IMAP.Host != "imap.acme.example" || got.CredentialID != "cred-1" || got.State != crm.StateConnecting {
		t.Fatalf("get = %+v", got)
	}
	_, err = b.s.CreateMailAccount(b.ctx, mb.uv, crm.MailAccount{UserID: mb.user.ID, Email: "ANN@acme.example", Provider: "imap", Mode: crm.ModeSync, State: crm.StateConnecting})
	wantField(t, err, "email", "duplicate")
	// A colleague neither sees it nor connects one for Ann; the admin does both.
	_, zv := b.user(t, "zed@acme.example", crm.RoleMember, nil)
	_, err = b.s.GetMailAccount(b.ctx, zv, mb.account.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = b.s.CreateMailAccount(b.ctx, zv, crm.MailAccount{UserID: mb.user.ID, Email: "ann2@acme.example", Provider: "imap", Mode: crm.ModeSync, State: crm.StateConnecting})
	wantField(t, err, "user_id", "")
	_, err = b.s.CreateMailAccount(b.ctx, b.av, crm.MailAccount{UserID: mb.user.ID, Email: "ann2@acme.example", Provider: "imap", Mode: crm.ModeForward, State: crm.StateSynced})
	must(t, err)
	page, err := b.s.ListMailAccounts(b.ctx, mb.uv, store.MailAccountFilter{})
	must(t, err)
	if len(page.Items) != 2 {
		t.Fatalf("ann sees %d accounts", len(page.Items))
	}
	up, err := b.s.UpdateMailAccount(b.ctx, mb.uv, mb.account.ID, func(a *crm.MailAccount) error {
		a.Settings.IMAP.Port = 143
		a.CredentialID = "cred-2"
		a.State = crm.StateConnecting
		return nil
	})
	must(t, err)
	if up.Settings.IMAP.Port != 143 || up.CredentialID != "cred-2" {
		t.Fatalf("update = %+v", up)
	}
	// Only sync-mode accounts are syncable.
	due, err := b.s.SyncableAccounts(b.ctx, time.Now())
	must(t, err)
	if len(due) != 1 || due[0].ID != mb.account.ID {
		t.Fatalf("syncable = %+v", due)
	}
}

func testMailFolders(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	folders, err := b.s.Folders(b.ctx, mb.account.ID)
	must(t, err)
	sel := map[string]bool{}
	for _, fo := range folders {
		sel[fo.Name] = fo.Selected
	}
	if len(folders) != 3 || !sel["INBOX"] || !sel["Sent"] || sel["Lists"] {
		t.Fatalf("folders = %+v", folders)
	}
	folders, err = b.s.SelectFolders(b.ctx, mb.uv, mb.account.ID, []string{"INBOX", "Lists"})
	must(t, err)
	for _, fo := range folders {
		if fo.Selected != (fo.Name == "INBOX" || fo.Name == "Lists") {
			t.Fatalf("after select: %+v", folders)
		}
	}
	_, err = b.s.SelectFolders(b.ctx, mb.uv, mb.account.ID, []string{"INBOX", "Nope"})
	wantField(t, err, "folders[1]", "not_found")
	// A folder that disappears takes its row; its messages are kept, expunged.
	var lists store.Folder
	for _, fo := range folders {
		if fo.Name == "Lists" {
			lists = fo
		}
	}
	_, err = b.s.SaveMessages(b.ctx, mb.fence, lists.ID, store.FolderCursor{Token: "c7.2"}, []crm.Email{email(7, 1, "h-list", time.Now(), "l@x.example")})
	must(t, err)
	folders, err = b.s.SyncFolders(b.ctx, mb.fence, mb.account.ID, []store.FolderInfo{{Name: "INBOX", Role: "inbox"}, {Name: "Sent", Role: "sent"}}, nil)
	must(t, err)
	if len(folders) != 2 {
		t.Fatalf("folders after removal = %+v", folders)
	}
	counts, err := b.s.FolderCounts(b.ctx, mb.account.ID)
	must(t, err)
	if len(counts) != 2 || counts["INBOX"] != 0 {
		t.Fatalf("counts = %v", counts)
	}
}

func testMailSaveMessages(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	batch := []crm.Email{email(10, 3, "h3", t0.Add(3*time.Hour), "a@x.example", "ann@acme.example"), email(10, 2, "h2", t0.Add(2*time.Hour), "b@x.example"), email(10, 1, "h1", t0, "c@x.example")}
	cur := store.FolderCursor{Token: "c10.4", ServerCount: 3}
	res, err := b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, cur, batch)
	must(t, err)
	if res.Inserted != 3 {
		t.Fatalf("first save = %+v", res)
	}
	// A replay of the same batch (crash after commit, before the loop knew) stores nothing twice.
	res, err = b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, cur, batch)
	must(t, err)
	if res.Inserted != 0 || res.Skipped != 3 {
		t.Fatalf("replayed save = %+v", res)
	}
	folders, _ := b.s.Folders(b.ctx, mb.account.ID)
	for _, fo := range folders {
		if fo.Name == "INBOX" && (fo.Cursor.Token != "c10.4" || fo.Cursor.Syncing || fo.Cursor.ServerCount != 3) {
			t.Fatalf("cursor = %+v", fo.Cursor)
		}
	}
	stored, err := b.s.StoredIDs(b.ctx, mb.inbox.ID)
	must(t, err)
	if slices.Sort(stored); fmt.Sprint(stored) != "[10:1 10:2 10:3]" {
		t.Fatalf("stored ids = %v", stored)
	}
	page, _ := b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{})
	ids := map[string]int64{}
	for _, e := range page.Items {
		ids[e.Hash] = e.ID
	}
	// The connector no longer accepts the cursor (IMAP: UIDVALIDITY
	// changed): the folder restarts; the old rows stay listed meanwhile.
	must(t, b.s.RestartFolder(b.ctx, mb.fence, mb.inbox.ID))
	if stored, _ := b.s.StoredIDs(b.ctx, mb.inbox.ID); len(stored) != 0 {
		t.Fatalf("stored ids of the new epoch = %v", stored)
	}
	if page, _ := b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{}); len(page.Items) != 3 {
		t.Fatalf("%d listed during the restart", len(page.Items))
	}
	// The same messages come back under new ids and are re-attached to
	// their rows (same ids), by content, not duplicated.
	renum := []crm.Email{email(11, 1, "h1", t0, "c@x.example"), email(11, 2, "h2", t0.Add(2*time.Hour), "b@x.example"), email(11, 3, "h3", t0.Add(3*time.Hour), "a@x.example")}
	res, err = b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: "c11.4"}, renum)
	must(t, err)
	if res.Reattached != 3 || res.Inserted != 0 {
		t.Fatalf("after the restart = %+v", res)
	}
	for _, e := range renum {
		if e.ID != ids[e.Hash] {
			t.Fatalf("%s re-attached to %d, was %d", e.Hash, e.ID, ids[e.Hash])
		}
	}
	n, err := b.s.ExpungeStale(b.ctx, mb.fence, mb.inbox.ID)
	must(t, err)
	if n != 0 {
		t.Fatalf("expunged %d after full re-attachment", n)
	}
	// A provider whose ids outlive a restart (Graph, Gmail): a message is
	// re-attached by its id even if its content hash differs; what the new
	// listing does not find is expunged when it is complete.
	must(t, b.s.RestartFolder(b.ctx, mb.fence, mb.inbox.ID))
	again := []crm.Email{email(11, 1, "h1-rehashed", t0, "c@x.example")}
	res, err = b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: "c11.4"}, again)
	must(t, err)
	if res.Reattached != 1 || again[0].ID != ids["h1"] {
		t.Fatalf("re-attach by id: %+v, id %d want %d", res, again[0].ID, ids["h1"])
	}
	n, err = b.s.ExpungeStale(b.ctx, mb.fence, mb.inbox.ID)
	must(t, err)
	if n != 2 {
		t.Fatalf("expunged %d stale, want 2", n)
	}
	// Messages expunged that way come back by content.
	res, err = b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: "c11.4"}, renum[1:])
	must(t, err)
	if res.Reattached != 2 || renum[1].ID != ids["h2"] {
		t.Fatalf("back after stale expunge: %+v", res)
	}
	// Expunge one; it disappears from lists but its row waits for a move.
	n, err = b.s.RemoveMessages(b.ctx, mb.fence, mb.inbox.ID, []string{"11:2", "11:99"})
	must(t, err)
	if n != 1 {
		t.Fatalf("expunged %d", n)
	}
	page, _ = b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{})
	if len(page.Items) != 2 {
		t.Fatalf("%d listed after expunge", len(page.Items))
	}
	var sent store.Folder
	folders, _ = b.s.Folders(b.ctx, mb.account.ID)
	for _, fo := range folders {
		if fo.Name == "Sent" {
			sent = fo
		}
	}
	moved := []crm.Email{email(5, 40, "h2", t0.Add(2*time.Hour), "b@x.example")}
	res, err = b.s.SaveMessages(b.ctx, mb.fence, sent.ID, store.FolderCursor{Token: "c5.41"}, moved)
	must(t, err)
	if res.Reattached != 1 || moved[0].ID != ids["h2"] {
		t.Fatalf("move: %+v, id %d want %d", res, moved[0].ID, ids["h2"])
	}
	e, err := b.s.GetEmail(b.ctx, mb.uv, ids["h2"])
	must(t, err)
	if e.Folder != "Sent" || e.Text != "body h2" {
		t.Fatalf("moved email = %+v", e)
	}
	// A stale loop cannot save.
	stale := mb.fence
	stale.Generation++
	_, err = b.s.SaveMessages(b.ctx, stale, mb.inbox.ID, cur, []crm.Email{email(11, 9, "h9", t0, "z@x.example")})
	wantErr(t, err, store.ErrLeaseLost)
	counts, _ := b.s.FolderCounts(b.ctx, mb.account.ID)
	if counts["INBOX"] != 2 || counts["Sent"] != 1 {
		t.Fatalf("counts = %v", counts)
	}
}

func testMailFlags(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	msgs := []crm.Email{email(1, 1, "a", time.Now(), "x@x.example"), email(1, 2, "b", time.Now(), "y@x.example")}
	_, err := b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: "c1.3"}, msgs)
	must(t, err)
	// The user marks a read; it shows at once and is queued.
	e, err := b.s.SetEmailFlags(b.ctx, mb.uv, msgs[0].ID, func(fl *crm.Flags) { fl.Seen = true })
	must(t, err)
	if !e.Flags.Seen {
		t.Fatal("flag not shown")
	}
	pend, err := b.s.PendingFlags(b.ctx, mb.account.ID, 10)
	must(t, err)
	if len(pend) != 1 || pend[0].RemoteID != "1:1" || !pend[0].Flags.Seen || pend[0].Folder != "INBOX" {
		t.Fatalf("pending = %+v", pend)
	}
	// Meanwhile the server reports other changes; the pending one survives.
	must(t, b.s.ApplyFlagChanges(b.ctx, mb.fence, mb.inbox.ID, []store.FlagUpdate{{RemoteID: "1:1", Flags: crm.Flags{}}, {RemoteID: "1:2", Flags: crm.Flags{Flagged: true}}},
		store.FolderCursor{Token: "c1.3.6"}))
	e, _ = b.s.GetEmail(b.ctx, mb.uv, msgs[0].ID)
	e2, _ := b.s.GetEmail(b.ctx, mb.uv, msgs[1].ID)
	if !e.Flags.Seen || !e2.Flags.Flagged {
		t.Fatalf("flags after server changes: %+v %+v", e.Flags, e2.Flags)
	}
	must(t, b.s.AckFlags(b.ctx, mb.fence, pend[0].EmailID, pend[0].Flags))
	pend, _ = b.s.PendingFlags(b.ctx, mb.account.ID, 10)
	if len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
	e, _ = b.s.GetEmail(b.ctx, mb.uv, msgs[0].ID)
	if !e.Flags.Seen {
		t.Fatal("acked flag lost")
	}
	// An ack of an older value does not clear a newer change.
	_, err = b.s.SetEmailFlags(b.ctx, mb.uv, msgs[1].ID, func(fl *crm.Flags) { fl.Seen = true })
	must(t, err)
	must(t, b.s.AckFlags(b.ctx, mb.fence, msgs[1].ID, crm.Flags{Flagged: true}))
	pend, _ = b.s.PendingFlags(b.ctx, mb.account.ID, 10)
	if len(pend) != 1 {
		t.Fatal("a newer local change was dropped by an older ack")
	}
	other := newOrg(t, b.s, "other")
	_, err = b.s.SetEmailFlags(b.ctx, other.av, msgs[1].ID, func(fl *crm.Flags) {})
	wantErr(t, err, store.ErrNotFound)
}

func testMailListEmails(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []crm.Email
	for i := 1; i <= 25; i++ {
		// Dates out of UID order, and two sharing one instant.
		d := t0.Add(time.Duration((i*7)%25) * time.Hour)
		if i == 25 {
			d = t0.Add(time.Duration((24*7)%25) * time.Hour)
		}
		batch = append(batch, email(1, uint32(i), fmt.Sprintf("m%02d", i), d, fmt.Sprintf("s%d@x.example", i)))
	}
	_, err := b.s.SaveMessages(b.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: "c1.26"}, batch)
	must(t, err)
	var got []crm.Email
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{ListParams: store.ListParams{Limit: 10, Cursor: cursor}})
		must(t, err)
		got = append(got, page.Items...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 4 {
			t.Fatal("no end")
		}
	}
	if len(got) != 25 {
		t.Fatalf("listed %d of 25", len(got))
	}
	seen := map[int64]bool{}
	for i, e := range got {
		if seen[e.ID] {
			t.Fatalf("email %d listed twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && e.Date.After(got[i-1].Date) {
			t.Fatalf("not newest first at %d", i)
		}
		if e.Text != "" {
			t.Fatal("lists carry bodies")
		}
	}
	page, _ := b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{ListParams: store.ListParams{Q: "s13@x"}})
	if len(page.Items) != 1 || page.Items[0].Participants.From[0].Email != "s13@x.example" {
		t.Fatalf("search by address = %+v", page.Items)
	}
	page, _ = b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{ListParams: store.ListParams{Q: "subject m07"}})
	if len(page.Items) != 1 {
		t.Fatalf("search by subject = %d", len(page.Items))
	}
	page, _ = b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{Folder: "Sent"})
	if len(page.Items) != 0 {
		t.Fatal("folder filter")
	}
	// Visibility: a colleague sees none; Ann's manager would; another org none.
	_, zv := b.user(t, "zed@acme.example", crm.RoleMember, nil)
	page, _ = b.s.ListEmails(b.ctx, zv, store.EmailFilter{})
	if len(page.Items) != 0 {
		t.Fatal("a colleague sees Ann's mail")
	}
	_, err = b.s.GetEmail(b.ctx, zv, got[0].ID)
	wantErr(t, err, store.ErrNotFound)
	m, mv := b.user(t, "boss@acme.example", crm.RoleManager, nil)
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, mb.user.ID, func(p *store.UserParams) error { p.ManagerID = &m.ID; return nil })
	must(t, err)
	page, _ = b.s.ListEmails(b.ctx, mv, store.EmailFilter{})
	if len(page.Items) != 25 {
		t.Fatalf("manager sees %d", len(page.Items))
	}
	_, err = b.s.ListEmails(b.ctx, mb.uv, store.EmailFilter{ListParams: store.ListParams{Cursor: "bad"}})
	wantErr(t, err, store.ErrBadCursor)
}

func testMailStatusFenced(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	b := mb.bundle
	now := time.Now().UTC().Truncate(time.Microsecond)
	next := now.Add(time.Minute)
	must(t, b.s.RecordAccountStatus(b.ctx, mb.fence, mb.account.ID, store.AccountStatus{State: crm.StateUnreachable, ErrorCode: "unreachable", ErrorMessage: "cannot reach imap.acme.example",
		Failures: 1, NextAttemptAt: &next}, &store.AccountEvent{Kind: "error", Message: "cannot reach imap.acme.example"}))
	a, _ := b.s.GetMailAccount(b.ctx, mb.uv, mb.account.ID)
	if a.State != crm.StateUnreachable || a.ErrorMessage == "" || a.NextAttemptAt == nil || !a.NextAttemptAt.Equal(next) || a.Failures != 1 {
		t.Fatalf("status = %+v", a)
	}
	due, _ := b.s.SyncableAccounts(b.ctx, now)
	if len(due) != 0 {
		t.Fatal("an account waiting for its next attempt is due")
	}
	due, _ = b.s.SyncableAccounts(b.ctx, next.Add(time.Second))
	if len(due) != 1 {
		t.Fatal("an account past its next attempt is not due")
	}
	must(t, b.s.RecordAccountStatus(b.ctx, mb.fence, mb.account.ID, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &now, ProgressDone: 3, ProgressTotal: 3}, &store.AccountEvent{Kind: "state", Message: "synced"}))
	must(t, b.s.AddAccountEvent(b.ctx, mb.account.ID, store.AccountEvent{Kind: "settings", Message: "password changed"}))
	evs, err := b.s.AccountEvents(b.ctx, mb.account.ID, 10)
	must(t, err)
	if len(evs) != 3 || evs[0].Kind != "settings" || evs[2].Kind != "error" {
		t.Fatalf("events = %+v", evs)
	}
	stale := mb.fence
	stale.Owner = "someone-else"
	wantErr(t, b.s.RecordAccountStatus(b.ctx, stale, mb.account.ID, store.AccountStatus{State: crm.StateSyncError}, nil), store.ErrLeaseLost)
	a, _ = b.s.GetMailAccount(b.ctx, mb.uv, mb.account.ID)
	if a.State != crm.StateSynced || a.LastSyncAt == nil {
		t.Fatalf("after stale write: %+v", a)
	}
}
