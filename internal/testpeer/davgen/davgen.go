// Package davgen generates deterministic, realistic vCards and iCalendar
// events for tests and benchmarks, and loads them into a throwaway Radicale
// (testpeer/radicale) quickly.
//
//	cards := davgen.VCards(1, 5000) // item i depends only on (seed, i)
//	book := srv.CreateAddressBook(t, user, "contacts", "Contacts")
//	davgen.Load(t, srv, user, book, cards)
//
// The content is modelled on the shared peers kit's gen_dav.py (which the
// project must not depend on at test time):
//
//   - vCards: vCard 3.0, one in ten 4.0; FN and N (with a prefix now and
//     then), ORG with a department, TITLE, two EMAILs (work and private; a
//     third one Apple-style grouped, item1.EMAIL + item1.X-ABLabel, now and
//     then), TEL in many national formats, ADR, NOTE with escapes and long
//     folded lines, CATEGORIES, BDAY, URL, NICKNAME, a small PNG PHOTO on
//     about 3 %, REV; names in several scripts; about 3 % company-only
//     cards and 2 % people that appear twice (same addresses, another UID).
//   - Events: timed events in Europe/Paris, America/New_York, Asia/Tokyo
//     and Windows/Outlook zone names ("W. Europe Standard Time", "Pacific
//     Standard Time", "Eastern Standard Time"), each with its VTIMEZONE;
//     UTC, floating and all-day ones (some spanning days, some yearly);
//     about a third recurring (mostly weekly, also daily, monthly, yearly;
//     COUNT, UNTIL or forever), most weekly ones with an EXDATE and an
//     overridden instance (RECURRENCE-ID: moved or cancelled); organizer
//     and attendees taken from the contacts, alarms, CATEGORIES,
//     multilingual text.
//
// Every object is valid for Radicale 3.1 (which refuses, e.g., overrides
// without their master), lines are folded at 75 octets and end in CRLF.
// Item i of a seed depends on (seed, i) only, so VCards(seed, 100)[:20]
// is VCards(seed, 20); it is stable for one Go release.
package davgen

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// Item is one vCard or calendar object.
type Item struct {
	// Name is the item's file name in its collection: its UID plus
	// ".vcf" or ".ics" — the name Radicale itself gives an item uploaded
	// with the whole collection, so Load keeps it either way.
	Name string
	// UID is the object's UID.
	UID string
	// Body is the vCard or the VCALENDAR object, CRLF line ends.
	Body string
}

// ---- randomness ----

// rng returns the generator of one item: it depends on the seed, the kind
// of thing and its number only, so that item i is the same whatever the
// number of items asked for.
func rng(seed int64, kind string, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", kind, i)
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// weighted picks an index with the given weights.
func weighted(r *rand.Rand, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// uidFor is a UUID-shaped UID derived from (seed, kind, i).
func uidFor(seed int64, kind string, i int) string {
	s := sha1.Sum(fmt.Appendf(nil, "%d/%s/%d", seed, kind, i))
	h := hex.EncodeToString(s[:])
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// ---- content lines ----

// fold folds a content line at 75 octets without splitting a UTF-8
// character (RFC 6350 §3.2, RFC 5545 §3.1) and ends it with CRLF.
func fold(b *strings.Builder, line string) {
	n := 0
	for len(line) > 0 {
		_, size := utf8.DecodeRuneInString(line)
		if n+size > 75 {
			b.WriteString("\r\n ")
			n = 1
		}
		b.WriteString(line[:size])
		n += size
		line = line[size:]
	}
	b.WriteString("\r\n")
}

func render(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		fold(&b, l)
	}
	return b.String()
}

// esc escapes a TEXT value (RFC 6350 §3.4, RFC 5545 §3.3.11).
func esc(v string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\n", `\n`).Replace(v)
}

// ---- people ----

type lang struct {
	firsts, lasts [][2]string // display, ASCII (for addresses)
	familyFirst   bool
	street        [4]string // street format (%d), city, postal code, country
	weight        int
}

var langs = []lang{
	{firsts: ascii("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
		"Susan", "Richard", "Jessica", "Thomas", "Sarah", "Chris", "Karen", "Daniel", "Nancy", "Emily", "Olivia", "Priya", "Kwame"),
		lasts: ascii("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark", "O'Brien",
			"Walker", "Young", "Patel", "Nguyen", "Lee", "Evans", "Hughes", "Mensah"),
		street: [4]string{"%d Market Street, Suite 400", "San Francisco", "94105", "USA"}, weight: 55},
	{firsts: [][2]string{{"Jürgen", "juergen"}, {"Anna", "anna"}, {"Björn", "bjoern"}, {"Hannah", "hannah"}, {"Lukas", "lukas"}, {"Sophie", "sophie"}},
		lasts:  [][2]string{{"Müller", "mueller"}, {"Schäfer", "schaefer"}, {"Becker", "becker"}, {"Weiß", "weiss"}, {"Fischer", "fischer"}},
		street: [4]string{"Hauptstraße %d", "Berlin", "10115", "Deutschland"}, weight: 10},
	{firsts: [][2]string{{"François", "francois"}, {"Hélène", "helene"}, {"Chloé", "chloe"}, {"Étienne", "etienne"}, {"Margaux", "margaux"}},
		lasts:  [][2]string{{"Lefèvre", "lefevre"}, {"Côté", "cote"}, {"Moreau", "moreau"}, {"Laurent", "laurent"}, {"Dupont", "dupont"}},
		street: [4]string{"%d rue de l'Église", "Paris", "75004", "France"}, weight: 8},
	{firsts: [][2]string{{"José", "jose"}, {"Inés", "ines"}, {"Lucía", "lucia"}, {"Álvaro", "alvaro"}},
		lasts:  [][2]string{{"García", "garcia"}, {"Núñez", "nunez"}, {"Fernández", "fernandez"}, {"Martín", "martin"}},
		street: [4]string{"Calle Mayor %d", "Madrid", "28013", "España"}, weight: 6},
	{firsts: [][2]string{{"Екатерина", "ekaterina"}, {"Дмитрий", "dmitry"}, {"Ольга", "olga"}},
		lasts:  [][2]string{{"Смирнова", "smirnova"}, {"Иванов", "ivanov"}, {"Кузнецова", "kuznetsova"}},
		street: [4]string{"ул. Тверская, д. %d", "Москва", "125009", "Россия"}, weight: 5},
	{firsts: [][2]string{{"太郎", "taro"}, {"花子", "hanako"}, {"健", "ken"}}, lasts: [][2]string{{"田中", "tanaka"}, {"鈴木", "suzuki"}, {"佐藤", "sato"}},
		familyFirst: true, street: [4]string{"千代田区丸の内%d-1", "東京都", "100-0005", "日本"}, weight: 5},
	{firsts: [][2]string{{"伟", "wei"}, {"芳", "fang"}, {"娜", "na"}}, lasts: [][2]string{{"王", "wang"}, {"李", "li"}, {"张", "zhang"}},
		familyFirst: true, street: [4]string{"朝阳区建国路%d号", "北京", "100022", "中国"}, weight: 5},
	{firsts: [][2]string{{"Łukasz", "lukasz"}, {"Zoë", "zoe"}, {"Søren", "soren"}, {"Çağla", "cagla"}},
		lasts:  [][2]string{{"Wróbel", "wrobel"}, {"Ødegård", "odegaard"}, {"Kierkegård", "kierkegard"}, {"Yılmaz", "yilmaz"}},
		street: [4]string{"ul. Długa %d", "Gdańsk", "80-827", "Polska"}, weight: 6},
}

func ascii(names ...string) [][2]string {
	out := make([][2]string, len(names))
	for i, n := range names {
		out[i] = [2]string{n, strings.ToLower(strings.ReplaceAll(n, "'", ""))}
	}
	return out
}

var (
	domainWords  = []string{"acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "wonka", "tyrell", "cyberdyne", "soylent", "north", "river", "summit", "pixel", "quantum", "atlas", "nova", "orbit", "cedar", "harbor", "falcon", "granite", "zenith", "lumen"}
	domainSuffix = []string{"corp", "labs", "systems", "group", "tech", "soft", "works", "media", "consulting", "logistics", "energy", "health", "foods", ""}
	tlds         = []string{"com", "com", "com", "com", "com", "net", "org", "io", "de", "fr", "co.uk", "es", "co.jp", "example"}
	freemail     = []string{"mailbox.example", "webmail.example", "post.example"}
	departments  = []string{"Sales", "Procurement", "IT", "Legal", "Marketing", ""}
	titles       = []string{"Account Executive", "Head of Procurement", "CTO", "CEO", "Office Manager", "Sales Engineer",
		"Customer Success Manager", "VP Marketing", "Einkaufsleiter", "Directrice commerciale", "営業部長",
		"Менеджер по закупкам", "采购经理", "Founder & CEO", "Legal Counsel, EMEA"}
	cardCategories = []string{"Customers", "Prospects", "Partners", "VIP", "Suppliers", "Press", "Investors", "Friends",
		"Family", "Kunden", "Clients", "客户", "Лиды", "Newsletter", "Board"}
	notes = []string{"Met at the trade fair; interested in the enterprise plan.",
		"Prefers phone calls; do NOT email on weekends!\nAssistant: Maria (ext. 204)",
		"Decision maker for EMEA; budget approved for Q3, follow up after the board meeting; send pricing sheet v2 and case study.",
		"Rückruf erwünscht – bitte nur vormittags.", "Contact via LinkedIn first; very responsive.",
		"紹介者: 田中さん。来月の展示会で再会予定。", "Ключевой клиент, договор до 2026 года.",
		`Notes with special characters: comma, semicolon; backslash \ and a very long line that will certainly need folding because it is much longer than seventy-five octets.`}
	phoneFormats = []string{"+1 (415) 555-%04d", "+1-212-555-%04d", "+49 30 %07d", "030/%07d", "+33 1 42 %02d %02d %02d",
		"+44 20 7946 %04d", "+81-3-%04d-%04d", "+86 10 %08d", "+7 495 %03d-%02d-%02d", "+34 91 %03d %04d", "+91 98%08d"}
	cardProdIDs = []string{"-//davgen//contacts 1.0//EN", "-//Apple Inc.//iOS 17.1//EN", "-//Sabre//Sabre VObject 4.5.1//EN", "-//Thunderbird//CardBook//EN"}
)

// person is a contact's identity, shared by the vCards and the events'
// attendees.
type person struct {
	first, last, fn string
	lang            *lang
	emails          []string // first: work
	org, orgDomain  string
}

// domain is one of 60 company domains of the seed.
func domain(seed int64, k int) string {
	r := rng(seed, "domain", k)
	return pick(r, domainWords) + pick(r, domainSuffix) + "." + pick(r, tlds)
}

// personFor returns the identity of contact i; about 2 % (after the
// first 50) are a person met before: same names and addresses.
func personFor(seed int64, i int) person {
	r := rng(seed, "person", i)
	if i > 50 && r.Float64() < 0.02 {
		return personFor(seed, r.IntN(i))
	}
	ws := make([]int, len(langs))
	for k, l := range langs {
		ws[k] = l.weight
	}
	l := &langs[weighted(r, ws...)]
	f, la := pick(r, l.firsts), pick(r, l.lasts)
	p := person{first: f[0], last: la[0], lang: l}
	p.fn = f[0] + " " + la[0]
	if l.familyFirst {
		p.fn = la[0] + " " + f[0]
		if r.Float64() < 0.7 {
			p.fn = la[0] + f[0]
		}
	}
	p.orgDomain = domain(seed, r.IntN(60))
	org, _, _ := strings.Cut(p.orgDomain, ".")
	p.org = strings.ToUpper(org[:1]) + org[1:]
	local := fmt.Sprintf(pick(r, []string{"%s.%s", "%s%s", "%s_%s"}), f[1], la[1])
	work := local + "@" + p.orgDomain
	if r.Float64() < 0.08 {
		work = strings.ToUpper(local[:1]) + local[1:] + "@" + p.orgDomain // as typed by people
	}
	// The private address carries the contact's number: unique, never
	// equal to the work one.
	p.emails = []string{work, fmt.Sprintf("%s%d@%s", f[1], i, pick(r, freemail))}
	if r.Float64() < 0.2 {
		p.emails = append(p.emails, fmt.Sprintf("%s.%s.%d@%s", la[1], f[1], i, pick(r, freemail)))
	}
	return p
}

func phone(r *rand.Rand) string {
	f := pick(r, phoneFormats)
	var args []any
	for rest := f; ; {
		at := strings.IndexByte(rest, '%')
		if at < 0 {
			break
		}
		width := int(rest[at+2] - '0')
		lo, hi := 1, 1
		for k := 0; k < width; k++ {
			hi *= 10
		}
		lo = hi / 10
		args = append(args, lo+r.IntN(hi-lo))
		rest = rest[at+4:]
	}
	return fmt.Sprintf(f, args...)
}

// ---- vCards ----

// VCards returns vCards 0..n-1 of seed.
func VCards(seed int64, n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = VCard(seed, i)
	}
	return out
}

// VCard returns vCard i of seed.
func VCard(seed int64, i int) Item {
	r := rng(seed, "vcard", i)
	p := personFor(seed, i)
	uid := uidFor(seed, "vcard", i)
	if r.Float64() < 0.3 {
		uid = "urn:uuid:" + uid
	}
	v4 := r.Float64() < 0.10
	companyOnly := r.Float64() < 0.03
	version := "3.0"
	if v4 {
		version = "4.0"
	}
	L := []string{"BEGIN:VCARD", "VERSION:" + version, "PRODID:" + pick(r, cardProdIDs), "UID:" + uid}
	emails := p.emails
	if companyOnly {
		name := p.org + " " + pick(r, []string{"GmbH", "Inc.", "Ltd", "SARL", "株式会社"})
		L = append(L, "FN:"+esc(name), "N:;;;;", "ORG:"+esc(p.org))
		if v4 {
			L = append(L, "KIND:org")
		} else {
			L = append(L, "X-ABShowAs:COMPANY")
		}
		emails = []string{fmt.Sprintf("info%d@%s", i, p.orgDomain), fmt.Sprintf("sales%d@%s", i, p.orgDomain)}
	} else {
		L = append(L, "FN:"+esc(p.fn),
			fmt.Sprintf("N:%s;%s;;%s;", esc(p.last), esc(p.first), pick(r, []string{"", "", "", "Dr.", "Prof.", "Mr.", "Ms."})),
			fmt.Sprintf("ORG:%s;%s", esc(p.org), pick(r, departments)))
		if r.Float64() < 0.8 {
			L = append(L, "TITLE:"+esc(pick(r, titles)))
		}
		if r.Float64() < 0.1 {
			L = append(L, "NICKNAME:"+esc(string([]rune(p.first)[:min(4, len([]rune(p.first)))])))
		}
	}
	for k, e := range emails {
		switch {
		case !v4 && k == 2:
			L = append(L, "item1.EMAIL;type=INTERNET:"+e, "item1.X-ABLabel:_$!<Other>!$_")
		case v4:
			typ := []string{"work;PREF=1", "home", "other"}[k]
			L = append(L, "EMAIL;TYPE="+typ+":"+e)
		default:
			typ := []string{"INTERNET,WORK,pref", "INTERNET,HOME", "INTERNET"}[k]
			L = append(L, "EMAIL;TYPE="+typ+":"+e)
		}
	}
	for k := 1 + weighted(r, 50, 35, 15); k > 0; k-- {
		typ := pick(r, []string{"CELL", "WORK", "HOME", "WORK,FAX", "MAIN"})
		num := phone(r)
		if v4 {
			uri := strings.NewReplacer(" ", "-", "(", "", ")", "", "/", "-").Replace(num)
			L = append(L, fmt.Sprintf("TEL;VALUE=uri;TYPE=\"%s\":tel:%s", strings.ToLower(typ), uri))
		} else {
			voice := ""
			if typ == "WORK" || typ == "HOME" {
				voice = ",VOICE"
			}
			L = append(L, "TEL;TYPE="+typ+voice+":"+num)
		}
	}
	if r.Float64() < 0.75 {
		st := p.lang.street
		typ := "WORK"
		if v4 {
			typ = "work"
		}
		L = append(L, fmt.Sprintf("ADR;TYPE=%s:;;%s;%s;;%s;%s", typ, esc(fmt.Sprintf(st[0], 1+r.IntN(199))), esc(st[1]), st[2], esc(st[3])))
		if r.Float64() < 0.2 {
			home := "HOME"
			if v4 {
				home = "home"
			}
			L = append(L, "ADR;TYPE="+home+":;Apt. 3;742 Evergreen Terrace;Springfield;OR;97403;USA")
		}
	}
	if r.Float64() < 0.2 {
		y, m, d := 1950+r.IntN(52), 1+r.IntN(12), 1+r.IntN(28)
		switch {
		case r.Float64() < 0.15 && v4:
			L = append(L, fmt.Sprintf("BDAY:--%02d%02d", m, d))
		case r.Float64() < 0.15:
			L = append(L, fmt.Sprintf("BDAY;X-APPLE-OMIT-YEAR=1604:1604-%02d-%02d", m, d))
		case r.Float64() < 0.7:
			L = append(L, fmt.Sprintf("BDAY:%04d-%02d-%02d", y, m, d))
		default:
			L = append(L, fmt.Sprintf("BDAY:%04d%02d%02d", y, m, d))
		}
	}
	if r.Float64() < 0.5 {
		L = append(L, "NOTE:"+esc(pick(r, notes)))
	}
	if r.Float64() < 0.7 {
		cats := map[string]bool{}
		for k := 1 + r.IntN(3); k > 0; k-- {
			cats[pick(r, cardCategories)] = true
		}
		var list []string
		for c := range cats {
			list = append(list, esc(c))
		}
		slices.Sort(list)
		L = append(L, "CATEGORIES:"+strings.Join(list, ","))
	}
	if r.Float64() < 0.3 {
		L = append(L, "URL:https://www."+p.orgDomain+"/")
	}
	if r.Float64() < 0.03 || i%997 == 5 {
		img := base64.StdEncoding.EncodeToString(pngImage(r))
		if v4 {
			L = append(L, "PHOTO:data:image/png;base64,"+img)
		} else {
			L = append(L, "PHOTO;ENCODING=b;TYPE=PNG:"+img)
		}
	}
	rev := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(4*365*86400)) * time.Second)
	L = append(L, "REV:"+rev.Format("20060102T150405Z"), "END:VCARD")
	return Item{Name: fileName(uid, ".vcf"), UID: uid, Body: render(L)}
}

func pngImage(r *rand.Rand) []byte {
	w, h := 48, 48
	if r.Float64() < 0.2 {
		w, h = 128, 128
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	c1 := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	c2 := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := c1
			if (x/6+y/6)%2 == 1 {
				c = c2
			}
			c.A = uint8(200 + (x*y+r.IntN(4))%56)
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// fileName is the name Radicale gives an item of a whole collection
// uploaded at once: the UID, plus the extension unless it ends with it.
func fileName(uid, ext string) string {
	if strings.HasSuffix(strings.ToLower(uid), ext) {
		return uid
	}
	return uid + ext
}

// ---- events ----

// vtimezones are the definitions the events carry, as clients write them:
// the IANA zones as Thunderbird or Apple do, the Windows names as Outlook
// and Exchange do (DTSTART in 1601).
var vtimezones = map[string]string{
	"Europe/Paris": `BEGIN:VTIMEZONE
TZID:Europe/Paris
X-LIC-LOCATION:Europe/Paris
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE`,
	"America/New_York": `BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE`,
	"Asia/Tokyo": `BEGIN:VTIMEZONE
TZID:Asia/Tokyo
BEGIN:STANDARD
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:JST
DTSTART:19700101T000000
END:STANDARD
END:VTIMEZONE`,
	"W. Europe Standard Time": `BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE`,
	"Pacific Standard Time": `BEGIN:VTIMEZONE
TZID:Pacific Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE`,
	"Eastern Standard Time": `BEGIN:VTIMEZONE
TZID:Eastern Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE`,
}

// zones and their weights: the zones the events use.
var (
	zones       = []string{"Europe/Paris", "America/New_York", "W. Europe Standard Time", "Asia/Tokyo", "Pacific Standard Time", "Eastern Standard Time"}
	zoneWeights = []int{35, 25, 18, 8, 7, 7}
	summaries   = []string{"Weekly sync", "Call with {name}", "Demo: {org}", "QBR {org}", "Pipeline review", "1:1 {name}",
		"Lunch with {name}", "Contract negotiation – {org}", "Besprechung mit {name}", "Réunion d'équipe",
		"Reunión con {org}", "会議: {org}様", "Встреча с {name}", "与{org}的电话会议", "고객 미팅", "Onboarding {org}",
		"Board meeting", "Dentist", "Flight LH 400 FRA → JFK", "Webinar: product update", "🎂 Birthday {name}"}
	locations = []string{"Room 4.01", "Zoom", "https://meet.example.com/abc-defg-hij", "Café Müller, Berlin", "東京オフィス 3F",
		`Conference room "Everest"`, "HQ; Building 2, Floor 3", "Client site", "", "", ""}
	eventCategories = []string{"Work", "Customer", "Travel", "Personal", "Internal", "Sales"}
	calProdIDs      = []string{"-//davgen//calendar 1.0//EN", "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
		"-//Apple Inc.//macOS 14.1//EN", "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN"}
	weekdays = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}
)

// eventPeople is how many of the seed's contacts (VCards(seed, 5000))
// events invite.
const eventPeople = 5000

// Events returns calendar objects 0..n-1 of seed. Their organizers and
// attendees are people of VCards(seed, 5000).
func Events(seed int64, n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = Event(seed, i)
	}
	return out
}

// localTime formats a wall time in zone tz ("" floating, "UTC").
func localTime(prop string, t time.Time, tz string) string {
	switch tz {
	case "":
		return prop + ":" + t.Format("20060102T150405")
	case "UTC":
		return prop + ":" + t.Format("20060102T150405Z")
	}
	return prop + ";TZID=" + tz + ":" + t.Format("20060102T150405")
}

// Event returns calendar object i of seed.
func Event(seed int64, i int) Item {
	contacts := eventPeople
	r := rng(seed, "event", i)
	uid := strings.ToUpper(uidFor(seed, "event", i)) + "@davgen.test"
	kind := []string{"tz", "utc", "allday", "floating", "recur"}[weighted(r, 40, 10, 12, 3, 35)]
	tz := ""
	switch kind {
	case "tz", "recur":
		tz = zones[weighted(r, zoneWeights...)]
		if kind == "recur" && r.Float64() < 0.1 {
			tz = "UTC"
		}
	case "utc":
		tz = "UTC"
	}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(3*365))
	start := day.Add(time.Duration(7+r.IntN(12))*time.Hour + time.Duration(pick(r, []int{0, 0, 15, 30, 45}))*time.Minute)
	dur := time.Duration(pick(r, []int{15, 30, 30, 45, 60, 60, 90, 120, 180})) * time.Minute
	who := personFor(seed, r.IntN(contacts))
	summary := strings.NewReplacer("{name}", who.fn, "{org}", who.org).Replace(pick(r, summaries))
	stamp := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(10_000_000)) * time.Second).Format("20060102T150405Z")
	common := []string{"UID:" + uid, "DTSTAMP:" + stamp, "CREATED:" + stamp, "LAST-MODIFIED:" + stamp}

	body := []string{"SUMMARY:" + esc(summary)}
	loc := pick(r, locations)
	if loc != "" {
		body = append(body, "LOCATION:"+esc(loc))
	}
	if r.Float64() < 0.4 {
		body = append(body, "DESCRIPTION:"+esc(fmt.Sprintf("Agenda:\n1. Status, risks; next steps\n2. Pricing for %s\nDial-in: +1 555 0100, PIN 1234#\nhttps://docs.example.com/d/%x", who.org, r.Uint64()>>24)))
	}
	if r.Float64() < 0.5 {
		org := personFor(seed, r.IntN(contacts))
		body = append(body, fmt.Sprintf("ORGANIZER;CN=\"%s\":mailto:%s", org.fn, org.emails[0]))
		seen := map[string]bool{org.emails[0]: true}
		for k := 1 + r.IntN(5); k > 0; k-- {
			a := personFor(seed, r.IntN(contacts))
			if seen[a.emails[0]] {
				continue
			}
			seen[a.emails[0]] = true
			body = append(body, fmt.Sprintf("ATTENDEE;CN=\"%s\";CUTYPE=INDIVIDUAL;ROLE=%s;PARTSTAT=%s;RSVP=TRUE:mailto:%s", a.fn,
				pick(r, []string{"REQ-PARTICIPANT", "OPT-PARTICIPANT"}), pick(r, []string{"ACCEPTED", "NEEDS-ACTION", "DECLINED", "TENTATIVE"}), a.emails[0]))
		}
	}
	if r.Float64() < 0.5 {
		cats := map[string]bool{pick(r, eventCategories): true, pick(r, eventCategories): true}
		var list []string
		for c := range cats {
			list = append(list, c)
		}
		slices.Sort(list)
		body = append(body, "CATEGORIES:"+strings.Join(list, ","))
	}
	if r.Float64() < 0.1 {
		body = append(body, "CLASS:PRIVATE")
	}
	if kind != "allday" && r.Float64() < 0.15 {
		body = append(body, "TRANSP:TRANSPARENT")
	}
	body = append(body, "STATUS:"+pick(r, []string{"CONFIRMED", "CONFIRMED", "CONFIRMED", "TENTATIVE"}))
	var alarm []string
	if r.Float64() < 0.4 {
		alarm = []string{"BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", fmt.Sprintf("TRIGGER:-PT%dM", pick(r, []int{5, 10, 15, 30})), "END:VALARM"}
	}

	var comps [][]string
	switch kind {
	case "allday":
		s := day
		e := s.AddDate(0, 0, []int{1, 2, 3, 5}[weighted(r, 75, 12, 8, 5)])
		c := append([]string{"BEGIN:VEVENT"}, common...)
		c = append(c, "DTSTART;VALUE=DATE:"+s.Format("20060102"), "DTEND;VALUE=DATE:"+e.Format("20060102"), "TRANSP:TRANSPARENT")
		if r.Float64() < 0.2 {
			c = append(c, "RRULE:FREQ=YEARLY") // an anniversary
		}
		c = append(c, body...)
		comps = append(comps, append(c, "END:VEVENT"))
	case "tz", "utc", "floating":
		c := append([]string{"BEGIN:VEVENT"}, common...)
		c = append(c, localTime("DTSTART", start, tz), localTime("DTEND", start.Add(dur), tz))
		c = append(append(append(c, body...), alarm...), "END:VEVENT")
		comps = append(comps, c)
	default:
		comps = recurring(r, common, body, alarm, summary, loc, start, dur, tz)
	}

	L := []string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:" + pick(r, calProdIDs), "CALSCALE:GREGORIAN"}
	var b strings.Builder
	b.WriteString(render(L))
	if def, ok := vtimezones[tz]; ok {
		b.WriteString(strings.ReplaceAll(def, "\n", "\r\n") + "\r\n")
	}
	for _, c := range comps {
		b.WriteString(render(c))
	}
	b.WriteString("END:VCALENDAR\r\n")
	return Item{Name: fileName(uid, ".ics"), UID: uid, Body: b.String()}
}

// recurring returns the master of a recurring event and its overridden
// instances: weekly (most, nearly all with an EXDATE and an override),
// every other week, daily, monthly or yearly; ending by COUNT, UNTIL or
// never.
func recurring(r *rand.Rand, common, body, alarm []string, summary, loc string, start time.Time, dur time.Duration, tz string) [][]string {
	freq := []string{"WEEKLY", "WEEKLY2", "DAILY", "MONTHLY", "YEARLY"}[weighted(r, 50, 12, 15, 18, 5)]
	if freq == "MONTHLY" && start.Day() > 28 {
		start = start.AddDate(0, 0, 28-start.Day())
	}
	step := func(k int) time.Time {
		switch freq {
		case "WEEKLY":
			return start.AddDate(0, 0, 7*k)
		case "WEEKLY2":
			return start.AddDate(0, 0, 14*k)
		case "DAILY":
			return start.AddDate(0, 0, k)
		case "MONTHLY":
			return start.AddDate(0, k, 0)
		}
		return start.AddDate(k, 0, 0)
	}
	rule := map[string]string{
		"WEEKLY":  "FREQ=WEEKLY;BYDAY=" + weekdays[start.Weekday()],
		"WEEKLY2": "FREQ=WEEKLY;INTERVAL=2;BYDAY=" + weekdays[start.Weekday()],
		"DAILY":   "FREQ=DAILY", "MONTHLY": fmt.Sprintf("FREQ=MONTHLY;BYMONTHDAY=%d", start.Day()), "YEARLY": "FREQ=YEARLY",
	}[freq]
	n := 6 + r.IntN(50)
	if freq == "YEARLY" {
		n = 4 + r.IntN(6)
	}
	switch weighted(r, 45, 25, 30) {
	case 0:
		rule += fmt.Sprintf(";COUNT=%d", n)
	case 1:
		// In UTC, as RFC 5545 wants with a zoned DTSTART: two days after
		// the last occurrence's date is after it in every zone.
		last := step(n - 1)
		rule += ";UNTIL=" + time.Date(last.Year(), last.Month(), last.Day()+2, 0, 0, 0, 0, time.UTC).Format("20060102T150405Z")
	}
	weekly := freq == "WEEKLY"
	// Instances 1..n-2 may be excluded or overridden, never the same one.
	var exdates, overrides []int
	if weekly && r.Float64() < 0.85 || !weekly && r.Float64() < 0.5 {
		exdates = append(exdates, 1+r.IntN(n-2))
		if r.Float64() < 0.3 {
			if k := 1 + r.IntN(n-2); k != exdates[0] {
				exdates = append(exdates, k)
			}
		}
	}
	if weekly && r.Float64() < 0.85 || !weekly && r.Float64() < 0.4 {
		for tries := 0; tries < 5 && len(overrides) < 1+r.IntN(2); tries++ {
			if k := 1 + r.IntN(n-2); !slices.Contains(exdates, k) && !slices.Contains(overrides, k) {
				overrides = append(overrides, k)
			}
		}
	}
	slices.Sort(exdates)
	slices.Sort(overrides)
	master := append([]string{"BEGIN:VEVENT"}, common...)
	master = append(master, localTime("DTSTART", start, tz), localTime("DTEND", start.Add(dur), tz), "RRULE:"+rule)
	if len(exdates) > 0 {
		vals := make([]string, len(exdates))
		for j, k := range exdates {
			v := localTime("EXDATE", step(k), tz)
			vals[j] = v[strings.LastIndexByte(v, ':')+1:]
		}
		prop := localTime("EXDATE", step(exdates[0]), tz)
		master = append(master, prop[:strings.LastIndexByte(prop, ':')+1]+strings.Join(vals, ","))
	}
	master = append(append(append(master, body...), alarm...), "END:VEVENT")
	comps := [][]string{master}
	for _, k := range overrides {
		orig := step(k)
		ov := append([]string{"BEGIN:VEVENT"}, common...)
		ov = append(ov, localTime("RECURRENCE-ID", orig, tz))
		if r.Float64() < 0.25 {
			ov = append(ov, localTime("DTSTART", orig, tz), localTime("DTEND", orig.Add(dur), tz), "STATUS:CANCELLED",
				"SUMMARY:"+esc(summary), "SEQUENCE:1")
		} else {
			moved := orig.Add(time.Duration(1+r.IntN(3)) * time.Hour)
			if r.Float64() < 0.4 {
				moved = orig.AddDate(0, 0, 1)
			}
			ov = append(ov, localTime("DTSTART", moved, tz), localTime("DTEND", moved.Add(dur), tz),
				"SUMMARY:"+esc(summary+pick(r, []string{" (moved)", " – verschoben", " [rescheduled]"})), fmt.Sprintf("SEQUENCE:%d", 1+r.IntN(3)))
			if loc != "" {
				ov = append(ov, "LOCATION:"+esc(loc))
			}
		}
		comps = append(comps, append(ov, "END:VEVENT"))
	}
	return comps
}

// ---- loading ----

// loadTimeout bounds each request of Load: Radicale parses and fsyncs
// every item of a whole-collection upload in the one request.
const loadTimeout = 10 * time.Minute

// Load replaces the content of the collection at collectionPath (made
// before, e.g. with srv.CreateAddressBook) with items, quickly, and
// returns once Radicale lists exactly them, its caches warm.
//
// When every item's Name is the one Radicale would give it (Item.Name of
// the generators), the whole collection goes up in one PUT on the
// collection's path — Radicale 3 replaces the collection's content with
// the vCards of the body, or with the components of the one VCALENDAR,
// split by UID (what gen_dav.py --bulk does). That PUT also replaces the
// collection's properties: Load reads the display name and the calendar's
// supported components before and sets them again after. Otherwise, or
// when the server refuses that PUT, the files are written straight into
// Radicale's file system storage (<Dir>/collections/collection-root/
// <user>/<collection>/<Name>) under its storage lock, and the old items
// removed.
//
// Either way Load ends with a sync-collection REPORT that must list
// exactly the names of items: it makes Radicale parse what it did not
// parse yet and build its item and sync history caches, so that the
// first client after Load does not pay for that.
func Load(t testing.TB, srv *radicale.Server, user, collectionPath string, items []Item) {
	t.Helper()
	l := &loader{t: t, srv: srv, user: user, coll: "/" + strings.Trim(collectionPath, "/") + "/"}
	l.pass = password(srv, user)
	if l.pass == "" {
		t.Fatalf("davgen: no such Radicale user %q", user)
	}
	l.http = &http.Client{Timeout: loadTimeout}
	defer l.http.CloseIdleConnections()

	props := l.props()
	ext := ".ics"
	if props.addressBook {
		ext = ".vcf"
	}
	names := map[string]bool{}
	bulk := true
	for _, it := range items {
		if names[it.Name] {
			t.Fatalf("davgen: two items named %q", it.Name)
		}
		names[it.Name] = true
		uid := it.UID
		if uid == "" {
			uid = bodyUID(it.Body)
		}
		bulk = bulk && uid != "" && it.Name == fileName(uid, ext) && !strings.HasPrefix(it.Name, ".")
	}
	if bulk && len(items) > 0 {
		bulk = l.putCollection(props, items)
	} else {
		bulk = false
	}
	if !bulk {
		l.writeFiles(items)
	}
	got := l.syncListing()
	var missing, extra []string
	for n := range names {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	for n := range got {
		if !names[n] {
			extra = append(extra, n)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Fatalf("davgen: after loading %d items into %s, Radicale lists %d: missing %v, unexpected %v",
			len(items), l.coll, len(got), head(missing, 5), head(extra, 5))
	}
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }

// password finds user's password among the server's users ("" if none).
func password(srv *radicale.Server, user string) (pass string) {
	defer func() {
		if recover() != nil { // past the last user
			pass = ""
		}
	}()
	for n := 1; ; n++ {
		if name, p := srv.User(n); name == user {
			return p
		}
	}
}

// bodyUID is the first UID property of a vCard or iCalendar body.
func bodyUID(body string) string {
	for _, line := range strings.Split(unfold(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, "UID:"); ok {
			return v
		}
	}
	return ""
}

func unfold(s string) string {
	return strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(s)
}

type loader struct {
	t          testing.TB
	srv        *radicale.Server
	user, pass string
	coll       string
	http       *http.Client
}

// request sends one request and returns the status and body; transport
// failures end the test.
func (l *loader) request(method, p string, header http.Header, body []byte) (int, []byte) {
	l.t.Helper()
	u := &url.URL{Scheme: "http", Host: l.srv.Addr(), Path: p}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		l.t.Fatalf("davgen: %s %s: %v", method, p, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.SetBasicAuth(l.user, l.pass)
	resp, err := l.http.Do(req)
	if err != nil {
		l.t.Fatalf("davgen: %s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("davgen: %s %s: reading the answer: %v", method, p, err)
	}
	return resp.StatusCode, data
}

// ms is the part of a multistatus answer Load reads.
type ms struct {
	Responses []struct {
		Href     string `xml:"href"`
		Propstat []struct {
			Status string `xml:"status"`
			Prop   struct {
				ResourceType struct {
					AddressBook *struct{} `xml:"urn:ietf:params:xml:ns:carddav addressbook"`
					Calendar    *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
				} `xml:"resourcetype"`
				DisplayName *string `xml:"displayname"`
				Comps       *struct {
					Comp []struct {
						Name string `xml:"name,attr"`
					} `xml:"comp"`
				} `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
				ETag string `xml:"getetag"`
			} `xml:"prop"`
		} `xml:"propstat"`
		Status string `xml:"status"`
	} `xml:"response"`
	SyncToken string `xml:"sync-token"`
}

func (l *loader) multistatus(method, p, depth, body string) *ms {
	l.t.Helper()
	h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}}
	if depth != "" {
		h.Set("Depth", depth)
	}
	st, data := l.request(method, p, h, []byte(body))
	if st != http.StatusMultiStatus {
		l.t.Fatalf("davgen: %s %s: %d\n%s", method, p, st, data)
	}
	var m ms
	if err := xml.Unmarshal(data, &m); err != nil {
		l.t.Fatalf("davgen: %s %s: %v", method, p, err)
	}
	return &m
}

// collProps are the collection properties a whole-collection PUT loses.
type collProps struct {
	addressBook bool
	displayName *string
	comps       []string // supported calendar components, nil when unset
}

func (l *loader) props() collProps {
	l.t.Helper()
	m := l.multistatus("PROPFIND", l.coll, "0", `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>
<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/></D:prop></D:propfind>`)
	var p collProps
	kind := false
	for _, r := range m.Responses {
		for _, ps := range r.Propstat {
			if !strings.Contains(ps.Status, " 200 ") {
				continue
			}
			rt := ps.Prop.ResourceType
			if rt.AddressBook != nil {
				p.addressBook, kind = true, true
			}
			kind = kind || rt.Calendar != nil
			if ps.Prop.DisplayName != nil {
				p.displayName = ps.Prop.DisplayName
			}
			if ps.Prop.Comps != nil {
				for _, c := range ps.Prop.Comps.Comp {
					p.comps = append(p.comps, c.Name)
				}
			}
		}
	}
	if !kind {
		l.t.Fatalf("davgen: %s is not an address book or a calendar (create it first)", l.coll)
	}
	return p
}

// putCollection uploads the items as the collection's new content in one
// PUT and restores the collection's properties; false when the server
// does not take such a PUT.
func (l *loader) putCollection(props collProps, items []Item) bool {
	l.t.Helper()
	var body strings.Builder
	ct := "text/calendar; charset=utf-8"
	if props.addressBook {
		ct = "text/vcard; charset=utf-8"
		for _, it := range items {
			body.WriteString(it.Body)
			if !strings.HasSuffix(it.Body, "\n") {
				body.WriteString("\r\n")
			}
		}
	} else {
		if err := mergeCalendars(&body, items); err != nil {
			l.t.Fatalf("davgen: %v", err)
		}
	}
	st, data := l.request(http.MethodPut, l.coll, http.Header{"Content-Type": {ct}}, []byte(body.String()))
	switch {
	case st == http.StatusCreated || st == http.StatusNoContent || st == http.StatusOK:
	case st == http.StatusBadRequest:
		// The content, not the way: writing files would only hide it.
		l.t.Fatalf("davgen: Radicale refused the items uploaded to %s: %d %s (see its log, %s)", l.coll, st, data, l.srv.LogPath())
	default:
		l.t.Logf("davgen: a PUT of the whole collection %s answered %d; writing the files instead", l.coll, st)
		return false
	}
	var set strings.Builder
	if props.displayName != nil {
		fmt.Fprintf(&set, "<D:displayname>%s</D:displayname>", html.EscapeString(*props.displayName))
	}
	if props.comps != nil {
		set.WriteString("<C:supported-calendar-component-set>")
		for _, c := range props.comps {
			fmt.Fprintf(&set, `<C:comp name="%s"/>`, html.EscapeString(c))
		}
		set.WriteString("</C:supported-calendar-component-set>")
	}
	if set.Len() > 0 {
		m := l.multistatus("PROPPATCH", l.coll, "", `<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>`+set.String()+`</D:prop></D:set></D:propertyupdate>`)
		for _, r := range m.Responses {
			for _, ps := range r.Propstat {
				if !strings.Contains(ps.Status, " 200 ") {
					l.t.Fatalf("davgen: restoring the properties of %s: %s", l.coll, ps.Status)
				}
			}
		}
	}
	return true
}

// mergeCalendars writes one VCALENDAR holding every component of the
// items' calendars, each VTIMEZONE once (by TZID, the first definition).
func mergeCalendars(w *strings.Builder, items []Item) error {
	w.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync//davgen bulk//EN\r\n")
	var comps strings.Builder
	tzs := map[string]bool{}
	for _, it := range items {
		lines := strings.SplitAfter(strings.ReplaceAll(it.Body, "\r\n", "\n"), "\n")
		depth := 0
		var block []string
		var name, tzid string
		for _, line := range lines {
			if line == "" {
				continue
			}
			l := strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(l, "BEGIN:"):
				depth++
				if depth == 2 {
					name, tzid, block = strings.TrimPrefix(l, "BEGIN:"), "", nil
				}
			case strings.HasPrefix(l, "END:"):
				depth--
			}
			if depth >= 2 || depth == 1 && strings.HasPrefix(l, "END:") && name != "" {
				block = append(block, l)
				if v, ok := strings.CutPrefix(l, "TZID:"); ok && depth == 2 && name == "VTIMEZONE" {
					tzid = v
				}
			}
			if depth == 1 && strings.HasPrefix(l, "END:") && name != "" {
				text := strings.Join(block, "\r\n") + "\r\n"
				if name == "VTIMEZONE" {
					if !tzs[tzid] {
						tzs[tzid] = true
						w.WriteString(text)
					}
				} else {
					comps.WriteString(text)
				}
				name = ""
			}
		}
		if depth != 0 {
			return fmt.Errorf("item %s: unbalanced BEGIN/END", it.Name)
		}
	}
	w.WriteString(comps.String())
	w.WriteString("END:VCALENDAR\r\n")
	return nil
}

// writeFiles replaces the collection's item files with items, under
// Radicale's storage lock.
func (l *loader) writeFiles(items []Item) {
	l.t.Helper()
	storage := filepath.Join(l.srv.Dir(), "collections")
	dir := filepath.Join(storage, "collection-root", filepath.FromSlash(strings.Trim(l.coll, "/")))
	if _, err := os.Stat(filepath.Join(dir, ".Radicale.props")); err != nil {
		l.t.Fatalf("davgen: %s is not Radicale's folder of %s: %v", dir, l.coll, err)
	}
	lock, err := os.OpenFile(filepath.Join(storage, ".Radicale.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		l.t.Fatalf("davgen: locking Radicale's storage: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	old, err := os.ReadDir(dir)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, e := range old {
		if !strings.HasPrefix(e.Name(), ".") && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	for _, it := range items {
		if it.Name == "" || strings.HasPrefix(it.Name, ".") || strings.ContainsRune(it.Name, '/') {
			l.t.Fatalf("davgen: item name %q cannot be a file of the collection", it.Name)
		}
		tmp := filepath.Join(dir, ".davgen.tmp")
		if err := os.WriteFile(tmp, []byte(it.Body), 0o644); err != nil {
			l.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, it.Name)); err != nil {
			l.t.Fatal(err)
		}
	}
}

// syncListing asks for the collection's full sync-collection listing
// (which builds Radicale's caches) and returns the item names in it.
func (l *loader) syncListing() map[string]bool {
	l.t.Helper()
	m := l.multistatus("REPORT", l.coll, "0", `<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`)
	got := map[string]bool{}
	for _, r := range m.Responses {
		if strings.Contains(r.Status, " 404 ") {
			continue // deleted before
		}
		p, err := url.PathUnescape(r.Href)
		if err != nil {
			l.t.Fatalf("davgen: bad href %q", r.Href)
		}
		if u, err := url.Parse(r.Href); err == nil && u.Host != "" {
			p = u.Path
		}
		if path.Clean(p)+"/" == l.coll {
			continue
		}
		got[path.Base(p)] = true
	}
	return got
}
