package dav_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// bundle is what most tests need: a Radicale with an address book and a
// calendar for user1, and a Client logged in as user1.
type bundle struct {
	srv  *radicale.Server
	user string
	c    *dav.Client
	book dav.Collection
	cal  dav.Collection
	ctx  context.Context
}

func setup(t *testing.T) *bundle {
	t.Helper()
	srv := radicale.Start(t, nil)
	user, pass := srv.User(1)
	b := &bundle{
		srv:  srv,
		user: user,
		c:    &dav.Client{BaseURL: srv.URL(), Username: user, Password: pass},
		book: dav.Collection{Href: srv.CreateAddressBook(t, user, "contacts", "Contacts"), Type: dav.AddressBook},
		cal:  dav.Collection{Href: srv.CreateCalendar(t, user, "work", "Work", "VEVENT", "VTODO"), Type: dav.Calendar},
		ctx:  t.Context(),
	}
	return b
}

func vcard(uid, fn string) []byte {
	return []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:" + fn + "\r\nN:" + fn + ";;;;\r\n" +
		"EMAIL;TYPE=INTERNET:" + strings.ToLower(strings.ReplaceAll(fn, " ", ".")) + "@example.com\r\nEND:VCARD\r\n")
}

// testdata returns the files of testdata/dir, by name.
func testdata(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("testdata/%s: %v (%d files)", dir, err, len(paths))
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

var uidRe = regexp.MustCompile(`(?m)^UID:(.*?)\r?$`)

func uidOf(t *testing.T, data []byte) string {
	t.Helper()
	m := uidRe.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no UID in\n%s", data)
	}
	return string(m[1])
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.CreateCalendar(t, b.user, "tasks", "Tasks", "VTODO")
	b.srv.CreateCalendar(t, b.user, "any", "Anything") // no component set: all
	b.srv.Put(t, b.user, b.book.Href+"x.vcf", string(vcard("x", "X Y")))

	for _, base := range []string{
		b.srv.URL(),                         // the server's root
		b.srv.URL() + "user1/",              // the principal
		b.srv.URL() + ".well-known/carddav", // RFC 6764, a 301 to "/"
		b.srv.URL() + "user1/contacts/",     // a collection
	} {
		t.Run(base, func(t *testing.T) {
			c := *b.c
			c.BaseURL = base
			d, err := c.Discover(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Principal != "/user1/" || d.AddressBookHome != "/user1/" || d.CalendarHome != "/user1/" {
				t.Errorf("principal %q, homes %q %q", d.Principal, d.AddressBookHome, d.CalendarHome)
			}
			var got []string
			for _, col := range d.Collections {
				got = append(got, col.Href+" "+string(col.Type)+" "+col.DisplayName+" "+strings.Join(col.Components, ","))
				if col.CTag == "" || !strings.HasPrefix(col.SyncToken, "http://radicale.org/ns/sync/") || !col.SupportsSync || col.ReadOnly {
					t.Errorf("%s: ctag %q, sync token %q, supports sync %v, read-only %v", col.Href, col.CTag, col.SyncToken, col.SupportsSync, col.ReadOnly)
				}
			}
			want := []string{
				"/user1/any/ calendar Anything VTODO,VEVENT,VJOURNAL", // Radicale names its default
				"/user1/contacts/ addressbook Contacts ",
				"/user1/tasks/ calendar Tasks VTODO",
				"/user1/work/ calendar Work VEVENT,VTODO",
			}
			if !slices.Equal(got, want) {
				t.Errorf("collections:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if n := len(d.AddressBooks()); n != 1 {
				t.Errorf("%d address books", n)
			}
			if cals := d.Calendars(); len(cals) != 3 || cals[1].Supports("VEVENT") || !cals[1].Supports("vtodo") {
				t.Errorf("calendars %+v", cals)
			}
		})
	}

	// StatCollection: the CTag and token move when another client writes.
	before, err := b.c.StatCollection(b.ctx, b.book.Href)
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Put(t, b.user, b.book.Href+"y.vcf", string(vcard("y", "Y Z")))
	after, err := b.c.StatCollection(b.ctx, strings.TrimSuffix(b.book.Href, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if after.Href != b.book.Href || after.CTag == before.CTag || after.SyncToken == before.SyncToken {
		t.Errorf("before %+v\nafter %+v", before, after)
	}
	if _, err := b.c.StatCollection(b.ctx, "/user1/"); err == nil {
		t.Error("StatCollection of the principal: no error")
	}
	if _, err := b.c.StatCollection(b.ctx, "/user1/nope/"); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("StatCollection of a missing collection: %v", err)
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	href := b.book.Href + "crm-42.vcf"
	card := vcard("crm-42", "Ada Lovelace")

	etag, err := b.c.Create(b.ctx, href, card, "")
	if err != nil || etag == "" {
		t.Fatalf("Create: etag %q, %v", etag, err)
	}
	obj, err := b.c.Get(b.ctx, href)
	if err != nil {
		t.Fatal(err)
	}
	if obj.ETag != etag || !bytes.Contains(obj.Data, []byte("FN:Ada Lovelace")) || !strings.HasPrefix(obj.ContentType, "text/vcard") {
		t.Errorf("Get: %+v", obj)
	}

	// A repeated create (the answer to the first was lost) must not
	// overwrite.
	if _, err := b.c.Create(b.ctx, href, vcard("crm-42", "Someone Else"), ""); !errors.Is(err, dav.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	// The same UID under another href.
	_, err = b.c.Create(b.ctx, b.book.Href+"other.vcf", card, "text/vcard")
	var conflict *dav.UIDConflictError
	if !errors.Is(err, dav.ErrUIDConflict) || !errors.As(err, &conflict) || conflict.Href != b.book.Href+"other.vcf" {
		t.Errorf("Create with a taken UID: %v, want ErrUIDConflict", err)
	}

	etag2, err := b.c.Update(b.ctx, href, vcard("crm-42", "Ada King"), "", etag)
	if err != nil || etag2 == "" || etag2 == etag {
		t.Fatalf("Update: etag %q (was %q), %v", etag2, etag, err)
	}
	if _, err := b.c.Update(b.ctx, href, vcard("crm-42", "Ada Stale"), "", etag); !errors.Is(err, dav.ErrPrecondition) {
		t.Errorf("Update with a stale etag: %v, want ErrPrecondition", err)
	}

	// Another client edits: our etag2 is stale now; refetch, retry.
	b.srv.Put(t, b.user, href, string(vcard("crm-42", "Ada, Countess of Lovelace")))
	if _, err := b.c.Update(b.ctx, href, vcard("crm-42", "Ada Mine"), "", etag2); !errors.Is(err, dav.ErrPrecondition) {
		t.Errorf("Update after another client's edit: %v, want ErrPrecondition", err)
	}
	if err := b.c.Delete(b.ctx, href, etag2); !errors.Is(err, dav.ErrPrecondition) {
		t.Errorf("Delete with a stale etag: %v, want ErrPrecondition", err)
	}
	obj, err = b.c.Get(b.ctx, href)
	if err != nil || !bytes.Contains(obj.Data, []byte("Countess")) {
		t.Fatalf("Get after the other edit: %v %s", err, obj.Data)
	}
	etag3, err := b.c.Update(b.ctx, href, vcard("crm-42", "Ada Merged"), "", obj.ETag)
	if err != nil {
		t.Fatalf("Update with the refetched etag: %v", err)
	}

	if err := b.c.Delete(b.ctx, href, etag3); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.c.Get(b.ctx, href); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := b.c.Delete(b.ctx, href, ""); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	// Radicale answers an If-Match on a deleted item with 412, not 404.
	if _, err := b.c.Update(b.ctx, href, card, "", etag3); !errors.Is(err, dav.ErrPrecondition) && !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("Update of a deleted item: %v", err)
	}
	if _, err := b.c.Update(b.ctx, href, card, "", ""); err == nil {
		t.Error("Update without an etag: no error")
	}

	// Events and tasks, with a space and non-ASCII in the href.
	tasks, err := os.ReadFile("testdata/tasks.ics")
	if err != nil {
		t.Fatal(err)
	}
	taskHref := b.cal.Href + "tâche 1.ics"
	if _, err := b.c.Create(b.ctx, taskHref, tasks, ""); err != nil {
		t.Fatalf("Create task: %v", err)
	}
	items, err := b.c.List(b.ctx, b.cal.Href)
	if err != nil || len(items) != 1 || items[0].Href != taskHref {
		t.Fatalf("List: %v %v", items, err)
	}
	obj, err = b.c.Get(b.ctx, taskHref)
	if err != nil || !bytes.Contains(obj.Data, []byte("BEGIN:VTODO")) || obj.ETag != items[0].ETag {
		t.Errorf("Get task: %v %+v", err, obj)
	}
}

func TestMultiget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		coll  dav.Collection
		files map[string][]byte
	}{
		{b.book, testdata(t, "contacts")},
		{b.cal, testdata(t, "calendar")},
	} {
		// Put as "another client" did, each under its file name.
		uids := map[string]string{} // href -> UID
		var hrefs []string
		for name, data := range tc.files {
			href := tc.coll.Href + name
			b.srv.Put(t, b.user, href, string(data))
			uids[href] = uidOf(t, data)
			hrefs = append(hrefs, href)
		}
		items, err := b.c.List(b.ctx, tc.coll.Href)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(tc.files) {
			t.Fatalf("List %s: %d items, want %d", tc.coll.Href, len(items), len(tc.files))
		}
		etags := map[string]string{}
		for _, it := range items {
			etags[it.Href] = it.ETag
		}

		gone := tc.coll.Href + "gone.vcf"
		objs, missing, err := b.c.Multiget(b.ctx, tc.coll, append(hrefs, gone))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(missing, []string{gone}) {
			t.Errorf("missing %v, want [%s]", missing, gone)
		}
		if len(objs) != len(hrefs) {
			t.Errorf("%d objects, want %d", len(objs), len(hrefs))
		}
		for _, o := range objs {
			if o.ETag == "" || o.ETag != etags[o.Href] {
				t.Errorf("%s: etag %q, List said %q", o.Href, o.ETag, etags[o.Href])
			}
			if got := uidOf(t, o.Data); got != uids[o.Href] {
				t.Errorf("%s: UID %q, want %q", o.Href, got, uids[o.Href])
			}
		}
	}

	// More hrefs than one REPORT carries.
	var many []string
	for i := range dav.MultigetBatch + 5 {
		many = append(many, fmt.Sprintf("%snone-%d.vcf", b.book.Href, i))
	}
	objs, missing, err := b.c.Multiget(b.ctx, b.book, many)
	if err != nil || len(objs) != 0 || len(missing) != len(many) {
		t.Errorf("batched multiget of missing items: %d objects, %d missing, %v", len(objs), len(missing), err)
	}
}

func TestSyncCollection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := b.c.Create(b.ctx, b.book.Href+n+".vcf", vcard("uid-"+n, "Person "+n), ""); err != nil {
			t.Fatal(err)
		}
	}

	changed, deleted, token, err := b.c.SyncCollection(b.ctx, b.book.Href, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 3 || len(deleted) != 0 || token == "" {
		t.Fatalf("full sync: changed %v, deleted %v, token %q", changed, deleted, token)
	}
	list, err := b.c.List(b.ctx, b.book.Href)
	if err != nil || !slices.Equal(list, changed) {
		t.Errorf("full sync %v differs from List %v (%v)", changed, list, err)
	}

	changed, deleted, token2, err := b.c.SyncCollection(b.ctx, b.book.Href, token)
	if err != nil || len(changed)+len(deleted) != 0 || token2 != token {
		t.Errorf("no-change sync: %v %v %q %v", changed, deleted, token2, err)
	}

	// Another client creates d, edits a, deletes b.
	tagD := b.srv.Put(t, b.user, b.book.Href+"d.vcf", string(vcard("uid-d", "Person d")))
	tagA := b.srv.Put(t, b.user, b.book.Href+"a.vcf", string(vcard("uid-a", "Person a, edited")))
	b.srv.Delete(t, b.user, b.book.Href+"b.vcf")

	changed, deleted, token3, err := b.c.SyncCollection(b.ctx, b.book.Href, token)
	if err != nil {
		t.Fatal(err)
	}
	wantChanged := []dav.Item{{Href: b.book.Href + "a.vcf", ETag: tagA}, {Href: b.book.Href + "d.vcf", ETag: tagD}}
	if !slices.Equal(changed, wantChanged) || !slices.Equal(deleted, []string{b.book.Href + "b.vcf"}) || token3 == token {
		t.Errorf("incremental sync: changed %v (want %v), deleted %v, token moved %v", changed, wantChanged, deleted, token3 != token)
	}

	// Our own write shows up too (the engine recognises it by its etag).
	etagE, err := b.c.Create(b.ctx, b.book.Href+"e.vcf", vcard("uid-e", "Person e"), "")
	if err != nil {
		t.Fatal(err)
	}
	changed, _, token4, err := b.c.SyncCollection(b.ctx, b.book.Href, token3)
	if err != nil || !slices.Equal(changed, []dav.Item{{Href: b.book.Href + "e.vcf", ETag: etagE}}) {
		t.Errorf("after our create: %v %v", changed, err)
	}

	// Calendars sync the same way (go-webdav's CalDAV client cannot).
	if _, _, calToken, err := b.c.SyncCollection(b.ctx, b.cal.Href, ""); err != nil || calToken == "" {
		t.Errorf("calendar sync: %q %v", calToken, err)
	}

	// Tokens the server does not know.
	for _, bad := range []string{"garbage", "http://radicale.org/ns/sync/" + strings.Repeat("ab", 32)} {
		if _, _, _, err := b.c.SyncCollection(b.ctx, b.book.Href, bad); !errors.Is(err, dav.ErrInvalidSyncToken) {
			t.Errorf("token %q: %v, want ErrInvalidSyncToken", bad, err)
		}
	}
	// An expired token; the fallback is a full listing. (Radicale accepts
	// a token that names the current state even when expired, so change
	// something first.)
	b.srv.Put(t, b.user, b.book.Href+"f.vcf", string(vcard("uid-f", "Person f")))
	b.srv.ExpireSyncTokens(t, b.book.Href)
	if _, _, _, err := b.c.SyncCollection(b.ctx, b.book.Href, token4); !errors.Is(err, dav.ErrInvalidSyncToken) {
		t.Fatalf("expired token: %v, want ErrInvalidSyncToken", err)
	}
	changed, deleted, token5, err := b.c.SyncCollection(b.ctx, b.book.Href, "")
	if err != nil || len(changed) != 5 || token5 == "" {
		t.Errorf("full sync after expiry: changed %v, %v", changed, err)
	}
	// Radicale's full listing names b, deleted before; harmless.
	if len(deleted) > 0 && !slices.Equal(deleted, []string{b.book.Href + "b.vcf"}) {
		t.Errorf("full sync after expiry: deleted %v", deleted)
	}

	if _, _, _, err := b.c.SyncCollection(b.ctx, "/user1/nope/", ""); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("sync of a missing collection: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, _ := srv.User(1)
	c := &dav.Client{BaseURL: srv.URL(), Username: user, Password: "wrong"}
	calls := map[string]func() error{
		"Discover": func() error { _, err := c.Discover(t.Context()); return err },
		"List":     func() error { _, err := c.List(t.Context(), "/user1/contacts/"); return err },
		"Create": func() error {
			_, err := c.Create(t.Context(), "/user1/contacts/x.vcf", vcard("x", "X"), "")
			return err
		},
		"SyncCollection": func() error { _, _, _, err := c.SyncCollection(t.Context(), "/user1/contacts/", ""); return err },
	}
	for name, call := range calls {
		err := call()
		var e *connerr.Error
		if !errors.As(err, &e) || e.Kind != connerr.Auth || dav.StatusOf(err) != 401 || !strings.Contains(e.Message, "user1") {
			t.Errorf("%s: %v, want auth_failed", name, err)
		} else if e.Kind.Transient() {
			t.Errorf("%s: auth_failed counted transient", name)
		}
	}
}

// TestLastModified reads the server's date of an item: the time of its
// last write, to the second.
func TestLastModified(t *testing.T) {
	b := setup(t)
	before := time.Now().Add(-time.Second)
	href := b.book.Href + "dated.vcf"
	if _, err := b.c.Create(b.ctx, href, vcard("dated", "Dated Card"), ""); err != nil {
		t.Fatal(err)
	}
	got, err := b.c.LastModified(b.ctx, href)
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before.Truncate(time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("LastModified = %v, want about %v", got, before)
	}
	if _, err := b.c.LastModified(b.ctx, b.book.Href+"missing.vcf"); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("LastModified of a missing item: %v, want ErrNotFound", err)
	}
}
