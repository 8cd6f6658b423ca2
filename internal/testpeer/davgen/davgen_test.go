package davgen

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
	"github.com/crmsync/crmsync/internal/pim/carddav"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

func TestDeterministic(t *testing.T) {
	for name, gen := range map[string]func(int64, int) []Item{"vcards": VCards, "events": Events} {
		a, b := gen(7, 40), gen(7, 25)
		for i := range b {
			if a[i] != b[i] {
				t.Fatalf("%s: item %d differs with the number of items asked for", name, i)
			}
		}
		if c := gen(8, 25); c[3] == b[3] {
			t.Errorf("%s: seeds 7 and 8 give the same item 3", name)
		}
		seen := map[string]bool{}
		for _, it := range gen(7, 2000) {
			if seen[it.UID] || seen[it.Name] {
				t.Fatalf("%s: UID %s or name %s twice", name, it.UID, it.Name)
			}
			seen[it.UID], seen[it.Name] = true, true
		}
	}
}

// lines checks the content-line form of a body and returns its unfolded
// lines.
func lines(t *testing.T, it Item) []string {
	t.Helper()
	if !strings.HasSuffix(it.Body, "\r\n") || strings.Contains(strings.ReplaceAll(it.Body, "\r\n", ""), "\n") {
		t.Fatalf("%s: not CRLF line ends", it.Name)
	}
	for _, l := range strings.Split(strings.TrimSuffix(it.Body, "\r\n"), "\r\n") {
		if len(l) > 75 || !utf8.ValidString(l) {
			t.Fatalf("%s: line of %d octets (or bad UTF-8): %q", it.Name, len(l), l)
		}
	}
	out := strings.Split(strings.TrimSuffix(unfold(it.Body), "\r\n"), "\r\n")
	depth := 0
	for _, l := range out {
		switch {
		case strings.HasPrefix(l, "BEGIN:"):
			depth++
		case strings.HasPrefix(l, "END:"):
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("%s: unbalanced BEGIN/END", it.Name)
	}
	return out
}

func TestVCardsContent(t *testing.T) {
	cards := VCards(1, 1000)
	count := map[string]int{}
	for _, it := range cards {
		ls := lines(t, it)
		if ls[0] != "BEGIN:VCARD" || ls[len(ls)-1] != "END:VCARD" || !slices.Contains(ls, "UID:"+it.UID) {
			t.Fatalf("%s: not one vCard with its UID:\n%s", it.Name, it.Body)
		}
		if it.Name != fileName(it.UID, ".vcf") {
			t.Fatalf("name %q for UID %q", it.Name, it.UID)
		}
		emails := map[string]bool{}
		for _, l := range ls {
			prop, _, _ := strings.Cut(l, ":")
			prop, _, _ = strings.Cut(prop, ";")
			prop = strings.TrimPrefix(prop, "item1.")
			count[prop]++
			if prop == "EMAIL" {
				e := strings.ToLower(l[strings.LastIndexByte(l, ':')+1:])
				if emails[e] {
					t.Fatalf("%s: address %s twice", it.Name, e)
				}
				emails[e] = true
			}
		}
		count["VERSION:"+ls[1][len("VERSION:"):]]++
		if len(emails) < 2 {
			t.Fatalf("%s: %d addresses", it.Name, len(emails))
		}
	}
	t.Logf("properties in 1000 cards: %v", count)
	for prop, atLeast := range map[string]int{"FN": 1000, "N": 1000, "ORG": 1000, "TITLE": 700, "EMAIL": 2000, "TEL": 1000,
		"ADR": 650, "NOTE": 400, "CATEGORIES": 600, "PHOTO": 10, "BDAY": 100, "VERSION:4.0": 60, "VERSION:3.0": 850} {
		if count[prop] < atLeast {
			t.Errorf("%s in %d of 1000 cards, want at least %d", prop, count[prop], atLeast)
		}
	}
}

func TestEventsContent(t *testing.T) {
	events := Events(1, 1000)
	kinds := map[string]int{}
	for _, it := range events {
		ls := lines(t, it)
		if ls[0] != "BEGIN:VCALENDAR" || !slices.Contains(ls, "UID:"+it.UID) || it.Name != fileName(it.UID, ".ics") {
			t.Fatalf("%s: not a calendar with its UID:\n%s", it.Name, it.Body)
		}
		defined := map[string]bool{}
		used := map[string]bool{}
		var rrule, exdate, override, allDay, cats bool
		for _, l := range ls {
			if v, ok := strings.CutPrefix(l, "TZID:"); ok {
				defined[v] = true
			}
			if _, rest, ok := strings.Cut(l, ";TZID="); ok {
				used[rest[:strings.IndexByte(rest, ':')]] = true
			}
			rrule = rrule || strings.HasPrefix(l, "RRULE:FREQ=WEEKLY;BYDAY")
			exdate = exdate || strings.HasPrefix(l, "EXDATE")
			override = override || strings.HasPrefix(l, "RECURRENCE-ID")
			allDay = allDay || strings.HasPrefix(l, "DTSTART;VALUE=DATE:")
			cats = cats || strings.HasPrefix(l, "CATEGORIES:")
		}
		for z := range used {
			if !defined[z] {
				t.Fatalf("%s: TZID %q without its VTIMEZONE", it.Name, z)
			}
			kinds["zone "+z]++
		}
		if rrule && exdate && override {
			kinds["weekly with EXDATE and override"]++
		}
		if rrule {
			kinds["weekly"]++
		}
		if allDay {
			kinds["all-day"]++
		}
		if cats {
			kinds["categories"]++
		}
		if len(used) == 0 && !allDay {
			kinds["UTC or floating"]++
		}
	}
	t.Logf("in 1000 events: %v", kinds)
	for k, atLeast := range map[string]int{"weekly with EXDATE and override": 80, "weekly": 120, "all-day": 80, "categories": 400,
		"UTC or floating": 80, "zone Europe/Paris": 150, "zone America/New_York": 100, "zone W. Europe Standard Time": 60,
		"zone Pacific Standard Time": 15} {
		if kinds[k] < atLeast {
			t.Errorf("%s: %d of 1000 events, want at least %d", k, kinds[k], atLeast)
		}
	}
}

// TestCodecsDecodeEverything: the project's codecs read every generated
// object (a benchmark importing them counts on it).
func TestCodecsDecodeEverything(t *testing.T) {
	for _, it := range VCards(1, 2000) {
		c, err := carddav.Decode([]byte(it.Body))
		if err != nil || c.UID != it.UID || len(c.Fields[pim.FieldEmails].List) < 2 {
			t.Fatalf("%s: %v, UID %q, fields %v\n%s", it.Name, err, c.UID, c.Fields, it.Body)
		}
	}
	for _, it := range Events(1, 1000) {
		e, err := caldav.Decode([]byte(it.Body))
		if err != nil || e.UID != it.UID || e.Type != caldav.TypeEvent || e.Fields[pim.FieldStart].Str == "" {
			t.Fatalf("%s: %v, UID %q, fields %v\n%s", it.Name, err, e.UID, e.Fields, it.Body)
		}
	}
}

func davClient(srv *radicale.Server) *dav.Client {
	user, pass := srv.User(1)
	return &dav.Client{BaseURL: srv.URL(), Username: user, Password: pass}
}

// listNames lists a collection through the project's DAV client and
// fetches every item; it returns the bodies by file name.
func listNames(t *testing.T, c *dav.Client, coll string, typ dav.CollectionType) map[string]string {
	t.Helper()
	ctx := context.Background()
	items, err := c.List(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	var hrefs []string
	for _, it := range items {
		hrefs = append(hrefs, it.Href)
	}
	objs, missing, err := c.Multiget(ctx, dav.Collection{Href: coll, Type: typ}, hrefs)
	if err != nil || len(missing) > 0 {
		t.Fatalf("multiget: %v, missing %v", err, missing)
	}
	out := map[string]string{}
	for _, o := range objs {
		out[path.Base(o.Href)] = string(o.Data)
	}
	if len(out) != len(items) {
		t.Fatalf("listed %d items, fetched %d", len(items), len(out))
	}
	return out
}

// TestLoad loads 20 vCards and 20 events in bulk, lists them with the
// project's DAV client, loads again (replacing), and loads items whose
// names Radicale would not choose (written as files).
func TestLoad(t *testing.T) {
	srv := radicale.Start(t, nil)
	user, _ := srv.User(1)
	book := srv.CreateAddressBook(t, user, "contacts", "My Contacts")
	cal := srv.CreateCalendar(t, user, "calendar", "Work & Life", "VEVENT")
	c := davClient(srv)

	cards, events := VCards(3, 20), Events(3, 20)
	Load(t, srv, user, book, cards)
	Load(t, srv, user, cal, events)
	gotCards := listNames(t, c, book, dav.AddressBook)
	gotEvents := listNames(t, c, cal, dav.Calendar)
	for _, set := range []struct {
		items []Item
		got   map[string]string
	}{{cards, gotCards}, {events, gotEvents}} {
		if len(set.got) != 20 {
			t.Fatalf("listed %d items, want 20", len(set.got))
		}
		for _, it := range set.items {
			body, ok := set.got[it.Name]
			if !ok || !strings.Contains(unfold(body), "UID:"+it.UID) {
				t.Errorf("%s: not stored under its name with its UID (%v)", it.Name, ok)
			}
		}
	}
	// A Windows zone and the recurrence survive the split of the bulk
	// calendar.
	found := false
	for _, it := range Events(3, 20) {
		if strings.Contains(it.Body, "TZID=W. Europe Standard Time") {
			body := unfold(gotEvents[it.Name])
			found = true
			if !strings.Contains(body, "TZID:W. Europe Standard Time") || !strings.Contains(body, "TZID=W. Europe Standard Time:") {
				t.Errorf("%s lost its Windows zone:\n%s", it.Name, body)
			}
			if d, err := caldav.Decode([]byte(gotEvents[it.Name])); err != nil || !strings.HasSuffix(d.Fields[pim.FieldStart].Str, "]") {
				t.Errorf("%s as stored: %v, start %q", it.Name, err, d.Fields[pim.FieldStart].Str)
			}
		}
		if strings.Contains(it.Body, "RECURRENCE-ID") && strings.Count(gotEvents[it.Name], "BEGIN:VEVENT") != strings.Count(it.Body, "BEGIN:VEVENT") {
			t.Errorf("%s lost an overridden instance:\n%s", it.Name, gotEvents[it.Name])
		}
	}
	if !found {
		t.Log("no event in a Windows zone among the 20")
	}
	// The whole-collection PUT kept the collections' properties.
	ctx := context.Background()
	for coll, want := range map[string]string{book: "My Contacts", cal: "Work & Life"} {
		st, err := c.StatCollection(ctx, coll)
		if err != nil || st.DisplayName != want {
			t.Fatalf("%s after Load: %+v, %v", coll, st, err)
		}
		if coll == cal && !slices.Equal(st.Components, []string{"VEVENT"}) {
			t.Errorf("calendar components after Load: %v", st.Components)
		}
	}

	// Loading again replaces the content.
	Load(t, srv, user, book, VCards(4, 10))
	if got := listNames(t, c, book, dav.AddressBook); len(got) != 10 {
		t.Errorf("after loading 10 over 20: %d items", len(got))
	}

	// Names of the caller's choosing: written as files, and Radicale
	// serves them.
	var named []Item
	for i, it := range VCards(5, 20) {
		it.Name = fmt.Sprintf("c%04d.vcf", i+1)
		named = append(named, it)
	}
	Load(t, srv, user, book, named)
	got := listNames(t, c, book, dav.AddressBook)
	for _, it := range named {
		if !strings.Contains(unfold(got[it.Name]), "UID:"+it.UID) {
			t.Errorf("%s: not served after writing the files (%d items listed)", it.Name, len(got))
		}
	}
	// A change after that goes through Radicale as usual.
	srv.Put(t, user, book+"c0001.vcf", strings.Replace(named[0].Body, "END:VCARD", "NOTE:changed\r\nEND:VCARD", 1))
	if body, _ := srv.Get(t, user, book+"c0001.vcf"); !strings.Contains(body, "NOTE:changed") {
		t.Error("a PUT after writing the files did not take")
	}
	if r := srv.Request(t, user, http.MethodGet, book+"c0002.vcf", nil, ""); r.Status != http.StatusOK {
		t.Errorf("GET c0002.vcf: %d", r.Status)
	}
}
