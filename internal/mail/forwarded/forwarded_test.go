package forwarded

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
)

func init() {
	recoverPanics = false // a panic must fail the tests and the fuzzer, with its stack
}

// fixtureCase is what a testdata/*.eml fixture must give.
type fixtureCase struct {
	file    string
	kind    Kind
	from    []string // "Name <addr>", "<addr>" or "Name"
	to, cc  []string
	replyTo []string
	date    string // RFC 3339
	subject string
	msgID   string
	text    string // the start of the original's text
	notText string // must not be in the original's text
	note    string // the start of the note
	attach  int    // attachments of the original
	warn    []string
	// html: the fixture has an HTML body holding the same block; it is
	// also run with the text body removed, to read the block from the HTML.
	html bool
}

var fixtureCases = []fixtureCase{
	{
		file: "gmail_en.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>", "Bob Builder <bob@acme.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "FYI, logging this one.", attach: 1,
		warn: []string{`no time zone; read in +0100`}, html: true,
	},
	{
		file: "gmail_fr.eml", kind: KindInline,
		from: []string{"Camille Dubois <camille.dubois@client.example.fr>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Hélène Martin <helene.martin@client.example.fr>", "<compta@client.example.fr>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Devis T2",
		text: "Bonjour Ann,", note: "Pour le CRM.", warn: []string{"no time zone"}, html: true,
	},
	{
		file: "gmail_de.eml", kind: KindInline,
		from: []string{"Jürgen Müller <juergen.mueller@kunde.example.de>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Angebot Q2",
		text: "Hallo Ann,", note: "Bitte ins CRM.", warn: []string{"no time zone"}, html: true,
	},
	{
		file: "gmail_html_only.eml", kind: KindInline,
		from: []string{"<alice.smith@client.example.com>"},
		to:   []string{"<ann@acme.example>"},
		date: "2026-03-02T15:40:00+01:00", subject: "Re: Delivery address",
		text: "Ann, the delivery address is our Boston warehouse.", warn: []string{"no time zone"},
	},
	{
		// Gmail around an Outlook forward whose labels Gmail made bold.
		file: "gmail_fwd_of_outlook_bold.eml", kind: KindInline,
		from: []string{"Dan Driver <dan@supplier.example>"},
		to:   []string{"Alice Smith <alice.smith@client.example.com>"},
		cc:   []string{"Erin Example <erin@supplier.example>"},
		date: "2026-03-02T08:02:00+01:00", subject: "Delivery dates",
		text: "Alice,\n\nThe first batch ships", notText: "Forwarding what",
		note: "Ann - see the thread below.", warn: []string{"no time zone"},
	},
	{
		file: "outlook_desktop_en.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>", "Bob Builder <bob@acme.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "FYI - see below.\n\nAnn", attach: 1, warn: []string{"no time zone"}, html: true,
	},
	{
		// Exchange Online writes Date in UTC: the Sent time is read in it
		// (TestLocation gives the user's zone instead).
		file: "outlook_owa.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		date: "2026-03-02T10:15:00Z", subject: "Quote for Q2",
		text: "Hi Ann,", note: "Logging this for the CRM.", warn: []string{"read in +0000"}, html: true,
	},
	{
		file: "outlook_original_message.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner"},
		cc:   []string{"Bob Builder", "<carol@client.example.com>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "Please log.",
		warn: []string{`To "Ann Owner" has no email address`, `Cc "Bob Builder" has no email address`, "no time zone"},
	},
	{
		file: "outlook_exchange_names.eml", kind: KindInline,
		from: []string{"Bob Builder"},
		to:   []string{"Ann Owner <ann@acme.example>", "Sales Team"},
		date: "2026-03-02T16:47:00+01:00", subject: "Internal pricing review",
		text: "Ann, the discount", note: "For the Client Corp account.",
		warn: []string{`From "Bob Builder" has no email address`, `To "Sales Team" has no email address`, "no time zone"},
	},
	{
		file: "outlook_fr.eml", kind: KindInline,
		from: []string{"Camille Dubois <camille.dubois@client.example.fr>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Hélène Martin <helene.martin@client.example.fr>", "Paul Durand <paul.durand@client.example.fr>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Devis T2",
		text: "Bonjour Ann,", note: "Pour le CRM.", warn: []string{"no time zone"},
	},
	{
		file: "outlook_de.eml", kind: KindInline,
		from: []string{"Jürgen Müller <juergen.mueller@kunde.example.de>"},
		to:   []string{"Ann Owner <ann@acme.example>", "Bernd Bauer <bernd.bauer@acme.example>"},
		cc:   []string{"Clara Schmidt <clara.schmidt@kunde.example.de>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Angebot Q2",
		text: "Hallo Ann,", notText: "Wichtigkeit", note: "Bitte ins CRM.", warn: []string{"no time zone"},
	},
	{
		file: "outlook_new_html_only.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to: []string{"Ann Owner <ann@acme.example>", "Bob Builder <bob@acme.example>",
			"Dan Driver <dan@supplier.example>", "Erin Example <erin@supplier.example>"},
		cc:   []string{"Smith, Alice <alice.smith@client.example.com>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "Log this please", warn: []string{"no time zone"},
	},
	{
		file: "outlook_mac.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>", "Bob Builder <bob@acme.example>", "Dan Driver <dan@supplier.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:00+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "Logging.", warn: []string{"no time zone"},
	},
	{
		file: "apple_en.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Quote for Q2",
		text: "Hi Ann,", note: "FYI", html: true,
	},
	{
		file: "apple_ios_quoted.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Quote for Q2",
		text: "Hi Ann,\n\nPlease find attached", notText: ">", note: "FYI\n\nSent from my iPhone",
	},
	{
		file: "apple_fr.eml", kind: KindInline,
		from: []string{"Camille Dubois <camille.dubois@client.example.fr>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Hélène Martin <helene.martin@client.example.fr>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Devis T2",
		text: "Bonjour Ann,", note: "Pour le CRM",
	},
	{
		file: "apple_de_html_only.eml", kind: KindInline,
		from: []string{"Jürgen Müller <juergen.mueller@kunde.example.de>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Clara Schmidt <clara.schmidt@kunde.example.de>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Angebot Q2",
		text: "Hallo Ann,", note: "Bitte ins CRM",
	},
	{
		// format=flowed: the Subject and the To list are wrapped.
		file: "thunderbird_en.eml", kind: KindInline,
		from:    []string{"Alice Smith <alice.smith@client.example.com>"},
		to:      []string{"Ann Owner <ann@acme.example>", "Bob Builder <bob@acme.example>", "Dan Driver <dan@supplier.example>"},
		cc:      []string{"Carol Jones <carol@client.example.com>"},
		replyTo: []string{"<sales@client.example.com>"},
		date:    "2026-03-02T10:15:03+01:00",
		subject: "Quote for Q2 and the delivery schedule for the warehouses in Boston and Chicago",
		text:    "Hi Ann,", note: "Logging.",
	},
	{
		file: "thunderbird_de.eml", kind: KindInline,
		from: []string{"Jürgen Müller <juergen.mueller@kunde.example.de>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Clara Schmidt <clara.schmidt@kunde.example.de>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Angebot Q2",
		text: "Hallo Ann,", note: "Bitte ins CRM.", html: true,
	},
	{
		// Gmail around Apple Mail, which Gmail quoted with "> ".
		file: "fwd_of_fwd.eml", kind: KindInline,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Bob Builder <bob@acme.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Quote for Q2",
		text: "Hi Bob,\n\nPlease find attached our quote for Q2.", notText: ">",
		note: "Logging the thread Bob sent me.",
	},
	{
		file: "attached.eml", kind: KindAttached,
		from: []string{"Alice Smith <alice.smith@client.example.com>"},
		to:   []string{"Ann Owner <ann@acme.example>"},
		cc:   []string{"Carol Jones <carol@client.example.com>"},
		date: "2026-03-02T10:15:03+01:00", subject: "Quote for Q2",
		msgID: "CAF3d1Xz8pQ+2m@mail.client.example.com",
		text:  "Hi Ann,", note: "Please log the attached.", attach: 1,
	},
	{
		// The attachment wins over the inline block (Alice's).
		file: "attached_and_inline.eml", kind: KindAttached,
		from: []string{"Dan Driver <dan@supplier.example>"},
		to:   []string{"Alice Smith <alice.smith@client.example.com>"},
		date: "2026-03-02T08:02:00+01:00", subject: "Delivery dates",
		msgID: "20260302070200.1a2b3c@supplier.example",
		text:  "Alice,", note: "See attached.",
	},
	{
		// "From:" and "Sent:" lines in a message the user wrote.
		file: "bcc_copy.eml", kind: KindNone,
		from: []string{"Ann Owner <ann@acme.example>"},
		to:   []string{"Alice Smith <alice.smith@client.example.com>"},
		cc:   []string{"Bob Builder <bob@acme.example>"},
		date: "2026-03-03T09:00:12+01:00", subject: "Our offer for Q2",
		msgID: "CAH7yq2iRr6=vV5@mail.gmail.com", text: "Hi Alice,",
	},
	{
		// A reply quoting Alice's message under an Outlook header.
		file: "bcc_reply_outlook.eml", kind: KindNone,
		from: []string{"Ann Owner <ann@acme.example>"},
		to:   []string{"Alice Smith <alice.smith@client.example.com>"},
		date: "2026-03-03T09:00:12+01:00", subject: "RE: Quote for Q2",
		msgID: "AM9PR07MB72017E6D5C4B3A2F1E0D9C8B7A6F5@AM9PR07MB7201.eurprd07.prod.outlook.com",
		text:  "Hi Alice,",
	},
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range fixtureCases {
		covered[c.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in fixtureCases", f)
		}
	}
	for _, c := range fixtureCases {
		raw := readFixture(t, c.file)
		variants := []struct {
			name string
			raw  []byte
			html bool
		}{
			{"lf", raw, false},
			{"crlf", bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")), false},
		}
		if c.html {
			variants = append(variants, struct {
				name string
				raw  []byte
				html bool
			}{"html", raw, true})
		}
		for _, v := range variants {
			t.Run(strings.TrimSuffix(c.file, ".eml")+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				var outer *mail.Message
				if v.html {
					// Drop the text body: the block must be found in the
					// text derived from the HTML one.
					outer = parse(t, v.raw)
					if outer.HTML == "" {
						t.Fatal("fixture has no HTML body")
					}
					outer.Text = ""
				}
				res := Extract(v.raw, outer, nil)
				checkResult(t, c, res, v.html)
			})
		}
	}
}

func parse(t testing.TB, raw []byte) *mail.Message {
	t.Helper()
	m, _, err := mimeparse.Parse(bytes.NewReader(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkResult(t *testing.T, c fixtureCase, res Result, fromHTML bool) {
	t.Helper()
	o := res.Original
	if o == nil {
		t.Fatal("Original is nil")
	}
	if res.Kind != c.kind {
		t.Fatalf("Kind = %s, want %s (warnings %q)", res.Kind, c.kind, res.Warnings)
	}
	eqAddrs(t, "From", o.From, c.from)
	eqAddrs(t, "To", o.To, c.to)
	eqAddrs(t, "Cc", o.Cc, c.cc)
	eqAddrs(t, "Reply-To", o.ReplyTo, c.replyTo)
	want, err := time.Parse(time.RFC3339, c.date)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Date.Equal(want) || o.Date.Format("-0700") != want.Format("-0700") {
		t.Errorf("Date = %s, want %s", o.Date.Format(time.RFC3339), c.date)
	}
	if o.Subject != c.subject {
		t.Errorf("Subject = %q, want %q", o.Subject, c.subject)
	}
	if o.MessageID != c.msgID {
		t.Errorf("MessageID = %q, want %q", o.MessageID, c.msgID)
	}
	text := o.Text
	if fromHTML { // HTML-derived text has no empty lines
		text, c.text = collapse(text), collapse(c.text)
	}
	if !strings.HasPrefix(text, c.text) {
		t.Errorf("Text = %q, want it to start with %q", clip(text, 200), c.text)
	}
	if c.notText != "" && strings.Contains(o.Text, c.notText) {
		t.Errorf("Text = %q contains %q", clip(o.Text, 300), c.notText)
	}
	note := res.Note
	if fromHTML {
		note, c.note = collapse(note), collapse(c.note)
	}
	if !strings.HasPrefix(note, c.note) || c.note == "" && note != "" {
		t.Errorf("Note = %q, want it to start with %q", note, c.note)
	}
	if len(o.Attachments) != c.attach {
		t.Errorf("%d attachments, want %d", len(o.Attachments), c.attach)
	}
	if len(res.Warnings) != len(c.warn) {
		t.Errorf("warnings %q, want %d containing %q", res.Warnings, len(c.warn), c.warn)
	}
	for _, w := range c.warn {
		if !slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning containing %q in %q", w, res.Warnings)
		}
		if !slices.ContainsFunc(o.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("Original.Warnings %q lack %q", o.Warnings, w)
		}
	}
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func fmtAddrs(list []mail.Address) []string {
	var out []string
	for _, a := range list {
		switch {
		case a.Email == "":
			out = append(out, a.Name)
		case a.Name == "":
			out = append(out, "<"+a.Email+">")
		default:
			out = append(out, a.Name+" <"+a.Email+">")
		}
	}
	return out
}

func eqAddrs(t *testing.T, field string, got []mail.Address, want []string) {
	t.Helper()
	if g := fmtAddrs(got); !slices.Equal(g, want) {
		t.Errorf("%s = %q, want %q", field, g, want)
	}
}

// TestOuterGiven: passing the parsed message gives the same result as
// letting Extract parse it.
func TestOuterGiven(t *testing.T) {
	t.Parallel()
	for _, c := range fixtureCases {
		raw := readFixture(t, c.file)
		a := Extract(raw, nil, nil)
		b := Extract(raw, parse(t, raw), nil)
		if a.Kind != b.Kind || !slices.Equal(fmtAddrs(a.Original.From), fmtAddrs(b.Original.From)) ||
			!a.Original.Date.Equal(b.Original.Date) || a.Note != b.Note || a.Original.Text != b.Original.Text {
			t.Errorf("%s: results differ: %+v / %+v", c.file, a, b)
		}
	}
}

func TestAttachedResult(t *testing.T) {
	t.Parallel()
	raw := readFixture(t, "attached.eml")
	res := Extract(raw, nil, &Options{Parse: &mimeparse.Options{KeepAttachmentsUnder: 1 << 20}})
	if res.Kind != KindAttached || res.Attachment == nil {
		t.Fatalf("Kind %s, Attachment %v", res.Kind, res.Attachment)
	}
	if res.Attachment.ContentType != "message/rfc822" || res.Attachment.Filename != "Quote for Q2.eml" {
		t.Errorf("Attachment = %+v", res.Attachment)
	}
	if !bytes.HasPrefix(res.Raw, []byte("Return-Path: <alice.smith@client.example.com>")) {
		t.Errorf("Raw starts with %q", clip(string(res.Raw), 60))
	}
	// Original's Size, Hash and attachment indexes refer to Raw.
	again := parse(t, res.Raw)
	if again.Hash != res.Original.Hash || again.Size != int64(len(res.Raw)) {
		t.Errorf("Original Size/Hash are not Raw's")
	}
	if len(res.Kept) != 1 || res.Kept[0].Index != 0 || !bytes.HasPrefix(res.Kept[0].Data, []byte("%PDF-1.4")) {
		t.Errorf("Kept = %+v", res.Kept)
	}
	var pdf bytes.Buffer
	if _, err := mimeparse.Attachment(bytes.NewReader(res.Raw), res.Original.Attachments[0].Index, &pdf); err != nil || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF")) {
		t.Errorf("the original's attachment from Raw: %v", err)
	}
}

// TestDropbox: with the dropbox address known, a message that names it in
// neither To nor Cc is a BCC copy, whatever its body holds.
func TestDropbox(t *testing.T) {
	t.Parallel()
	fwd := readFixture(t, "gmail_en.eml")
	res := Extract(fwd, nil, &Options{Dropbox: []string{"K3X9Q7VZ2M@in.crm.example"}})
	if res.Kind != KindInline {
		t.Errorf("sent to the dropbox: Kind %s", res.Kind)
	}
	res = Extract(fwd, nil, &Options{Dropbox: []string{"other@in.crm.example"}})
	if res.Kind != KindNone || fmtAddrs(res.Original.To)[0] != "<k3x9q7vz2m@in.crm.example>" {
		t.Errorf("BCC: Kind %s, To %v", res.Kind, res.Original.To)
	}
	// A reply without "RE:" quoting an Outlook header: only the dropbox
	// address tells it from a forward.
	raw := []byte("From: Ann Owner <ann@acme.example>\nTo: Alice Smith <alice.smith@client.example.com>\n" +
		"Subject: Quote for Q2\nDate: Tue, 3 Mar 2026 09:00:12 +0100\n\nThanks, accepted.\n\n" +
		"From: Alice Smith <alice.smith@client.example.com>\nSent: Monday, March 2, 2026 10:15 AM\n" +
		"To: Ann Owner <ann@acme.example>\nSubject: Quote for Q2\n\nHi Ann\n")
	if res := Extract(raw, nil, &Options{Dropbox: []string{"k3x9q7vz2m@in.crm.example"}}); res.Kind != KindNone {
		t.Errorf("BCC copy of a reply: Kind %s", res.Kind)
	}
	if res := Extract(raw, nil, nil); res.Kind != KindInline {
		t.Errorf("without the dropbox address: Kind %s", res.Kind)
	}
}

// TestLocation: the user's zone for Outlook's zone-less Sent line when
// Exchange wrote the Date header in UTC.
func TestLocation(t *testing.T) {
	t.Parallel()
	res := Extract(readFixture(t, "outlook_owa.eml"), nil, &Options{Location: time.FixedZone("CET", 3600)})
	if want := time.Date(2026, 3, 2, 10, 15, 0, 0, time.FixedZone("", 3600)); !res.Original.Date.Equal(want) {
		t.Errorf("Date = %s, want %s", res.Original.Date, want)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "read in CET") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

// msg builds a plain-text dropbox message.
func msg(subject, body string) []byte {
	return []byte("From: Ann Owner <ann@acme.example>\nTo: k3x9q7vz2m@in.crm.example\nSubject: " + subject +
		"\nDate: Tue, 3 Mar 2026 09:00:12 +0100\nMessage-ID: <x@acme.example>\nContent-Type: text/plain; charset=utf-8\n\n" + body)
}

func TestInlineCases(t *testing.T) {
	t.Parallel()
	outerDate := time.Date(2026, 3, 3, 9, 0, 12, 0, time.FixedZone("", 3600))
	tests := []struct {
		name, subject, body string
		kind                Kind
		from                []string
		date                time.Time
		subj                string
		text                string
		warn                []string
	}{
		{
			name: "date not understood", subject: "Fwd: Quote",
			body: "---------- Forwarded message ---------\nFrom: Alice <alice@client.example.com>\n" +
				"Date: sometime last week\nSubject: Quote\nTo: <ann@acme.example>\n\nBody\n",
			kind: KindInline, from: []string{"Alice <alice@client.example.com>"}, date: outerDate, subj: "Quote", text: "Body",
			warn: []string{`date "sometime last week" not understood; the forward's date is used`},
		},
		{
			name: "no date, no subject", subject: "Fwd: Quote",
			body: "-------- Forwarded Message --------\nFrom: Alice <alice@client.example.com>\nTo: <ann@acme.example>\n\nBody\n",
			kind: KindInline, from: []string{"Alice <alice@client.example.com>"}, date: outerDate, subj: "Quote", text: "Body",
			warn: []string{"no subject; the forward's subject is used", "no date; the forward's date is used"},
		},
		{
			// The forwarded message is a reply: its quoted history, under
			// an Outlook header, is its text, not a deeper original.
			name: "forward of a reply", subject: "FW: RE: Quote",
			body: "FYI\n\nFrom: Alice <alice@client.example.com>\nSent: Monday, March 2, 2026 10:15 AM\n" +
				"To: Ann <ann@acme.example>\nSubject: RE: Quote\n\nAgreed.\n\n" +
				"From: Ann <ann@acme.example>\nSent: Sunday, March 1, 2026 18:00\nTo: Alice <alice@client.example.com>\nSubject: Quote\n\nOur quote.\n",
			kind: KindInline, from: []string{"Alice <alice@client.example.com>"},
			date: time.Date(2026, 3, 2, 10, 15, 0, 0, time.FixedZone("", 3600)), subj: "RE: Quote",
			text: "Agreed.\n\nFrom: Ann <ann@acme.example>\nSent: Sunday", warn: []string{"no time zone"},
		},
		{
			// FW: all the way down; the innermost is the original.
			name: "outlook forward of a forward", subject: "FW: FW: Quote",
			body: "________________________________\nFrom: Bob <bob@acme.example>\nSent: Monday, March 2, 2026 11:00 AM\n" +
				"To: Ann <ann@acme.example>\nSubject: FW: Quote\n\nFor you.\n\n________________________________\n" +
				"From: Alice <alice@client.example.com>\nSent: Monday, March 2, 2026 10:15 AM\nTo: Bob <bob@acme.example>\nSubject: Quote\n\nOur quote.\n",
			kind: KindInline, from: []string{"Alice <alice@client.example.com>"},
			date: time.Date(2026, 3, 2, 10, 15, 0, 0, time.FixedZone("", 3600)), subj: "Quote",
			text: "Our quote.", warn: []string{"no time zone"},
		},
		{
			// Each header line its own paragraph, a blank line between.
			name: "blank lines between header lines", subject: "Fwd: Quote",
			body: "Begin forwarded message:\n\nFrom: Alice <alice@client.example.com>\n\nSubject: Quote\n\n" +
				"Date: 2 March 2026 at 10:15:03 CET\n\nTo: Ann <ann@acme.example>\n\nBody\n",
			kind: KindInline, from: []string{"Alice <alice@client.example.com>"},
			date: time.Date(2026, 3, 2, 10, 15, 3, 0, time.FixedZone("", 3600)), subj: "Quote", text: "Body",
		},
		{
			name: "Outlook name with mailto in brackets, names with commas", subject: "FW: Quote",
			body: "-----Original Message-----\nFrom: Smith, Alice [mailto:Alice.Smith@Client.Example.com]\n" +
				"Sent: Monday, March 02, 2026 10:15 AM\nTo: Owner, Ann; Builder, Bob <bob@acme.example>;\n'Dan Driver'\nSubject: Quote\n\nBody\n",
			kind: KindInline, from: []string{"Smith, Alice <alice.smith@client.example.com>"},
			date: time.Date(2026, 3, 2, 10, 15, 0, 0, time.FixedZone("", 3600)), subj: "Quote", text: "Body",
			warn: []string{`To "Owner, Ann", "Dan Driver" has no email address`, "no time zone"},
		},
		{
			name: "a message the user wrote", subject: "Notes from the call",
			body: "Alice called.\nFrom: the purchasing team\nDate: next week\n",
			kind: KindNone, from: []string{"Ann Owner <ann@acme.example>"}, date: outerDate, subj: "Notes from the call",
			text: "Alice called.",
		},
		{
			name: "forward marker without a header", subject: "Fwd: Quote",
			body: "---------- Forwarded message ---------\nsome text\n",
			kind: KindNone, from: []string{"Ann Owner <ann@acme.example>"}, date: outerDate, subj: "Fwd: Quote",
			text: "---------- Forwarded message", warn: []string{"the subject says forward, but no forwarded header"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := Extract(msg(tc.subject, tc.body), nil, nil)
			o := res.Original
			if res.Kind != tc.kind {
				t.Fatalf("Kind = %s, want %s", res.Kind, tc.kind)
			}
			eqAddrs(t, "From", o.From, tc.from)
			if !o.Date.Equal(tc.date) {
				t.Errorf("Date = %s, want %s", o.Date, tc.date)
			}
			if o.Subject != tc.subj {
				t.Errorf("Subject = %q, want %q", o.Subject, tc.subj)
			}
			if !strings.HasPrefix(o.Text, tc.text) {
				t.Errorf("Text = %q, want it to start with %q", o.Text, tc.text)
			}
			if len(res.Warnings) != len(tc.warn) {
				t.Errorf("warnings %q, want %q", res.Warnings, tc.warn)
			}
			for _, w := range tc.warn {
				if !slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning containing %q in %q", w, res.Warnings)
				}
			}
		})
	}
}

func TestAttachmentCases(t *testing.T) {
	t.Parallel()
	mixed := func(parts ...string) []byte {
		s := "From: Ann Owner <ann@acme.example>\nTo: k3x9q7vz2m@in.crm.example\nSubject: Fwd: x\n" +
			"Date: Tue, 3 Mar 2026 09:00:12 +0100\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nnote\n"
		for _, p := range parts {
			s += "--b\n" + p + "\n"
		}
		return []byte(s + "--b--\n")
	}
	emb := "From: Alice <alice@client.example.com>\nSubject: Quote\nMessage-ID: <q@client.example.com>\n\nhi\n"

	t.Run("eml file as octet-stream", func(t *testing.T) {
		res := Extract(mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"Quote.eml\"\n\n"+emb), nil, nil)
		if res.Kind != KindAttached || res.Original.MessageID != "q@client.example.com" {
			t.Fatalf("Kind %s, %+v", res.Kind, res.Original)
		}
		// No Date in the attached message: the forward's.
		if !res.Original.Date.Equal(time.Date(2026, 3, 3, 8, 0, 12, 0, time.UTC)) || len(res.Warnings) != 1 {
			t.Errorf("Date %s, warnings %q", res.Original.Date, res.Warnings)
		}
	})
	t.Run("two attached messages", func(t *testing.T) {
		res := Extract(mixed("Content-Type: message/rfc822\n\n"+emb, "Content-Type: message/rfc822\n\n"+emb), nil, nil)
		if res.Kind != KindAttached || res.Attachment.Index != 0 ||
			!slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, "1 more attached messages not used") }) {
			t.Errorf("Kind %s, warnings %q", res.Kind, res.Warnings)
		}
	})
	t.Run("not a message", func(t *testing.T) {
		res := Extract(mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"x.eml\"\n\nnot a message at all"), nil, nil)
		if res.Kind != KindNone || len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "is not a message") {
			t.Errorf("Kind %s, warnings %q", res.Kind, res.Warnings)
		}
	})
	t.Run("outlook msg", func(t *testing.T) {
		res := Extract(mixed("Content-Type: application/vnd.ms-outlook\nContent-Disposition: attachment; filename=\"Quote.msg\"\nContent-Transfer-Encoding: base64\n\n0M8R4KGxGuE="), nil, nil)
		if res.Kind != KindNone || len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], ".msg") {
			t.Errorf("Kind %s, warnings %q", res.Kind, res.Warnings)
		}
	})
	t.Run("raw does not match outer", func(t *testing.T) {
		raw := mixed("Content-Type: message/rfc822\n\n" + emb)
		outer := parse(t, raw)
		res := Extract([]byte("Subject: other\n\n"), outer, nil)
		if res.Kind != KindNone || len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "could not be read") {
			t.Errorf("Kind %s, warnings %q", res.Kind, res.Warnings)
		}
	})
}

// TestBoundedWork: pathological bodies are handled in linear time, also
// with the whole of a large text scanned.
func TestBoundedWork(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"from lines":      strings.Repeat("From: a <a@b.c>\n", 200000),
		"header lines":    strings.Repeat("From: a\nSent: Monday, March 2, 2026 10:15 AM\nTo: b\n", 50000),
		"continuations":   "From: a <a@b.c>\nDate: Mon, 2 Mar 2026 10:15:03 +0100\nTo: b@c.d," + strings.Repeat("\n<x@y.z>,", 300000),
		"soft breaks":     "Begin forwarded message:\nFrom: a <a@b.c> \n" + strings.Repeat("x \n", 1000000),
		"brackets":        "Begin forwarded message:\nFrom: " + strings.Repeat("<", 3<<20) + "\nSubject: x\n",
		"nested brackets": "Begin forwarded message:\nFrom: " + strings.Repeat("<a@b.c", 500000) + "\nSubject: x\n",
		"at signs":        "Begin forwarded message:\nFrom: " + strings.Repeat("a@", 1<<20) + "\nSubject: x\n",
		"quotes":          "Begin forwarded message:\nFrom: " + strings.Repeat(`"<a@b.c>;`, 300000) + "\nSubject: x\n",
		"markers":         strings.Repeat("---------- Forwarded message ---------\n", 100000),
		"quote marks":     strings.Repeat(">", 3<<20) + "From: a\n",
		"long line":       "From: " + strings.Repeat("x", 3<<20) + "\nSent: Monday, March 2, 2026 10:15 AM\nTo: y\n",
		"nested forwards": strings.Repeat("> Begin forwarded message:\n>\n> From: a <a@b.c>\n> Subject: Fwd: x\n> Date: March 2, 2026 at 10:15:03 AM GMT+1\n>\n", 50000),
	}
	outerDate := time.Date(2026, 3, 3, 9, 0, 12, 0, time.UTC)
	for name, body := range bodies {
		for _, scan := range []int{0, 8 << 20} {
			start := time.Now()
			outer := &mail.Message{Subject: "Fwd: x", Text: body, Date: outerDate}
			res := Extract(nil, outer, &Options{MaxScanBytes: scan})
			// Linear work takes well under a second here; quadratic work
			// on these megabytes takes hours. The bound is loose so that
			// a loaded machine (the race detector, other jobs) does not
			// fail it.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("%s, scan %d: %v", name, scan, d)
			}
			if res.Original == nil {
				t.Errorf("%s: no Original", name)
			}
		}
		// And through the MIME parser.
		Extract(msg("Fwd: x", body), nil, nil)
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	cet := time.FixedZone("", 3600)
	tests := []struct {
		in    string
		want  time.Time
		zone  bool
		clock bool
		amb   bool
	}{
		{"Mon, 2 Mar 2026 10:15:03 +0100", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"Mon, 2 Mar 2026 10:15:03 +0100 (CET)", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"Mon, Mar 2, 2026 at 10:15 AM", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"Mon, Mar 2, 2026 at 10:15\u202fPM", time.Date(2026, 3, 2, 22, 15, 0, 0, utc), false, true, false},
		{"Mon, Mar 2, 2026 at 12:05 AM", time.Date(2026, 3, 2, 0, 5, 0, 0, utc), false, true, false},
		{"Tue, Mar 3, 2026 at 12:05 PM", time.Date(2026, 3, 3, 12, 5, 0, 0, utc), false, true, false},
		{"lun. 2 mars 2026 à 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"mar. 3 mars 2026 à 10:15", time.Date(2026, 3, 3, 10, 15, 0, 0, utc), false, true, false},
		{"Mo., 2. März 2026 um 10:15 Uhr", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"Monday, March 2, 2026 10:15 AM", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"Monday, March 02, 2026 4:47 PM", time.Date(2026, 3, 2, 16, 47, 0, 0, utc), false, true, false},
		{"Monday, 2 March 2026 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"lundi 2 mars 2026 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"Montag, 2. März 2026 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"Mittwoch, 25. Februar 2026 08:00", time.Date(2026, 2, 25, 8, 0, 0, 0, utc), false, true, false},
		{"jeudi 17 décembre 2026 17h45", time.Date(2026, 12, 17, 17, 45, 0, 0, utc), false, true, false},
		{"March 2, 2026 at 10:15:03 AM GMT+1", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"March 2, 2026 at 10:15:03 AM GMT-05:00", time.Date(2026, 3, 2, 10, 15, 3, 0, time.FixedZone("", -5*3600)), true, true, false},
		{"2 March 2026 at 10:15:03 CET", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"2 mars 2026 à 10:15:03 UTC+1", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"2. März 2026 um 10:15:03 MEZ", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"2. August 2026 um 10:15:03 MESZ", time.Date(2026, 8, 2, 10, 15, 3, 0, time.FixedZone("", 7200)), true, true, false},
		{"Sunday, 1 March 2026 18:00", time.Date(2026, 3, 1, 18, 0, 0, 0, utc), false, true, false},
		{"2026-03-02T10:15:03+01:00", time.Date(2026, 3, 2, 10, 15, 3, 0, cet), true, true, false},
		{"2026-03-02 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"02.03.2026 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, false},
		{"3/2/2026 10:15 AM", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, true},
		{"02/03/2026 10:15", time.Date(2026, 3, 2, 10, 15, 0, 0, utc), false, true, true},
		{"13/03/2026 10:15", time.Date(2026, 3, 13, 10, 15, 0, 0, utc), false, true, false},
		{"March 2, 2026", time.Date(2026, 3, 2, 0, 0, 0, 0, utc), false, false, false},
		{"Thu, Feb 5, 2026 at 9:03\u202fam", time.Date(2026, 2, 5, 9, 3, 0, 0, utc), false, true, false},
	}
	for _, tc := range tests {
		pd, ok := parseDate(tc.in, utc)
		if !ok || !pd.t.Equal(tc.want) || pd.t.Format("-0700") != tc.want.Format("-0700") ||
			pd.zone != tc.zone || pd.clock != tc.clock || pd.ambiguous != tc.amb {
			t.Errorf("parseDate(%q) = %v %s zone=%v clock=%v amb=%v; want %s zone=%v clock=%v amb=%v",
				tc.in, ok, pd.t, pd.zone, pd.clock, pd.ambiguous, tc.want, tc.zone, tc.clock, tc.amb)
		}
	}
	for _, bad := range []string{
		"", "sometime last week", "yesterday at 10:15", "Mon, Mar 2 at 10:15 AM", "31 February 2026 10:15",
		"March 2, 2026 at 13:15 PM", "March 2, 2026 at 25:00", "March 2, 2026 10:15 GMT+25",
		"2 3 2026", "March April 2, 2026", "March 2, 2026 10:15 CET CET", "2 March 1066 10:15",
		"Monday, March 2, 2026 10:15 AM (Eastern Time)x y z 1 2 3 4 5 6 7 8 9 10 11 12",
	} {
		if pd, ok := parseDate(bad, utc); ok {
			t.Errorf("parseDate(%q) = %s, want failure", bad, pd.t)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"Alice Smith <Alice.Smith@Client.Example.com>", []string{"Alice Smith <alice.smith@client.example.com>"}},
		{"<alice@client.example.com>", []string{"<alice@client.example.com>"}},
		{"alice@client.example.com", []string{"<alice@client.example.com>"}},
		{`"Smith, Alice" <alice@x.example>, Bob <bob@x.example>`, []string{"Smith, Alice <alice@x.example>", "Bob <bob@x.example>"}},
		{"Smith, Alice <alice@x.example>, Builder, Bob <bob@x.example>", []string{"Smith, Alice <alice@x.example>", "Builder, Bob <bob@x.example>"}},
		{"Smith, Alice <alice@x.example>; Builder, Bob <bob@x.example>;", []string{"Smith, Alice <alice@x.example>", "Builder, Bob <bob@x.example>"}},
		{"Smith, Alice", []string{"Smith, Alice"}},
		{"Alice Smith; 'Bob Builder'; 'carol@x.example'", []string{"Alice Smith", "Bob Builder", "<carol@x.example>"}},
		{"Alice Smith [mailto:alice@x.example]", []string{"Alice Smith <alice@x.example>"}},
		{"Alice Smith <alice@x.example<mailto:alice@x.example>>", []string{"Alice Smith <alice@x.example>"}},
		{"alice@x.example<mailto:alice@x.example>", []string{"<alice@x.example>"}},
		{"Alice <mailto:alice@x.example>", []string{"Alice <alice@x.example>"}},
		{"Alice (Sales) <alice@x.example>", []string{"Alice (Sales) <alice@x.example>"}},
		{"Alice alice@x.example", []string{"Alice <alice@x.example>"}},
		{"'alice@x.example' <alice@x.example>", []string{"<alice@x.example>"}},
		{"Jürgen Müller <juergen@müller.example>", []string{"Jürgen Müller <juergen@müller.example>"}},
		{`"A \"quoted\" name" <a@x.example>`, []string{`A "quoted" name <a@x.example>`}},
		{"a@x.example, a@x.example, A <A@X.example>", []string{"<a@x.example>"}},
		{"Alice <alice@x.example", []string{"Alice <alice@x.example>"}},
		{"*Alice* <alice@x.example>", []string{"Alice <alice@x.example>"}},
		{"Undisclosed recipients:;", nil},
		{"Team: a@x.example, b@x.example;", []string{"<a@x.example>", "<b@x.example>"}},
		{"", nil},
		{" ; , ", nil},
	}
	for _, tc := range tests {
		got, dropped := parseAddressList(tc.in)
		if g := fmtAddrs(got); !slices.Equal(g, tc.want) || dropped != 0 {
			t.Errorf("parseAddressList(%q) = %q (%d dropped), want %q", tc.in, g, dropped, tc.want)
		}
	}
	many := strings.Repeat("x@y.example, ", 10) + strings.Repeat("a@b.example, ", 1)
	for i := range 1500 {
		many += "u" + time.Duration(i).String() + "@b.example, "
	}
	if got, dropped := parseAddressList(many); len(got) != maxAddresses || dropped == 0 {
		t.Errorf("%d addresses, %d dropped", len(got), dropped)
	}
}

func TestSubjectKind(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]subjKind{
		"Fwd: Quote": forwardSubject, "FW: RE: Quote": forwardSubject, "TR : Devis": forwardSubject,
		"WG: Angebot": forwardSubject, "[EXTERNAL] Fw: Quote": forwardSubject, "RE: FW: Quote": replySubject,
		"AW: Angebot": replySubject, "Re[2]: Quote": replySubject, "Quote": plainSubject,
		"Meeting: 10:15": plainSubject, "": plainSubject,
	} {
		if got := subjectKind(s); got != want {
			t.Errorf("subjectKind(%q) = %d, want %d", s, got, want)
		}
	}
	if got := stripForwardPrefixes("Fwd: FW: TR : Quote: final"); got != "Quote: final" {
		t.Errorf("stripForwardPrefixes = %q", got)
	}
}
