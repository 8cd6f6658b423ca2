package radicale_test

import (
	"encoding/xml"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

const card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-1\r\nFN:Alice Liddell\r\nN:Liddell;Alice;;;\r\n" +
	"EMAIL;TYPE=INTERNET,WORK:alice@example.com\r\nEND:VCARD\r\n"

func vcard(uid, fn string) string {
	return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:" + fn + "\r\nN:" + fn + ";;;;\r\nEND:VCARD\r\n"
}

const event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync//test//EN\r\nBEGIN:VEVENT\r\nUID:ev-1@crmsync.test\r\n" +
	"DTSTAMP:20250101T090000Z\r\nDTSTART:20250102T100000Z\r\nDTEND:20250102T110000Z\r\nSUMMARY:Demo\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// multistatus is the part of RFC 4918 §14.16 (and RFC 6578 §6.4) the
// tests look at.
type multistatus struct {
	SyncToken string `xml:"DAV: sync-token"`
	Responses []struct {
		Href     string `xml:"DAV: href"`
		Status   string `xml:"DAV: status"`
		Propstat []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				ETag         string `xml:"DAV: getetag"`
				DisplayName  string `xml:"DAV: displayname"`
				SyncToken    string `xml:"DAV: sync-token"`
				CTag         string `xml:"http://calendarserver.org/ns/ getctag"`
				ResourceType struct {
					Any []struct{ XMLName xml.Name } `xml:",any"`
				} `xml:"DAV: resourcetype"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

func parse(t *testing.T, r *radicale.Response) *multistatus {
	t.Helper()
	if r.Status != http.StatusMultiStatus {
		t.Fatalf("status %d, want 207\n%s", r.Status, r.Body)
	}
	var ms multistatus
	if err := xml.Unmarshal(r.Body, &ms); err != nil {
		t.Fatalf("multistatus: %v\n%s", err, r.Body)
	}
	return &ms
}

func unescape(t *testing.T, href string) string {
	t.Helper()
	u, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

var xmlHeader = http.Header{"Content-Type": {"application/xml; charset=utf-8"}}

func syncReport(t *testing.T, srv *radicale.Server, user, coll, token string) *radicale.Response {
	t.Helper()
	body := `<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>` + token +
		`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	h := xmlHeader.Clone()
	h.Set("Depth", "0") // RFC 6578 §3.2
	return srv.Request(t, user, "REPORT", coll, h, body)
}

// changes maps each href of a sync-collection answer to its etag, or to
// "deleted" for a 404 response.
func changes(t *testing.T, ms *multistatus) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range ms.Responses {
		href := unescape(t, r.Href)
		switch {
		case strings.Contains(r.Status, " 404 "):
			out[href] = "deleted"
		case len(r.Propstat) > 0:
			out[href] = r.Propstat[0].Prop.ETag
		default:
			t.Errorf("response for %s: status %q and no propstat", href, r.Status)
		}
	}
	return out
}

func TestCollectionsAndItems(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	t.Logf("start-up took %v, %s", srv.StartupTime(), srv.URL())
	user, _ := srv.User(1)

	book := srv.CreateAddressBook(t, user, "contacts", "Contacts & Co")
	cal := srv.CreateCalendar(t, user, "work", "Work", "VEVENT", "VTODO")
	if book != "/user1/contacts/" || cal != "/user1/work/" {
		t.Fatalf("paths %q %q", book, cal)
	}

	etag := srv.Put(t, user, book+"alice.vcf", card)
	if etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("PUT ETag %q, want a strong quoted etag", etag)
	}
	body, getTag := srv.Get(t, user, book+"alice.vcf")
	if getTag != etag || !strings.Contains(body, "UID:alice-1") || !strings.Contains(body, "FN:Alice Liddell") {
		t.Errorf("GET: etag %q (PUT said %q), body\n%s", getTag, etag, body)
	}
	// Radicale stores its own serialization: the same lines, sorted.
	if body == card || strings.Index(body, "EMAIL") > strings.Index(body, "FN:") {
		t.Errorf("GET returned the card as PUT; the doc says Radicale re-serializes it:\n%s", body)
	}
	evTag := srv.Put(t, user, cal+"ev 1.ics", event) // a space, escaped on the wire
	if _, tag := srv.Get(t, user, cal+"ev 1.ics"); tag != evTag {
		t.Errorf("event etag %q, PUT said %q", tag, evTag)
	}

	// PROPFIND Depth 1 on the home: both collections with their types.
	propfind := `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">` +
		`<D:prop><D:resourcetype/><D:displayname/><D:sync-token/><CS:getctag/></D:prop></D:propfind>`
	h := xmlHeader.Clone()
	h.Set("Depth", "1")
	ms := parse(t, srv.Request(t, user, "PROPFIND", "/user1/", h, propfind))
	kinds := map[string][]string{}
	for _, r := range ms.Responses {
		p := r.Propstat[0].Prop
		var types []string
		for _, a := range p.ResourceType.Any {
			types = append(types, a.XMLName.Local)
		}
		kinds[unescape(t, r.Href)] = types
		if href := unescape(t, r.Href); href == book {
			if p.DisplayName != "Contacts & Co" || !strings.HasPrefix(p.SyncToken, "http://radicale.org/ns/sync/") || p.CTag == "" {
				t.Errorf("address book props: %+v", p)
			}
		}
	}
	if !slices.Contains(kinds[book], "addressbook") || !slices.Contains(kinds[cal], "calendar") || !slices.Contains(kinds["/user1/"], "principal") {
		t.Errorf("resource types: %v", kinds)
	}

	// PROPFIND Depth 1 on the calendar: the event, with the GET's etag.
	ms = parse(t, srv.Request(t, user, "PROPFIND", cal, h, `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`))
	got := map[string]string{}
	for _, r := range ms.Responses {
		got[unescape(t, r.Href)] = r.Propstat[0].Prop.ETag
	}
	if got[cal+"ev 1.ics"] != evTag || len(got) != 2 {
		t.Errorf("calendar listing %v, want the collection and %q with %s", got, cal+"ev 1.ics", evTag)
	}

	// owner_only: another user sees nothing of user1.
	if r := srv.Request(t, "user2", "PROPFIND", book, h, ""); r.Status != http.StatusForbidden {
		t.Errorf("user2 PROPFIND %s: %d, want 403", book, r.Status)
	}
	// Creating over an existing object is refused.
	r := srv.Request(t, user, http.MethodPut, book+"alice.vcf", http.Header{"If-None-Match": {"*"}, "Content-Type": {"text/vcard"}}, card)
	if r.Status != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match: * over an existing card: %d, want 412", r.Status)
	}
}

// TestSyncCollection: RFC 6578 on Radicale. The first REPORT (empty token)
// lists everything; one with the token it returned lists only what changed
// since, deletions as 404 responses.
func TestSyncCollection(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	user, _ := srv.User(2)
	book := srv.CreateAddressBook(t, user, "contacts", "Contacts")
	for _, n := range []string{"a", "b", "c"} {
		srv.Put(t, user, book+n+".vcf", vcard("uid-"+n, "Person "+strings.ToUpper(n)))
	}

	ms := parse(t, syncReport(t, srv, user, book, ""))
	first := changes(t, ms)
	if len(first) != 3 || !strings.HasPrefix(ms.SyncToken, "http://radicale.org/ns/sync/") {
		t.Fatalf("initial sync: %v, token %q", first, ms.SyncToken)
	}
	token1 := ms.SyncToken

	// Nothing changed: the same token, no responses.
	ms = parse(t, syncReport(t, srv, user, book, token1))
	if len(ms.Responses) != 0 || ms.SyncToken != token1 {
		t.Errorf("no-change sync: %d responses, token %q (was %q)", len(ms.Responses), ms.SyncToken, token1)
	}

	// Another client adds d, edits a, deletes b.
	tagD := srv.Put(t, user, book+"d.vcf", vcard("uid-d", "Person D"))
	tagA := srv.Put(t, user, book+"a.vcf", vcard("uid-a", "Person A (edited)"))
	srv.Delete(t, user, book+"b.vcf")

	ms = parse(t, syncReport(t, srv, user, book, token1))
	got := changes(t, ms)
	want := map[string]string{book + "a.vcf": tagA, book + "b.vcf": "deleted", book + "d.vcf": tagD}
	if !maps.Equal(got, want) {
		t.Errorf("incremental sync: %v, want %v", got, want)
	}
	token2 := ms.SyncToken
	if token2 == token1 || token2 == "" {
		t.Errorf("token did not move: %q", token2)
	}
	if ms := parse(t, syncReport(t, srv, user, book, token2)); len(ms.Responses) != 0 {
		t.Errorf("sync after the incremental one: %v", changes(t, ms))
	}
	// The old token still works (Radicale keeps every token's state).
	if got := changes(t, parse(t, syncReport(t, srv, user, book, token1))); !maps.Equal(got, want) {
		t.Errorf("replaying token1: %v", got)
	}

	// Invalid and expired tokens: 403 with DAV:valid-sync-token.
	for name, tok := range map[string]string{
		"garbage":       "not-a-token",
		"unknown token": "http://radicale.org/ns/sync/" + strings.Repeat("0", 64),
	} {
		r := syncReport(t, srv, user, book, tok)
		if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "valid-sync-token") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	srv.Put(t, user, book+"e.vcf", vcard("uid-e", "Person E"))
	srv.ExpireSyncTokens(t, book)
	if r := syncReport(t, srv, user, book, token2); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "valid-sync-token") {
		t.Errorf("expired token: %d %s", r.Status, r.Body)
	}
	// A full sync hands out a fresh token that works again. Radicale's full
	// sync also reports the items deleted earlier (b), as 404s.
	ms = parse(t, syncReport(t, srv, user, book, ""))
	full := changes(t, ms)
	if len(full) != 5 || full[book+"b.vcf"] != "deleted" || full[book+"e.vcf"] == "deleted" {
		t.Errorf("full sync after expiry: %v, want a, c, d, e and b deleted", full)
	}
	if r := syncReport(t, srv, user, book, ms.SyncToken); r.Status != http.StatusMultiStatus {
		t.Errorf("fresh token: %d", r.Status)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, &radicale.Options{Users: 1})
	user, _ := srv.User(1)
	cal := srv.CreateCalendar(t, user, "calendar", "Calendar")
	etag := srv.Put(t, user, cal+"ev.ics", event)
	port := srv.Port

	srv.Restart()
	if srv.Port != port {
		t.Errorf("port moved from %d to %d", port, srv.Port)
	}
	if _, tag := srv.Get(t, user, cal+"ev.ics"); tag != etag {
		t.Errorf("after restart: etag %q, want %q", tag, etag)
	}

	srv.Stop()
	srv.Stop() // no-op
	req, _ := http.NewRequest(http.MethodOptions, srv.URL(), nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Stop")
	}
	srv.Start()
	srv.Start() // no-op
	if _, tag := srv.Get(t, user, cal+"ev.ics"); tag != etag {
		t.Errorf("after Stop/Start: etag %q, want %q", tag, etag)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	srv := radicale.Start(t, nil)
	req, _ := http.NewRequest("PROPFIND", srv.URL()+"user1/", nil)
	req.SetBasicAuth("user1", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong password: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
}
