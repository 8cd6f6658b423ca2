package compose

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
)

var (
	date = time.Date(2030, 3, 4, 10, 30, 0, 0, time.FixedZone("", 3600))
	ann  = crm.Address{Name: "Ann Example", Email: "ann@acme.test"}
)

// wellFormed checks what every built message must be: 7-bit, CRLF lines
// of at most 998 characters (header lines at most 78 where foldable), no
// Bcc.
func wellFormed(t testing.TB, raw []byte) {
	t.Helper()
	for i, c := range raw {
		if c >= 0x80 || c == 0 {
			t.Fatalf("byte %d is %#x: not 7-bit", i, c)
		}
		if c == '\n' && (i == 0 || raw[i-1] != '\r') || c == '\r' && (i+1 >= len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR or LF at %d", i)
		}
	}
	head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no header/body separator")
	}
	for _, l := range strings.Split(string(raw), "\r\n") {
		if len(l) > 998 {
			t.Fatalf("line of %d characters: %.80s…", len(l), l)
		}
	}
	for _, l := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "bcc:") {
			t.Fatalf("Bcc header in the message: %s", l)
		}
	}
}

func TestBuildShapes(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.4 binary \x00\xff\xfe"), 500)
	for _, tc := range []struct {
		name      string
		req       crm.SendRequest
		wantType  string   // top-level media type
		wantParts []string // Content-Type lines expected somewhere
		text      string   // substring of the parsed text
		html      string   // substring of the parsed HTML ("" : none)
		atts      []string // attachment names
	}{
		{name: "text only",
			req:      crm.SendRequest{To: []crm.Address{{Email: "bob@client.test"}}, Subject: "Hello", Text: "Hi Bob,\nsee you.\n"},
			wantType: "text/plain", text: "see you."},
		{name: "text and html",
			req:      crm.SendRequest{To: []crm.Address{{Email: "bob@client.test"}}, Subject: "Hello", Text: "Hi *Bob*", HTML: "<p>Hi <b>Bob</b></p>"},
			wantType: "multipart/alternative", wantParts: []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"}, text: "Hi *Bob*", html: "<b>Bob</b>"},
		{name: "html only: text derived",
			req: crm.SendRequest{To: []crm.Address{{Email: "bob@client.test"}}, Subject: "Hello",
				HTML: `<html><head><style>p{color:red}</style></head><body><h1>Offer</h1><p>See <a href="https://acme.test/o">our offer</a>.</p><ul><li>one</li><li>two</li></ul></body></html>`},
			wantType: "multipart/alternative", text: "Offer\n\nSee our offer <https://acme.test/o>.\n\n- one\n- two", html: "Offer"},
		{name: "attachments",
			req: crm.SendRequest{To: []crm.Address{{Email: "bob@client.test"}}, Subject: "Quote", Text: "Attached.",
				Attachments: []crm.SendAttachment{
					{Filename: "quote.pdf", ContentType: "application/pdf", Content: pdf},
					{Filename: "naïve résumé.txt", Content: []byte("héllo")},
					{Filename: "../../etc/passwd", ContentType: "text/plain; charset=utf-8", Content: []byte("root")},
					{Filename: "", Content: []byte{}},
				}},
			wantType: "multipart/mixed", wantParts: []string{"application/pdf", "filename*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"},
			text: "Attached.", atts: []string{"quote.pdf", "naïve résumé.txt", "passwd", "attachment-4"}},
		{name: "html and attachment",
			req: crm.SendRequest{To: []crm.Address{{Email: "bob@client.test"}}, Subject: "Quote", HTML: "<p>Attached</p>",
				Attachments: []crm.SendAttachment{{Filename: "a.csv", Content: []byte("a,b\n1,2\n")}}},
			wantType: "multipart/mixed", wantParts: []string{"multipart/alternative", "text/csv"}, text: "Attached", html: "Attached", atts: []string{"a.csv"}},
		{name: "attachment without body",
			req: crm.SendRequest{Bcc: []crm.Address{{Email: "hidden@client.test"}}, Subject: "",
				Attachments: []crm.SendAttachment{{Filename: "x.bin", Content: []byte{1, 2, 3}}}},
			wantType: "multipart/mixed", wantParts: []string{"application/octet-stream"}, atts: []string{"x.bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Build(tc.req, ann, "abc123@acme.test", date)
			if err != nil {
				t.Fatal(err)
			}
			wellFormed(t, raw)
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("Content-Type = %q, want %s", ct, tc.wantType)
			}
			for _, p := range tc.wantParts {
				if !bytes.Contains(raw, []byte(p)) {
					t.Errorf("no %q in\n%s", p, raw)
				}
			}
			if m.Header.Get("Message-Id") != "<abc123@acme.test>" || m.Header.Get("Date") != "Mon, 04 Mar 2030 10:30:00 +0100" || m.Header.Get("Mime-Version") != "1.0" {
				t.Errorf("header = %v", m.Header)
			}
			p, kept, err := mimeparse.Parse(bytes.NewReader(raw), &mimeparse.Options{KeepAttachmentsUnder: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Warnings) > 0 {
				t.Errorf("parser warnings: %v\n%s", p.Warnings, raw)
			}
			if !strings.Contains(p.Text, tc.text) {
				t.Errorf("text = %q, want it to contain %q", p.Text, tc.text)
			}
			if tc.html == "" && p.HTML != "" || !strings.Contains(p.HTML, tc.html) {
				t.Errorf("html = %q, want %q", p.HTML, tc.html)
			}
			var names []string
			for i, a := range p.Attachments {
				names = append(names, a.Filename)
				want := tc.req.Attachments[i].Content
				if a.Size != int64(len(want)) {
					t.Errorf("attachment %d size %d, want %d", i, a.Size, len(want))
				}
				for _, k := range kept {
					if k.Index == a.Index && !bytes.Equal(k.Data, want) {
						t.Errorf("attachment %d content differs", i)
					}
				}
			}
			if !slices.Equal(names, tc.atts) {
				t.Errorf("attachments = %q, want %q", names, tc.atts)
			}
			// Same input, same bytes: a retry sends exactly what the first
			// attempt did.
			again, _ := Build(tc.req, ann, "abc123@acme.test", date)
			if !bytes.Equal(raw, again) {
				t.Error("Build is not deterministic")
			}
		})
	}
}

func TestBuildHeaders(t *testing.T) {
	req := crm.SendRequest{
		To: []crm.Address{{Name: "Björn Ångström", Email: "bjorn@client.test"}, {Name: "Smith, John", Email: "john@client.test"},
			{Name: `Dr. "Q" Who`, Email: "q@client.test"}, {Email: "plain@client.test"}},
		Cc:        []crm.Address{{Name: "日本 太郎", Email: "taro@client.jp"}},
		Bcc:       []crm.Address{{Name: "Secret", Email: "secret@client.test"}},
		Subject:   "Réunion: l'offre 2030 — état des lieux, avec un sujet assez long pour être plié sur plusieurs lignes",
		Text:      "x",
		InReplyTo: "<orig.1@client.test>",
	}
	raw, err := Build(req, crm.Address{Name: "Ann Ørsted", Email: "ann@acme.test"}, "id1@acme.test", date)
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, raw)
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(l) > lineMax {
			t.Errorf("header line of %d characters: %s", len(l), l)
		}
	}
	if bytes.Contains(raw, []byte("secret")) || bytes.Contains(raw, []byte("Secret")) {
		t.Fatalf("the Bcc recipient is in the message:\n%s", head)
	}
	p, _, _ := mimeparse.Parse(bytes.NewReader(raw), nil)
	if p.Subject != req.Subject {
		t.Errorf("subject = %q", p.Subject)
	}
	want := crm.Participants{From: []crm.Address{{Name: "Ann Ørsted", Email: "ann@acme.test"}},
		To: req.To, Cc: req.Cc}
	want.To[3].Name = ""
	if fmt.Sprint(p.From) != fmt.Sprint(want.From) || fmt.Sprint(p.To) != fmt.Sprint(want.To) || fmt.Sprint(p.Cc) != fmt.Sprint(want.Cc) || len(p.Bcc) != 0 {
		t.Errorf("participants:\nfrom %v\nto %v\ncc %v\nbcc %v", p.From, p.To, p.Cc, p.Bcc)
	}
	if !slices.Equal(p.InReplyTo, []string{"orig.1@client.test"}) || !slices.Equal(p.References, []string{"orig.1@client.test"}) || p.MessageID != "id1@acme.test" {
		t.Errorf("ids: %q %q %q", p.MessageID, p.InReplyTo, p.References)
	}
	if !p.Date.Equal(date) {
		t.Errorf("date = %v", p.Date)
	}
	if got := Recipients(req); !slices.Equal(got, []string{"bjorn@client.test", "john@client.test", "q@client.test", "plain@client.test", "taro@client.jp", "secret@client.test"}) {
		t.Errorf("recipients = %q", got)
	}
}

func TestBuildSubjects(t *testing.T) {
	for _, s := range []string{
		"",
		"Hello",
		"  spaced   out  ",
		"line\r\nBcc: injected@evil.test",
		"=?utf-8?q?looks_encoded?=",
		strings.Repeat("x", 990),     // one word longer than a line
		strings.Repeat("word ", 190), // many words
		strings.Repeat("ü", 300),     // all non-ASCII
		"emoji 🎉 and CJK 漢字 mixed with ASCII", // mixed
	} {
		raw, err := Build(crm.SendRequest{To: []crm.Address{{Email: "b@c.test"}}, Subject: s}, ann, "s@acme.test", date)
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, raw)
		p, _, _ := mimeparse.Parse(bytes.NewReader(raw), nil)
		if want := clean(s); p.Subject != want {
			t.Errorf("subject %q came back as %q", want, p.Subject)
		}
		if bytes.Contains(raw, []byte("\r\nBcc:")) {
			t.Error("header injection through the subject")
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	ok := crm.SendRequest{To: []crm.Address{{Email: "b@c.test"}}}
	for name, tc := range map[string]struct {
		req  crm.SendRequest
		from crm.Address
		id   string
	}{
		"no recipient":        {crm.SendRequest{}, ann, "a@b"},
		"no from":             {ok, crm.Address{}, "a@b"},
		"bad message id":      {ok, ann, "no-at-sign"},
		"message id brackets": {ok, ann, "<a@b>"},
		"injected address":    {crm.SendRequest{To: []crm.Address{{Email: "b@c.test\r\nBcc: x@y"}}}, ann, "a@b"},
		"bad in-reply-to":     {crm.SendRequest{To: ok.To, InReplyTo: "x y"}, ann, "a@b"},
		"bad content type":    {crm.SendRequest{To: ok.To, Attachments: []crm.SendAttachment{{Filename: "a", ContentType: "multipart/mixed"}}}, ann, "a@b"},
	} {
		if _, err := Build(tc.req, tc.from, tc.id, date); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for in, want := range map[string]string{
		"<p>a</p><p>b</p>":                            "a\n\nb\n",
		"a<br>b<br/>c":                                "a\nb\nc\n",
		"<div>x &amp; y&nbsp;z</div>":                 "x & y z\n",
		`<a href="mailto:x@y.test">x@y.test</a>`:      "x@y.test\n",
		`<a href="https://e.test">https://e.test</a>`: "https://e.test\n",
		`<a href="https://e.test">site</a>`:           "site <https://e.test>\n",
		"<pre>  keep\n   this</pre>after":             "keep\n   this\n\nafter\n",
		"<script>alert(1)</script>visible":            "visible\n",
		`<img alt="logo" src="x">Hi`:                  "[logo] Hi\n",
	} {
		if got := HTMLToText(in); got != want {
			t.Errorf("HTMLToText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	a, b := NewMessageID("Ann@Acme.TEST"), NewMessageID("ann@acme.test")
	if a == b || !strings.HasSuffix(a, "@acme.test") || checkMsgID(a) != nil {
		t.Fatalf("%q %q", a, b)
	}
}

// FuzzCompose: any request whose addresses are well-formed builds a
// well-formed 7-bit message that parses back to the same subject, display
// names, bodies' presence and attachment names and sizes.
func FuzzCompose(f *testing.F) {
	f.Add("Hello", "Björn", "text", "<p>html</p>", "naïve.txt", []byte("data"))
	f.Add("", "", "", "", "", []byte{})
	f.Add("=?x?q?y?=\r\n", "a\"b\\c", "\r\r\n.", "<pre>", "../a b", []byte{0, 0xff})
	f.Fuzz(func(t *testing.T, subject, name, text, html, filename string, content []byte) {
		req := crm.SendRequest{To: []crm.Address{{Name: name, Email: "to@client.test"}}, Subject: subject, Text: text, HTML: html}
		if filename != "" {
			req.Attachments = []crm.SendAttachment{{Filename: filename, Content: content}}
		}
		raw, err := Build(req, ann, "fuzz@acme.test", date)
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, raw)
		p, _, err := mimeparse.Parse(bytes.NewReader(raw), nil)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(subject) && len(subject) < 900 && p.Subject != clean(subject) {
			t.Errorf("subject %q came back as %q", clean(subject), p.Subject)
		}
		if len(p.To) != 1 || p.To[0].Email != "to@client.test" {
			t.Fatalf("to = %v", p.To)
		}
		// (mimeparse drops quotes around a whole name: compare without.)
		n := strings.TrimSpace(strings.Trim(clean(name), `"'`))
		if utf8.ValidString(name) && n != "" && !strings.EqualFold(clean(name), "to@client.test") && p.To[0].Name != n {
			t.Errorf("name %q came back as %q", n, p.To[0].Name)
		}
		if len(p.Attachments) != len(req.Attachments) {
			t.Fatalf("%d attachments, want %d", len(p.Attachments), len(req.Attachments))
		}
		if len(req.Attachments) == 1 && p.Attachments[0].Size != int64(len(content)) {
			t.Errorf("attachment size %d, want %d", p.Attachments[0].Size, len(content))
		}
	})
}
