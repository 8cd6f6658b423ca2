package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	for k, v := range map[string]func(*testing.T, Factory){
		"PIMAccounts":         testPIMAccounts,
		"PIMStatus":           testPIMStatus,
		"PIMCollections":      testPIMCollections,
		"PIMWriteContacts":    testPIMWriteContacts,
		"PIMWriteTasksEvents": testPIMWriteTasksEvents,
		"PIMDeleteAccount":    testPIMDeleteAccount,
		"PIMRecordOutcomes":   testPIMRecordOutcomes,
		"PIMItemStats":        testPIMItemStats,
		"PIMWriteBatch":       testPIMWriteBatch,
	} {
		extraTests[k] = v
	}
}

// pimBundle is an org with a member who has one CardDAV account, under a
// lease, with one address book.
type pimBundle struct {
	bundle
	user    crm.User
	uv      crm.Viewer
	account crm.PIMAccount
	fence   store.Fence
	book    store.PIMCollection
}

func setupPIM(t testing.TB, f Factory) pimBundle {
	b := setup(t, f)
	u, uv := b.user(t, "ann@acme.example", crm.RoleMember, nil)
	must(t, b.s.PutCredential(b.ctx, store.Credential{ID: "pim-cred-1", OrgID: b.org.ID, Purpose: "pim_password", Ciphertext: []byte{1}}))
	a, err := b.s.CreatePIMAccount(b.ctx, uv, crm.PIMAccount{UserID: u.ID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.example/", Username: "ann",
		CredentialID: "pim-cred-1", Options: crm.PIMOptions{ConflictPolicy: "newest_wins", ImportCategories: []string{"Customers"}}})
	must(t, err)
	l, err := b.s.ClaimLease(b.ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	must(t, err)
	book, err := b.s.PutPIMCollection(b.ctx, l.Fence(), store.PIMCollection{AccountID: a.ID, Href: "/ann/contacts/", Kind: "contacts", DisplayName: "Contacts"})
	must(t, err)
	return pimBundle{bundle: b, user: u, uv: uv, account: a, fence: l.Fence(), book: book}
}

func (pb pimBundle) items(t testing.TB, collectionID int64) []store.PIMItem {
	t.Helper()
	its, err := pb.s.PIMItems(pb.ctx, collectionID)
	must(t, err)
	return its
}

func testPIMAccounts(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, a := pb.bundle, pb.account
	if a.ID == 0 || a.State != crm.StateConnecting || a.OrgID != b.org.ID || a.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", a)
	}
	got, err := b.s.GetPIMAccount(b.ctx, pb.uv, a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("get = %+v\nwant %+v", got, a)
	}
	if byID, err := b.s.PIMAccountByID(b.ctx, a.ID); err != nil || !reflect.DeepEqual(byID, a) {
		t.Fatalf("by id = %+v, %v", byID, err)
	}
	_, err = b.s.PIMAccountByID(b.ctx, a.ID+1000)
	wantErr(t, err, store.ErrNotFound)

	// One account per (kind, url, username) and user.
	_, err = b.s.CreatePIMAccount(b.ctx, pb.uv, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCardDAV, URL: a.URL, Username: "ann"})
	wantField(t, err, "url", "duplicate")
	cal, err := b.s.CreatePIMAccount(b.ctx, pb.uv, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCalDAV, URL: a.URL, Username: "ann", State: crm.StateSynced})
	must(t, err)
	if cal.State != crm.StateSynced {
		t.Fatalf("state given is not kept: %+v", cal)
	}
	_, err = b.s.CreatePIMAccount(b.ctx, pb.uv, crm.PIMAccount{UserID: pb.user.ID, Kind: "exchange", URL: a.URL, Username: "ann"})
	wantField(t, err, "kind", "")

	// A colleague neither sees Ann's accounts nor connects one for her;
	// the admin does both, and the same server for themself is no
	// duplicate.
	zed, zv := b.user(t, "zed@acme.example", crm.RoleMember, nil)
	_, err = b.s.GetPIMAccount(b.ctx, zv, a.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = b.s.CreatePIMAccount(b.ctx, zv, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCardDAV, URL: "https://other.example/", Username: "ann"})
	wantField(t, err, "user_id", "")
	byAdmin, err := b.s.CreatePIMAccount(b.ctx, b.av, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCardDAV, URL: "https://other.example/", Username: "ann"})
	must(t, err)
	_, err = b.s.CreatePIMAccount(b.ctx, zv, crm.PIMAccount{UserID: zed.ID, Kind: crm.PIMCardDAV, URL: a.URL, Username: "ann"})
	must(t, err)

	page, err := b.s.ListPIMAccounts(b.ctx, pb.uv, store.PIMAccountFilter{})
	must(t, err)
	if len(page.Items) != 3 || page.NextCursor != "" || page.Items[0].ID != a.ID {
		t.Fatalf("ann lists %+v", page)
	}
	page, err = b.s.ListPIMAccounts(b.ctx, zv, store.PIMAccountFilter{})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].UserID != zed.ID {
		t.Fatalf("zed lists %+v", page)
	}
	page, err = b.s.ListPIMAccounts(b.ctx, b.av, store.PIMAccountFilter{UserID: &pb.user.ID, ListParams: store.ListParams{Limit: 2}})
	must(t, err)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("admin's first page of ann's = %+v", page)
	}
	page, err = b.s.ListPIMAccounts(b.ctx, b.av, store.PIMAccountFilter{UserID: &pb.user.ID, ListParams: store.ListParams{Limit: 2, Cursor: page.NextCursor}})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != byAdmin.ID || page.NextCursor != "" {
		t.Fatalf("admin's second page of ann's = %+v", page)
	}
	page, err = b.s.ListPIMAccounts(b.ctx, b.av, store.PIMAccountFilter{ListParams: store.ListParams{Q: "OTHER.example"}})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != byAdmin.ID {
		t.Fatalf("admin's search = %+v", page)
	}

	// Update writes settings, credentials, options, the request and the
	// state; owner and kind stay.
	opts := crm.PIMOptions{ConflictPolicy: "crm_wins", ImportCategories: []string{"A", "B"}, Collection: "/ann/work/", TaskCollection: "/ann/tasks/", EventCategories: []string{}}
	up, err := b.s.UpdatePIMAccount(b.ctx, pb.uv, a.ID, func(x *crm.PIMAccount) error {
		x.URL, x.Username, x.CredentialID, x.Options = "https://dav2.acme.example/", "ann2", "pim-cred-2", opts
		x.SyncRequested, x.State, x.ErrorCode, x.ErrorMessage = true, crm.StateAuthFailed, "auth", "wrong password"
		x.UserID, x.Kind = zed.ID, crm.PIMCalDAV
		return nil
	})
	must(t, err)
	got, err = b.s.GetPIMAccount(b.ctx, pb.uv, a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, up) {
		t.Fatalf("after update: get = %+v\nreturned %+v", got, up)
	}
	if got.URL != "https://dav2.acme.example/" || got.Username != "ann2" || got.CredentialID != "pim-cred-2" || !reflect.DeepEqual(got.Options, opts) ||
		!got.SyncRequested || got.State != crm.StateAuthFailed || got.ErrorCode != "auth" || got.ErrorMessage != "wrong password" ||
		got.UserID != pb.user.ID || got.Kind != crm.PIMCardDAV || got.UpdatedAt.Before(a.UpdatedAt) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("after update = %+v", got)
	}
	// Moving onto another account of the same user is a duplicate.
	_, err = b.s.UpdatePIMAccount(b.ctx, pb.uv, a.ID, func(x *crm.PIMAccount) error {
		x.URL, x.Username = "https://other.example/", "ann"
		return nil
	})
	wantField(t, err, "url", "duplicate")
	_, err = b.s.UpdatePIMAccount(b.ctx, zv, a.ID, func(*crm.PIMAccount) error { return nil })
	wantErr(t, err, store.ErrNotFound)
	boom := errors.New("boom")
	_, err = b.s.UpdatePIMAccount(b.ctx, pb.uv, a.ID, func(x *crm.PIMAccount) error { x.URL = "changed"; return boom })
	wantErr(t, err, boom)
	if got2, _ := b.s.GetPIMAccount(b.ctx, pb.uv, a.ID); got2.URL != got.URL {
		t.Fatal("a failed apply was written")
	}

	// Another organisation sees none of it.
	other := newOrg(t, b.s, "globex")
	_, err = other.s.GetPIMAccount(other.ctx, other.av, a.ID)
	wantErr(t, err, store.ErrNotFound)
	page, err = other.s.ListPIMAccounts(other.ctx, other.av, store.PIMAccountFilter{})
	must(t, err)
	if len(page.Items) != 0 {
		t.Fatalf("another org lists %+v", page.Items)
	}
	wantErr(t, other.s.DeletePIMAccount(other.ctx, other.av, a.ID), store.ErrNotFound)
	_, err = other.s.CreatePIMAccount(other.ctx, other.av, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCardDAV, URL: "https://x.example/", Username: "x"})
	wantField(t, err, "user_id", "")
}

func testPIMStatus(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, id := pb.bundle, pb.account.ID
	now := time.Now().UTC().Truncate(time.Microsecond)
	syncable := func(at time.Time) bool {
		t.Helper()
		as, err := b.s.SyncablePIMAccounts(b.ctx, at)
		must(t, err)
		for _, a := range as {
			if a.ID == id {
				return true
			}
		}
		return false
	}
	if !syncable(now) {
		t.Fatal("a new account (no next attempt) is not syncable")
	}
	next := now.Add(time.Hour)
	must(t, b.s.RecordPIMStatus(b.ctx, pb.fence, id, store.AccountStatus{State: crm.StateUnreachable, ErrorCode: "unreachable", ErrorMessage: "cannot reach dav.acme.example",
		ProgressDone: 2, ProgressTotal: 5, Failures: 1, NextAttemptAt: &next}, false, &store.AccountEvent{Kind: "error", Message: "cannot reach dav.acme.example"}))
	a, err := b.s.PIMAccountByID(b.ctx, id)
	must(t, err)
	if a.State != crm.StateUnreachable || a.ErrorCode != "unreachable" || a.ErrorMessage == "" || a.ProgressDone != 2 || a.ProgressTotal != 5 ||
		a.Failures != 1 || a.NextAttemptAt == nil || !a.NextAttemptAt.Equal(next) || a.LastSyncAt != nil {
		t.Fatalf("status = %+v", a)
	}
	if syncable(now) {
		t.Fatal("an account waiting for its next attempt is syncable")
	}
	if !syncable(next) {
		t.Fatal("an account at its next attempt is not syncable")
	}
	// "Sync now" makes it syncable at once; a status written without
	// clearRequest keeps the request, one with it clears it.
	_, err = b.s.UpdatePIMAccount(b.ctx, pb.uv, id, func(x *crm.PIMAccount) error { x.SyncRequested = true; return nil })
	must(t, err)
	if !syncable(now) {
		t.Fatal("an account with a sync requested is not syncable")
	}
	must(t, b.s.RecordPIMStatus(b.ctx, pb.fence, id, store.AccountStatus{State: crm.StateSyncing, NextAttemptAt: &next}, false, nil))
	if a, _ = b.s.PIMAccountByID(b.ctx, id); !a.SyncRequested || a.State != crm.StateSyncing || a.ErrorCode != "" || a.Failures != 0 {
		t.Fatalf("after a status without clearRequest: %+v", a)
	}
	must(t, b.s.RecordPIMStatus(b.ctx, pb.fence, id, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &now, ProgressDone: 5, ProgressTotal: 5, NextAttemptAt: &next},
		true, &store.AccountEvent{Kind: "state", Message: "synced"}))
	if a, _ = b.s.PIMAccountByID(b.ctx, id); a.SyncRequested || a.LastSyncAt == nil || !a.LastSyncAt.Equal(now) {
		t.Fatalf("after a status with clearRequest: %+v", a)
	}
	if syncable(now) {
		t.Fatal("an account whose request was cleared is still syncable before its next attempt")
	}
	// LastSyncAt nil keeps the last one.
	must(t, b.s.RecordPIMStatus(b.ctx, pb.fence, id, store.AccountStatus{State: crm.StateSyncing, NextAttemptAt: &next}, false,
		&store.AccountEvent{Kind: "state", Message: "syncing", At: now.Add(time.Second)}))
	if a, _ = b.s.PIMAccountByID(b.ctx, id); a.LastSyncAt == nil || !a.LastSyncAt.Equal(now) {
		t.Fatalf("last sync lost: %+v", a)
	}

	// A loop that lost the lease writes nothing.
	stale := pb.fence
	stale.Generation++
	wantErr(t, b.s.RecordPIMStatus(b.ctx, stale, id, store.AccountStatus{State: crm.StateSyncError}, true, &store.AccountEvent{Kind: "error", Message: "late"}), store.ErrLeaseLost)
	_, err = b.s.UpdatePIMAccount(b.ctx, pb.uv, id, func(x *crm.PIMAccount) error { x.SyncRequested = true; return nil })
	must(t, err)
	wantErr(t, b.s.RecordPIMStatus(b.ctx, stale, id, store.AccountStatus{State: crm.StateSyncError}, true, nil), store.ErrLeaseLost)
	if a, _ = b.s.PIMAccountByID(b.ctx, id); a.State != crm.StateSyncing || !a.SyncRequested {
		t.Fatalf("after a stale write: %+v", a)
	}
	wantErr(t, b.s.RecordPIMStatus(b.ctx, pb.fence, id+1000, store.AccountStatus{State: crm.StateSynced}, false, nil), store.ErrNotFound)

	// History: newest first, limited, without the stale write's event.
	evs, err := b.s.PIMAccountEvents(b.ctx, id, 10)
	must(t, err)
	if len(evs) != 3 || evs[0].Message != "syncing" || !evs[0].At.Equal(now.Add(time.Second)) || evs[1].Message != "synced" || evs[2].Kind != "error" || evs[1].At.IsZero() {
		t.Fatalf("events = %+v", evs)
	}
	evs, err = b.s.PIMAccountEvents(b.ctx, id, 2)
	must(t, err)
	if len(evs) != 2 || evs[1].Message != "synced" {
		t.Fatalf("limited events = %+v", evs)
	}
	// Mail account history is another table.
	if mevs, err := b.s.AccountEvents(b.ctx, id, 10); err != nil || len(mevs) != 0 {
		t.Fatalf("mail history of the PIM account id = %+v, %v", mevs, err)
	}
}

func testPIMCollections(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, id := pb.bundle, pb.account.ID
	if pb.book.ID == 0 || pb.book.AccountID != id || pb.book.DisplayName != "Contacts" || pb.book.SyncToken != "" {
		t.Fatalf("book = %+v", pb.book)
	}
	must(t, b.s.SetPIMCursor(b.ctx, pb.fence, pb.book.ID, "tok-1", "ctag-1"))
	// Rediscovered without a cursor: renamed, cursor kept.
	c, err := b.s.PutPIMCollection(b.ctx, pb.fence, store.PIMCollection{AccountID: id, Href: "/ann/contacts/", Kind: "contacts", DisplayName: "Address book"})
	must(t, err)
	if c.ID != pb.book.ID || c.DisplayName != "Address book" || c.SyncToken != "tok-1" || c.CTag != "ctag-1" {
		t.Fatalf("upsert without a cursor = %+v", c)
	}
	// With one: replaced (both parts: a ctag alone clears the old token).
	c, err = b.s.PutPIMCollection(b.ctx, pb.fence, store.PIMCollection{AccountID: id, Href: "/ann/contacts/", Kind: "contacts", DisplayName: "Address book", CTag: "ctag-2"})
	must(t, err)
	if c.ID != pb.book.ID || c.SyncToken != "" || c.CTag != "ctag-2" {
		t.Fatalf("upsert with a cursor = %+v", c)
	}
	// The same href with another kind (a calendar holding events and tasks)
	// is another collection.
	tasks, err := b.s.PutPIMCollection(b.ctx, pb.fence, store.PIMCollection{AccountID: id, Href: "/ann/contacts/", Kind: "tasks", SyncToken: "t"})
	must(t, err)
	if tasks.ID == pb.book.ID || tasks.SyncToken != "t" {
		t.Fatalf("other kind = %+v", tasks)
	}
	cs, err := b.s.PIMCollections(b.ctx, id)
	must(t, err)
	if len(cs) != 2 || !reflect.DeepEqual(cs[0], c) || !reflect.DeepEqual(cs[1], tasks) {
		t.Fatalf("collections = %+v", cs)
	}
	// Refused: lost lease, unknown account or collection, unknown kind.
	stale := pb.fence
	stale.Owner = "someone-else"
	_, err = b.s.PutPIMCollection(b.ctx, stale, store.PIMCollection{AccountID: id, Href: "/ann/new/", Kind: "events"})
	wantErr(t, err, store.ErrLeaseLost)
	wantErr(t, b.s.SetPIMCursor(b.ctx, stale, pb.book.ID, "tok-x", ""), store.ErrLeaseLost)
	_, err = b.s.PutPIMCollection(b.ctx, pb.fence, store.PIMCollection{AccountID: id + 1000, Href: "/x/", Kind: "events"})
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, b.s.SetPIMCursor(b.ctx, pb.fence, pb.book.ID+1000, "tok-x", ""), store.ErrNotFound)
	if _, err = b.s.PutPIMCollection(b.ctx, pb.fence, store.PIMCollection{AccountID: id, Href: "/x/", Kind: "journal"}); err == nil {
		t.Fatal("a collection of an unknown kind was stored")
	}
	cs, _ = b.s.PIMCollections(b.ctx, id)
	if len(cs) != 2 || cs[0].CTag != "ctag-2" {
		t.Fatalf("after refused writes: %+v", cs)
	}
	if cs, _ = b.s.PIMCollections(b.ctx, id+1000); len(cs) != 0 {
		t.Fatalf("collections of no account = %+v", cs)
	}
}

func testPIMWriteContacts(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, uv := pb.bundle, pb.uv
	tomb := time.Now().UTC().Truncate(time.Microsecond)

	// A remote contact comes in: record and mapping together.
	in := crm.Contact{FirstName: "Hank", LastName: "Scorpio", Emails: []string{"hank@globex.example"}, Phones: []string{"+1 555 0100"},
		OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead, Title: "CEO", Notes: "volcano", Categories: []string{"VIP"},
		Address: crm.PostalAddress{Street: "1 Volcano Rd", City: "Cypress Creek"}}
	w, err := b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &in, Item: &store.PIMItem{CollectionID: pb.book.ID,
		Href: "/ann/contacts/hank.vcf", UID: "uid-hank", ETag: `"e1"`, Base: []byte(`{"fn":"Hank"}`), Raw: []byte("BEGIN:VCARD\r\nEND:VCARD\r\n")}})
	must(t, err)
	if w.Contact == nil || w.Task != nil || w.Event != nil || w.Item == nil {
		t.Fatalf("write = %+v", w)
	}
	c, it := *w.Contact, *w.Item
	if c.ID == 0 || c.OrgID != b.org.ID || c.UpdatedAt.IsZero() {
		t.Fatalf("contact = %+v", c)
	}
	if it.ID == 0 || it.AccountID != pb.account.ID || it.RecordType != pim.RecordContact || it.CRMID != c.ID || !it.CRMUpdatedAt.Equal(c.UpdatedAt) {
		t.Fatalf("item = %+v (contact %d at %v)", it, c.ID, c.UpdatedAt)
	}
	got, err := b.s.GetContact(b.ctx, uv, c.ID)
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("stored contact = %+v\nreturned %+v", got, c)
	}
	if its := pb.items(t, pb.book.ID); len(its) != 1 || !reflect.DeepEqual(its[0], it) {
		t.Fatalf("items = %+v\nreturned %+v", its, it)
	}

	// The engine replaces it (as read): both written.
	time.Sleep(2 * time.Millisecond)
	c2 := c
	c2.LastName, c2.Emails = "Scorpio Jr", []string{"hank@globex.example", "h@globex.example"}
	it2 := it
	it2.ETag, it2.Base = `"e2"`, []byte(`{"fn":"Hank Jr"}`)
	w, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &c2, Item: &it2})
	must(t, err)
	if w.Contact.ID != c.ID || w.Contact.LastName != "Scorpio Jr" || !w.Contact.UpdatedAt.After(c.UpdatedAt) || !w.Contact.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("replaced contact = %+v", w.Contact)
	}
	if w.Item.ID != it.ID || w.Item.ETag != `"e2"` || !w.Item.CRMUpdatedAt.Equal(w.Contact.UpdatedAt) || w.Item.CRMID != c.ID {
		t.Fatalf("replaced item = %+v", w.Item)
	}
	c, it = *w.Contact, *w.Item
	if got, _ = b.s.GetContact(b.ctx, uv, c.ID); !reflect.DeepEqual(got, c) {
		t.Fatalf("stored contact = %+v\nreturned %+v", got, c)
	}

	// The user edits it meanwhile: the engine's replacement, based on what
	// it read before, is refused and writes nothing, mapping included.
	time.Sleep(2 * time.Millisecond)
	edited, err := b.s.UpdateContact(b.ctx, uv, c.ID, func(x *crm.Contact) error { x.Title = "Supervillain"; return nil })
	must(t, err)
	c3 := c
	c3.FirstName = "Henry"
	it3 := it
	it3.ETag, it3.Error = `"e3"`, "x"
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &c3, Item: &it3})
	wantErr(t, err, store.ErrStale)
	newItem := store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/other.vcf"}
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &c3, Item: &newItem})
	wantErr(t, err, store.ErrStale)
	if got, _ = b.s.GetContact(b.ctx, uv, c.ID); !reflect.DeepEqual(got, edited) {
		t.Fatalf("after a stale write: %+v\nwant %+v", got, edited)
	}
	if its := pb.items(t, pb.book.ID); len(its) != 1 || !reflect.DeepEqual(its[0], it) {
		t.Fatalf("items after a stale write = %+v\nwant %+v", its, it)
	}

	// A mapping-only write (the engine read the CRM side): CRMID and
	// CRMUpdatedAt are the caller's. Tombstone fields round-trip.
	it4 := it
	it4.CRMUpdatedAt, it4.TombstoneSide, it4.TombstonedAt, it4.Error, it4.Raw = edited.UpdatedAt, "remote", &tomb, "gone on the server", nil
	w, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &it4})
	must(t, err)
	if w.Contact != nil || !reflect.DeepEqual(*w.Item, it4) {
		t.Fatalf("mapping-only write = %+v\nwant %+v", w.Item, it4)
	}
	if its := pb.items(t, pb.book.ID); len(its) != 1 || !reflect.DeepEqual(its[0], it4) || its[0].TombstonedAt == nil || !its[0].TombstonedAt.Equal(tomb) {
		t.Fatalf("items after a tombstone = %+v\nwant %+v", its, it4)
	}

	// A CRM contact going out: the mapping is written before the remote
	// side exists (no href), then gets one.
	out := b.contact(t, uv, "Marge", "marge@springfield.example")
	pending := store.PIMItem{CollectionID: pb.book.ID, RecordType: pim.RecordContact, CRMID: out.ID, CRMUpdatedAt: out.UpdatedAt}
	w, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &pending})
	must(t, err)
	pending = *w.Item
	if pending.ID == 0 || pending.Href != "" || pending.Base != nil || pending.Raw != nil || pending.TombstonedAt != nil {
		t.Fatalf("pending item = %+v", pending)
	}
	// Unique per collection: an href, and a record. ErrConflict, and the
	// contact created in the same write is rolled back.
	before, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{})
	must(t, err)
	dup := crm.Contact{FirstName: "Dup", OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &dup, Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/hank.vcf"}})
	wantErr(t, err, store.ErrConflict)
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &store.PIMItem{CollectionID: pb.book.ID, RecordType: pim.RecordContact, CRMID: out.ID, Href: "/ann/contacts/m2.vcf"}})
	wantErr(t, err, store.ErrConflict)
	after, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{})
	must(t, err)
	if len(after.Items) != len(before.Items) {
		t.Fatalf("a refused write left a contact: %d then %d", len(before.Items), len(after.Items))
	}
	// A second item without an href or a record is no conflict.
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &store.PIMItem{CollectionID: pb.book.ID, RecordType: pim.RecordContact, UID: "a"}})
	must(t, err)
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &store.PIMItem{CollectionID: pb.book.ID, RecordType: pim.RecordContact, UID: "b"}})
	must(t, err)
	pending.Href, pending.ETag = "/ann/contacts/marge.vcf", `"m1"`
	w, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &pending})
	must(t, err)
	if its := pb.items(t, pb.book.ID); len(its) != 4 || !reflect.DeepEqual(its[1], *w.Item) || its[0].ID != it.ID {
		t.Fatalf("items = %+v", its)
	}

	// The record write is the API's: validation and visibility apply, and
	// a refusal writes no mapping either.
	bad := crm.Contact{FirstName: "Bad", OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead, CompanyID: ptr(int64(999999))}
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &bad, Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/bad.vcf"}})
	wantField(t, err, "company_id", "not_found")
	bad = crm.Contact{FirstName: "Bad", Emails: []string{"x@y.example", "X@y.example"}, OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &bad, Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/bad.vcf"}})
	wantField(t, err, "emails", "duplicate")
	adminsContact := b.contact(t, b.av, "Private")
	replace := adminsContact
	replace.FirstName = "Taken"
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &replace, AccountID: pb.account.ID})
	wantErr(t, err, store.ErrNotFound)
	if its := pb.items(t, pb.book.ID); len(its) != 4 {
		t.Fatalf("a refused record write left a mapping: %+v", its)
	}

	// A lost lease writes nothing.
	stale := pb.fence
	stale.Generation++
	late := crm.Contact{FirstName: "Late", OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}
	_, err = b.s.ApplyPIMWrite(b.ctx, stale, uv, store.PIMWrite{Contact: &late, Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/late.vcf"}})
	wantErr(t, err, store.ErrLeaseLost)
	if after, _ = b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Q: "Late"}}); len(after.Items) != 0 {
		t.Fatal("a write under a lost lease created a contact")
	}
	// At most one record per write; an unknown item is not found.
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &late, Task: &crm.Task{Summary: "x", OwnerID: pb.user.ID}})
	if err == nil {
		t.Fatal("a write of a contact and a task was accepted")
	}
	ghost := it4
	ghost.ID += 1000
	_, err = b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Item: &ghost})
	wantErr(t, err, store.ErrNotFound)

	// Another organisation cannot write into this account's collection.
	other := newOrg(t, b.s, "globex")
	_, err = other.s.ApplyPIMWrite(other.ctx, pb.fence, other.av, store.PIMWrite{Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/intruder.vcf"}})
	wantErr(t, err, store.ErrNotFound)
	_, err = other.s.ApplyPIMWrite(other.ctx, pb.fence, other.av, store.PIMWrite{Item: &it4})
	wantErr(t, err, store.ErrNotFound)
	if its := pb.items(t, pb.book.ID); len(its) != 4 {
		t.Fatalf("another org's write left a mapping: %+v", its)
	}
}

func testPIMWriteTasksEvents(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, uv := pb.bundle, pb.uv
	cal, err := b.s.CreatePIMAccount(b.ctx, uv, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCalDAV, URL: "https://dav.acme.example/", Username: "ann"})
	must(t, err)
	l, err := b.s.ClaimLease(b.ctx, "pim", fmt.Sprint(cal.ID), "test", time.Minute)
	must(t, err)
	fence := l.Fence()
	tl, err := b.s.PutPIMCollection(b.ctx, fence, store.PIMCollection{AccountID: cal.ID, Href: "/ann/cal/", Kind: "tasks"})
	must(t, err)
	ec, err := b.s.PutPIMCollection(b.ctx, fence, store.PIMCollection{AccountID: cal.ID, Href: "/ann/cal/", Kind: "events"})
	must(t, err)
	contact := b.contact(t, uv, "Hank")

	task := crm.Task{Summary: "Call Hank", Description: "about the volcano", Due: "2026-11-21", Priority: 1, OwnerID: pb.user.ID,
		Categories: []string{"Calls"}, ContactID: &contact.ID, CustomFields: map[string]string{"k": "v"}}
	w, err := b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Task: &task, Item: &store.PIMItem{CollectionID: tl.ID, Href: "/ann/cal/t1.ics", UID: "t1"}})
	must(t, err)
	if w.Task == nil || w.Task.ID == 0 || w.Task.Status != crm.TaskNeedsAction || w.Item.RecordType != pim.RecordTask || w.Item.CRMID != w.Task.ID ||
		!w.Item.CRMUpdatedAt.Equal(w.Task.UpdatedAt) || w.Item.AccountID != cal.ID {
		t.Fatalf("task write = %+v / %+v", w.Task, w.Item)
	}
	gotTask, err := b.s.GetTask(b.ctx, uv, w.Task.ID)
	must(t, err)
	if !reflect.DeepEqual(gotTask, *w.Task) {
		t.Fatalf("stored task = %+v\nreturned %+v", gotTask, *w.Task)
	}
	// Replace as read, then refused once the user edited it.
	time.Sleep(2 * time.Millisecond)
	t2, ti := *w.Task, *w.Item
	t2.Status, t2.CompletedAt = crm.TaskCompleted, "2026-11-20T10:00:00Z"
	w, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Task: &t2, Item: &ti})
	must(t, err)
	if w.Task.Status != crm.TaskCompleted || !w.Item.CRMUpdatedAt.Equal(w.Task.UpdatedAt) || w.Item.ID != ti.ID {
		t.Fatalf("task replace = %+v / %+v", w.Task, w.Item)
	}
	readTask, ti := *w.Task, *w.Item
	time.Sleep(2 * time.Millisecond)
	_, err = b.s.UpdateTask(b.ctx, uv, readTask.ID, func(x *crm.Task) error { x.Priority = 5; return nil })
	must(t, err)
	t3 := readTask
	t3.Summary = "stale"
	_, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Task: &t3, Item: &ti})
	wantErr(t, err, store.ErrStale)
	if gotTask, _ = b.s.GetTask(b.ctx, uv, readTask.ID); gotTask.Summary != "Call Hank" || gotTask.Priority != 5 {
		t.Fatalf("task after a stale write = %+v", gotTask)
	}
	if its := pb.items(t, tl.ID); len(its) != 1 || !reflect.DeepEqual(its[0], ti) {
		t.Fatalf("task items after a stale write = %+v", its)
	}
	// Validation is the API's.
	badTask := crm.Task{Summary: "x", OwnerID: pb.user.ID, Status: "done"}
	_, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Task: &badTask, Item: &store.PIMItem{CollectionID: tl.ID, Href: "/ann/cal/bad.ics"}})
	wantField(t, err, "status", "")
	// A task mapped as an event is the engine's mistake.
	other := crm.Task{Summary: "y", OwnerID: pb.user.ID}
	_, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Task: &other, Item: &store.PIMItem{CollectionID: tl.ID, RecordType: pim.RecordEvent, Href: "/ann/cal/y.ics"}})
	if err == nil {
		t.Fatal("a task mapped as an event was accepted")
	}
	if its := pb.items(t, tl.ID); len(its) != 1 {
		t.Fatalf("refused writes left mappings: %+v", its)
	}

	ev := crm.Event{Summary: "Standup", Location: "Room 1", Start: "2026-11-23T09:00:00[Europe/Paris]", End: "2026-11-23T09:15:00[Europe/Paris]",
		RRule: "FREQ=WEEKLY;BYDAY=MO", ExDates: []crm.When{"2026-11-30T09:00:00[Europe/Paris]"}, Attendees: []string{"hank@globex.example"},
		Overrides: []crm.EventOverride{{RecurrenceID: "2026-12-07T09:00:00[Europe/Paris]", Summary: "Long standup", End: "2026-12-07T10:00:00[Europe/Paris]"}},
		OwnerID:   pb.user.ID, ContactID: &contact.ID}
	w, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Event: &ev, Item: &store.PIMItem{CollectionID: ec.ID, Href: "/ann/cal/e1.ics", UID: "e1", Raw: []byte("BEGIN:VCALENDAR")}})
	must(t, err)
	if w.Event == nil || w.Event.ID == 0 || w.Item.RecordType != pim.RecordEvent || w.Item.CRMID != w.Event.ID || !w.Item.CRMUpdatedAt.Equal(w.Event.UpdatedAt) {
		t.Fatalf("event write = %+v / %+v", w.Event, w.Item)
	}
	gotEvent, err := b.s.GetEvent(b.ctx, uv, w.Event.ID)
	must(t, err)
	if !reflect.DeepEqual(gotEvent, *w.Event) {
		t.Fatalf("stored event = %+v\nreturned %+v", gotEvent, *w.Event)
	}
	time.Sleep(2 * time.Millisecond)
	e2, ei := *w.Event, *w.Item
	e2.Location = "Room 2"
	w, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Event: &e2, Item: &ei})
	must(t, err)
	if w.Event.Location != "Room 2" || !w.Item.CRMUpdatedAt.Equal(w.Event.UpdatedAt) {
		t.Fatalf("event replace = %+v / %+v", w.Event, w.Item)
	}
	e3 := e2 // still the UpdatedAt before the replacement
	e3.Location = "Room 3"
	_, err = b.s.ApplyPIMWrite(b.ctx, fence, uv, store.PIMWrite{Event: &e3})
	wantErr(t, err, store.ErrStale)
	if gotEvent, _ = b.s.GetEvent(b.ctx, uv, e2.ID); gotEvent.Location != "Room 2" {
		t.Fatalf("event after a stale write = %+v", gotEvent)
	}
}

func testPIMDeleteAccount(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, uv := pb.bundle, pb.uv
	in := crm.Contact{FirstName: "Hank", OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}
	w, err := b.s.ApplyPIMWrite(b.ctx, pb.fence, uv, store.PIMWrite{Contact: &in, Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/hank.vcf"}})
	must(t, err)
	must(t, b.s.RecordPIMStatus(b.ctx, pb.fence, pb.account.ID, store.AccountStatus{State: crm.StateSynced}, false, &store.AccountEvent{Kind: "state", Message: "synced"}))
	_, zv := b.user(t, "zed@acme.example", crm.RoleMember, nil)
	wantErr(t, b.s.DeletePIMAccount(b.ctx, zv, pb.account.ID), store.ErrNotFound)
	must(t, b.s.DeletePIMAccount(b.ctx, uv, pb.account.ID))
	_, err = b.s.GetPIMAccount(b.ctx, uv, pb.account.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, b.s.DeletePIMAccount(b.ctx, uv, pb.account.ID), store.ErrNotFound)
	if cs, _ := b.s.PIMCollections(b.ctx, pb.account.ID); len(cs) != 0 {
		t.Fatalf("collections left: %+v", cs)
	}
	if its := pb.items(t, pb.book.ID); len(its) != 0 {
		t.Fatalf("mappings left: %+v", its)
	}
	if evs, _ := b.s.PIMAccountEvents(b.ctx, pb.account.ID, 10); len(evs) != 0 {
		t.Fatalf("history left: %+v", evs)
	}
	// The contact it brought in stays; its credential goes.
	if _, err := b.s.GetContact(b.ctx, uv, w.Contact.ID); err != nil {
		t.Fatalf("the synced contact went with the account: %v", err)
	}
	_, err = b.s.GetCredential(b.ctx, b.org.ID, "pim-cred-1")
	wantErr(t, err, store.ErrNotFound)
	// The same account can be connected again.
	_, err = b.s.CreatePIMAccount(b.ctx, uv, crm.PIMAccount{UserID: pb.user.ID, Kind: crm.PIMCardDAV, URL: pb.account.URL, Username: pb.account.Username})
	must(t, err)
}

func testPIMRecordOutcomes(t *testing.T, f Factory) {
	b := setup(t, f)
	v := b.av
	co, err := b.s.CreateCompany(b.ctx, v, crm.Company{Name: "Globex", OwnerID: v.UserID})
	must(t, err)
	other, err := b.s.CreateCompany(b.ctx, v, crm.Company{Name: "Initech", OwnerID: v.UserID})
	must(t, err)
	mk := func(name string, company *int64) crm.Contact {
		c, err := b.s.CreateContact(b.ctx, v, crm.Contact{FirstName: name, CompanyID: company, OwnerID: v.UserID, Lifecycle: crm.LifecycleLead})
		must(t, err)
		return c
	}
	atCompany := mk("company-only", &co.ID)
	onDeals := mk("deals-only", nil)
	both := mk("both", &co.ID)
	initech := mk("initech", &other.ID)
	nobody := mk("nobody", nil)
	opp := func(status crm.OpportunityStatus, company *int64, contacts ...int64) {
		_, err := b.s.CreateOpportunity(b.ctx, v, crm.Opportunity{Name: string(status), Status: status, CompanyID: company, ContactIDs: contacts, OwnerID: v.UserID})
		must(t, err)
	}
	opp(crm.StatusWon, &co.ID, onDeals.ID)        // 1: the company's, and on a deal
	opp(crm.StatusLost, nil, onDeals.ID, both.ID) // 2: on deals only
	opp(crm.StatusOpen, &co.ID, both.ID)          // 3: both ways: once
	opp(crm.StatusOpen, nil)                      // 4: nobody's
	opp(crm.StatusLost, &other.ID, atCompany.ID)  // 5: another company, on a deal
	got, err := b.s.PIMRecordOutcomes(b.ctx, b.org.ID)
	must(t, err)
	want := map[int64][]crm.OpportunityStatus{
		atCompany.ID: {crm.StatusWon, crm.StatusOpen, crm.StatusLost},
		onDeals.ID:   {crm.StatusWon, crm.StatusLost},
		both.ID:      {crm.StatusWon, crm.StatusLost, crm.StatusOpen},
		initech.ID:   {crm.StatusLost},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes = %v\nwant %v", got, want)
	}
	if _, ok := got[nobody.ID]; ok {
		t.Fatal("a contact without opportunities has outcomes")
	}
	org2 := newOrg(t, b.s, "globex")
	got, err = org2.s.PIMRecordOutcomes(org2.ctx, org2.org.ID)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("another org's outcomes = %v", got)
	}
}

func testPIMItemStats(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	now := time.Now()
	put := func(it store.PIMItem) {
		t.Helper()
		it.CollectionID = pb.book.ID
		it.RecordType = pim.RecordContact
		_, err := pb.s.ApplyPIMWrite(pb.ctx, pb.fence, pb.uv, store.PIMWrite{Item: &it})
		must(t, err)
	}
	put(store.PIMItem{CRMID: 101, Href: "/ann/contacts/a.vcf"})
	put(store.PIMItem{CRMID: 102, Href: "/ann/contacts/b.vcf"})
	put(store.PIMItem{CRMID: 103, Href: "/ann/contacts/c.vcf", TombstoneSide: "remote", TombstonedAt: &now})
	put(store.PIMItem{Href: "/ann/contacts/family.vcf"})
	put(store.PIMItem{Href: "/ann/contacts/bad.vcf", Error: "unreadable"})
	put(store.PIMItem{CRMID: 104, Href: "/ann/contacts/d.vcf", Error: "refused by the server"})
	st, err := pb.s.PIMItemStats(pb.ctx, pb.account.ID, 1)
	must(t, err)
	if st.Synced[pim.RecordContact] != 3 || st.Tombstoned != 1 || st.NotImported != 2 || st.Errors != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if len(st.ItemErrors) != 1 || st.ItemErrors[0].Href != "/ann/contacts/bad.vcf" || st.ItemErrors[0].Error != "unreadable" || st.ItemErrors[0].Raw != nil {
		t.Fatalf("item errors = %+v", st.ItemErrors)
	}
	other := setupPIM(t, f)
	if st, err := other.s.PIMItemStats(other.ctx, other.account.ID, 10); err != nil || len(st.Synced) != 0 || st.Errors != 0 {
		t.Fatalf("another account's stats = %+v, %v", st, err)
	}
}

// testPIMWriteBatch: several writes in one transaction, all or none.
func testPIMWriteBatch(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, uv := pb.bundle, pb.uv
	write := func(name, href string) store.PIMWrite {
		return store.PIMWrite{Contact: &crm.Contact{FirstName: name, OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead},
			Item: &store.PIMItem{CollectionID: pb.book.ID, Href: href, UID: name}}
	}
	outs, err := b.s.ApplyPIMWrites(b.ctx, pb.fence, uv, []store.PIMWrite{write("A", "/a.vcf"), write("B", "/b.vcf")})
	must(t, err)
	if len(outs) != 2 || outs[0].Contact.FirstName != "A" || outs[1].Item.CRMID != outs[1].Contact.ID || outs[1].Item.Href != "/b.vcf" {
		t.Fatalf("outs = %+v", outs)
	}
	// The second reuses an href: neither is written.
	_, err = b.s.ApplyPIMWrites(b.ctx, pb.fence, uv, []store.PIMWrite{write("C", "/c.vcf"), write("D", "/a.vcf")})
	wantErr(t, err, store.ErrConflict)
	if its := pb.items(t, pb.book.ID); len(its) != 2 {
		t.Fatalf("after a refused batch: %d items, want 2", len(its))
	}
	p, err := b.s.ListContacts(b.ctx, uv, store.ContactFilter{})
	must(t, err)
	if len(p.Items) != 2 {
		t.Fatalf("after a refused batch: %d contacts, want 2", len(p.Items))
	}
	// Under a lost lease nothing is written.
	lost := pb.fence
	lost.Generation++
	_, err = b.s.ApplyPIMWrites(b.ctx, lost, uv, []store.PIMWrite{write("E", "/e.vcf")})
	wantErr(t, err, store.ErrLeaseLost)
}
