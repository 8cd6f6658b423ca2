package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

// Empty opens a database no migration has touched.
type Empty func(t testing.TB) *sqlstore.DB

// RunUpgrades checks that migrations carry the data an older crmsync left
// into the current schema.
func RunUpgrades(t *testing.T, open Empty) {
	t.Run("NeutralMail", func(t *testing.T) { testUpgradeNeutralMail(t, open(t)) })
	t.Run("CloudPIM", func(t *testing.T) { testUpgradeCloudPIM(t, open(t)) })
}

// testUpgradeCloudPIM builds a version-10 database with a CardDAV and a
// CalDAV account, their collections and mappings, migrates it (SQLite
// rebuilds pim_accounts to widen its kinds), and checks that nothing
// referring to the accounts was lost, that each got its service, and that
// the accounts of a sign-in (one per service, same URL and address) can
// be stored beside them.
func testUpgradeCloudPIM(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	if _, err := db.MigrateTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	r := db.Readers()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := r.ExecContext(ctx, rebindFor(db.Dialect(), q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now := time.Now().UnixMicro()
	exec(`INSERT INTO orgs (id, name, created_at) VALUES (60, 'Old', ?)`, now)
	exec(`INSERT INTO users (id, org_id, email, name, role, created_at, updated_at) VALUES (61, 60, 'ann@old.example', 'Ann', 'admin', ?, ?)`, now, now)
	exec(`INSERT INTO pim_accounts (id, org_id, owner_id, kind, url, username, credential_id, options, state, created_at, updated_at)
		VALUES (90, 60, 61, 'carddav', 'https://dav.old.example/', 'ann', 'c90', '{"collection":"/ab/"}', 'synced', ?, ?),
		(91, 60, 61, 'caldav', 'https://dav.old.example/', 'ann', 'c91', '{}', 'auth_failed', ?, ?)`, now, now, now, now)
	exec(`INSERT INTO pim_collections (id, org_id, account_id, href, kind, sync_token) VALUES (95, 60, 90, '/ab/', 'contacts', 'tok'), (96, 60, 91, '/cal/', 'events', '')`)
	exec(`INSERT INTO pim_items (id, org_id, account_id, collection_id, record_type, href, uid, etag) VALUES (97, 60, 90, 95, 'contact', '/ab/1.vcf', 'u1', 'e1')`)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	av := crm.Viewer{OrgID: 60, UserID: 61, Role: crm.RoleAdmin}
	card, err := db.GetPIMAccount(ctx, av, 90)
	if err != nil || card.Kind != crm.PIMCardDAV || card.Service != crm.ServiceContacts || card.Options.Collection != "/ab/" || card.CredentialID != "c90" {
		t.Fatalf("carddav account after the upgrade: %+v %v", card, err)
	}
	cal, err := db.GetPIMAccount(ctx, av, 91)
	if err != nil || cal.Service != crm.ServiceCalendar || cal.State != crm.StateAuthFailed {
		t.Fatalf("caldav account after the upgrade: %+v %v", cal, err)
	}
	cols, err := db.PIMCollections(ctx, 90)
	if err != nil || len(cols) != 1 || cols[0].SyncToken != "tok" {
		t.Fatalf("collections kept: %+v %v", cols, err)
	}
	items, err := db.PIMItems(ctx, 95)
	if err != nil || len(items) != 1 || items[0].UID != "u1" {
		t.Fatalf("mappings kept: %+v %v", items, err)
	}
	for _, svc := range []crm.PIMService{crm.ServiceContacts, crm.ServiceCalendar, crm.ServiceTasks} {
		if _, err := db.CreatePIMAccount(ctx, av, crm.PIMAccount{UserID: 61, Kind: crm.PIMMicrosoft, Service: svc, URL: "https://graph.microsoft.com", Username: "ann@old.example", CredentialID: "tokens"}); err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
	}
	if _, err := db.CreatePIMAccount(ctx, av, crm.PIMAccount{UserID: 61, Kind: crm.PIMMicrosoft, Service: crm.ServiceTasks, URL: "https://graph.microsoft.com", Username: "ann@old.example"}); err == nil {
		t.Error("a second tasks account for the same sign-in was stored")
	}
	// Deleting an account keeps the rows of the others.
	if err := db.DeletePIMAccount(ctx, av, 91); err != nil {
		t.Fatal(err)
	}
	if items, err := db.PIMItems(ctx, 95); err != nil || len(items) != 1 {
		t.Fatalf("deleting another account took these mappings: %+v %v", items, err)
	}
}

// testUpgradeNeutralMail builds a version-4 database with an IMAP mailbox
// (one folder synced, one half way through its initial sync, one being
// renumbered) and a forwarding account, migrates it, and checks that the
// IMAP connector's ids and cursors, the epochs and the forwarded mail's
// identity come out as the engine expects.
func testUpgradeNeutralMail(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	if _, err := db.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	r := db.Readers()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := r.ExecContext(ctx, rebindFor(db.Dialect(), q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The organisation and its admin are written as version 4 had them:
	// the store's CreateOrg writes the current schema's columns.
	now := time.Now().UnixMicro()
	org, admin := crm.Org{ID: 60}, crm.User{ID: 61}
	exec(`INSERT INTO orgs (id, name, created_at) VALUES (?, 'Old', ?)`, org.ID, now)
	exec(`INSERT INTO users (id, org_id, email, name, role, created_at, updated_at) VALUES (?, ?, 'ann@old.example', 'Ann', 'admin', ?, ?)`, admin.ID, org.ID, now, now)
	exec(`INSERT INTO mail_accounts (id, org_id, owner_id, email, provider, mode, settings, state, created_at, updated_at) VALUES (70, ?, ?, 'ann@old.example', 'imap', 'sync', '{}', 'synced', ?, ?)`, org.ID, admin.ID, now, now)
	exec(`INSERT INTO mail_accounts (id, org_id, owner_id, email, provider, mode, settings, state, dropbox_token, created_at, updated_at) VALUES (71, ?, ?, 'fwd@old.example', 'imap', 'forward', '{}', 'synced', 'tok', ?, ?)`, org.ID, admin.ID, now, now)
	exec(`INSERT INTO mail_folders (id, org_id, account_id, name, role, selected, uidvalidity, uidnext, highestmodseq, backfill_below, server_count) VALUES
		(80, ?, 70, 'INBOX', 'inbox', 1, 1700, 43, 9001, 0, 3), (81, ?, 70, 'Sent', 'sent', 1, 1800, 20, 0, 12, 19), (82, ?, 70, 'Lists', '', 1, 1900, 5, 0, 1, 2),
		(83, ?, 71, 'Dropbox', 'inbox', 1, 1, 3, 0, 0, 2)`, org.ID, org.ID, org.ID, org.ID)
	msg := func(id, folder, uv, uid int, h string) {
		exec(`INSERT INTO messages (id, org_id, owner_id, account_id, folder_id, uidvalidity, uid, message_id, subject, sent_at, hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, org.ID, admin.ID, map[bool]int{true: 71, false: 70}[folder == 83], folder, uv, uid, h+"@old", h, now, h, now, now)
	}
	msg(900, 80, 1700, 41, "a")
	msg(901, 80, 1700, 42, "b")
	msg(902, 81, 1800, 19, "c")
	msg(903, 82, 1850, 4, "d") // stored under Lists' previous UIDVALIDITY
	msg(904, 83, 1, 1, "e")
	msg(905, 83, 1, 2, "f")

	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	folders, err := db.Folders(ctx, 70)
	must(t, err)
	want := map[string]store.FolderCursor{
		"INBOX": {Token: "imap1:1700:43:9001:0", ServerCount: 3},
		"Sent":  {Token: "imap1:1800:20:0:12", Syncing: true, ServerCount: 19},
		"Lists": {Token: "imap1:1900:5:0:1", Syncing: true, ServerCount: 2},
	}
	if len(folders) != len(want) {
		t.Fatalf("%d folders after the upgrade: %+v", len(folders), folders)
	}
	for _, f := range folders {
		w := want[f.Name]
		if f.Cursor.Token != w.Token || f.Cursor.Syncing != w.Syncing || f.Cursor.ServerCount != w.ServerCount || f.Stale != (f.Name == "Lists") {
			t.Errorf("%s after the upgrade: %+v stale=%v, want %+v", f.Name, f.Cursor, f.Stale, w)
		}
	}
	ids, err := db.StoredIDs(ctx, 80)
	must(t, err)
	if slices.Sort(ids); !slices.Equal(ids, []string{"1700:41", "1700:42"}) {
		t.Errorf("INBOX ids %v", ids)
	}
	// Lists' old row is the previous epoch: not stored in the current one,
	// still listed, and re-attached by content by the new listing.
	if ids, _ := db.StoredIDs(ctx, 82); len(ids) != 0 {
		t.Errorf("Lists ids of the current epoch %v", ids)
	}
	l, err := db.ClaimLease(ctx, "mail", "70", "test", time.Minute)
	must(t, err)
	batch := []crm.Email{{RemoteID: "1900:1", Hash: "d", Subject: "d", Date: time.Now()}}
	res, err := db.SaveMessages(ctx, l.Fence(), 82, store.FolderCursor{Token: "imap1:1900:5:0:0"}, batch)
	must(t, err)
	if res.Reattached != 1 || batch[0].ID != 903 {
		t.Errorf("Lists re-attach: %+v id %d", res, batch[0].ID)
	}
	// Forwarded mail keeps its identity: the same message again is stored once.
	e, stored, err := db.StoreForwarded(ctx, 71, crm.Email{RemoteID: "fwd:e", Hash: "e", Subject: "e", Date: time.Now()})
	must(t, err)
	if stored || e.ID != 904 {
		t.Errorf("a forwarded message stored before the upgrade was stored again: %v %d", stored, e.ID)
	}
}
