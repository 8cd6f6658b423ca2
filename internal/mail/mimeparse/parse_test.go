package mimeparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/mail"
)

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// b64 encodes data in 76-character lines (RFC 2045 section 6.8).
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// ew is an RFC 2047 B encoded word in UTF-8.
func ew(s string) string {
	return "=?utf-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

var (
	pdf = append([]byte("%PDF-1.5\n"), testData(5000, 1)...)
	png = append([]byte("\x89PNG\r\n\x1a\n"), testData(700, 2)...)
	zip = append([]byte("PK\x03\x04"), testData(1234, 3)...)
	csv = []byte("id,name\n1,Jane\n2,Bob\n")
)

type fixture struct {
	name string
	raw  string // LF line ends; also run with CRLF unless lfOnly
	opts *Options
	// lfOnly: the check depends on the exact line ends.
	lfOnly bool
	check  func(t *testing.T, m *mail.Message, kept []KeptAttachment, crlf bool)
}

func hasWarning(m *mail.Message, sub string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func wantWarning(t *testing.T, m *mail.Message, sub string) {
	t.Helper()
	if !hasWarning(m, sub) {
		t.Errorf("no warning containing %q in %q", sub, m.Warnings)
	}
}

func wantNoWarnings(t *testing.T, m *mail.Message) {
	t.Helper()
	if len(m.Warnings) > 0 {
		t.Errorf("unexpected warnings %q", m.Warnings)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func keptData(kept []KeptAttachment, index int) []byte {
	for _, k := range kept {
		if k.Index == index {
			return k.Data
		}
	}
	return nil
}

var fixtures = []fixture{
	{
		name: "multipart/alternative",
		raw: `From: "Doe, Jane" <Jane.Doe@Example.COM>
To: bob@example.org, Carol <carol@example.org>
Subject: Quarterly numbers
Date: Tue, 5 Mar 2024 10:15:00 +0100
Message-ID: <abc.123@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

This is a multi-part message in MIME format.
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello Bob,=0A=0Athe numbers are in: 5 =3D 5.
Soft=
 break, caf=C3=A9.
--b1
Content-Type: text/html; charset=utf-8

<html><head><title>T</title><style>p{color:red}</style></head><body><p>Hello <b>Bob</b>,</p><p>the numbers</p></body></html>
--b1--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "From", m.From, []mail.Address{{Name: "Doe, Jane", Email: "jane.doe@example.com"}})
			eq(t, "To", m.To, []mail.Address{{Email: "bob@example.org"}, {Name: "Carol", Email: "carol@example.org"}})
			eq(t, "Subject", m.Subject, "Quarterly numbers")
			eq(t, "MessageID", m.MessageID, "abc.123@example.com")
			eq(t, "Date", m.Date.UTC(), time.Date(2024, 3, 5, 9, 15, 0, 0, time.UTC))
			eq(t, "Text", m.Text, "Hello Bob,\n\nthe numbers are in: 5 = 5.\nSoft break, café.")
			if !strings.Contains(m.HTML, "<p>Hello <b>Bob</b>,</p>") || strings.Contains(m.HTML, "color:red") {
				t.Errorf("HTML = %q", m.HTML)
			}
			eq(t, "Attachments", len(m.Attachments), 0)
		},
	},
	{
		name: "multipart/mixed with attachments",
		opts: &Options{KeepAttachmentsUnder: 1 << 20},
		raw: `From: sender@example.com
To: rcpt@example.com
Subject: files
Content-Type: multipart/mixed; boundary="----=_Part_1_2.3"

------=_Part_1_2.3
Content-Type: text/plain

See attached.
------=_Part_1_2.3
Content-Type: application/pdf; name="ignored.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="Quote 42.pdf"

` + b64(pdf) + `
------=_Part_1_2.3
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@example.com>
Content-Disposition: inline; filename=logo.png

` + b64(png) + `
------=_Part_1_2.3
Content-Type: text/csv; charset=us-ascii
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="rows.csv"

` + b64(csv) + `
------=_Part_1_2.3--
epilogue, ignored
`,
		check: func(t *testing.T, m *mail.Message, kept []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "Text", m.Text, "See attached.")
			eq(t, "Attachments", m.Attachments, []mail.Attachment{
				{Index: 0, Filename: "Quote 42.pdf", ContentType: "application/pdf", Size: int64(len(pdf))},
				{Index: 1, Filename: "logo.png", ContentType: "image/png", Size: int64(len(png)), ContentID: "logo@example.com", Inline: true},
				{Index: 2, Filename: "rows.csv", ContentType: "text/csv", Size: int64(len(csv))},
			})
			eq(t, "kept", len(kept), 3)
			eq(t, "kept pdf", keptData(kept, 0), pdf)
			eq(t, "kept png", keptData(kept, 1), png)
			eq(t, "kept csv", keptData(kept, 2), csv)
		},
	},
	{
		name: "nested multiparts",
		raw: `From: a@example.com
Subject: nested
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe, see the logo.
--alt
Content-Type: multipart/related; type="text/html"; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Gr&uuml;&szlig;e <img src="cid:img1@x" alt="logo"></p>
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <img1@x>

` + b64(png) + `
--rel--
--alt--
--outer
Content-Type: application/zip; name=archive.zip
Content-Transfer-Encoding: base64

` + b64(zip) + `
--outer
Content-Type: text/plain

-- 
list footer
--outer--
`,
		check: func(t *testing.T, m *mail.Message, kept []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "Text", m.Text, "Grüße, see the logo.\n\n-- \nlist footer")
			if !strings.Contains(m.HTML, `<img src="cid:img1@x" alt="logo">`) || !strings.Contains(m.HTML, "Grüße") {
				t.Errorf("HTML = %q", m.HTML)
			}
			eq(t, "Attachments", m.Attachments, []mail.Attachment{
				{Index: 0, ContentType: "image/png", Size: int64(len(png)), ContentID: "img1@x", Inline: true},
				{Index: 1, Filename: "archive.zip", ContentType: "application/zip", Size: int64(len(zip))},
			})
			eq(t, "kept", len(kept), 0)
		},
	},
	{
		name: "RFC 2047 names in many charsets",
		raw: `From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <JM@Example.de>
To: =?utf-8?Q?Fran=C3=A7ois_Lef=C3=A8vre?= <f@x.fr>, =?utf-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <ivan@x.ru>,
 "=?windows-1252?Q?=93Smart=94_Quotes_=96_=805?=" <smart@x.com>
Cc: =?shift_jis?B?k2OShiCRvphZ?= <taro@x.jp>, =?gb2312?B?zfXOsA==?= <wang@x.cn>,
 =?koi8-r?B?88XSx8XK?= <s@x.ru>, =?iso-2022-jp?B?GyRCMnE1RCRON28bKEI=?= <k@x.jp>,
 =?euc-kr?B?sei5zsHY?= <kim@x.kr>, =?iso-8859-7?B?xevd7ec=?= <e@x.gr>
Subject: ` + ew("🎉 Launch ") + `
 =?iso-8859-1?q?caf=E9?= day
Content-Type: text/plain

hi
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "From", m.From, []mail.Address{{Name: "Jürgen Müller", Email: "jm@example.de"}})
			eq(t, "To", m.To, []mail.Address{
				{Name: "François Lefèvre", Email: "f@x.fr"},
				{Name: "Иван Петров", Email: "ivan@x.ru"},
				{Name: "“Smart” Quotes – €5", Email: "smart@x.com"},
			})
			eq(t, "Cc", m.Cc, []mail.Address{
				{Name: "田中 太郎", Email: "taro@x.jp"},
				{Name: "王伟", Email: "wang@x.cn"},
				{Name: "Сергей", Email: "s@x.ru"},
				{Name: "会議の件", Email: "k@x.jp"},
				{Name: "김민준", Email: "kim@x.kr"},
				{Name: "Ελένη", Email: "e@x.gr"},
			})
			eq(t, "Subject", m.Subject, "🎉 Launch café day")
		},
	},
	{
		name: "RFC 2231 and RFC 2047 file names",
		raw: `From: a@example.com
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%82%AC%202024.pdf

x
--b
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''R%C3%A9sum;
 filename*1*=%C3%A9;
 filename*2=".pdf"

x
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=iso-8859-1'fr'R%E9sum%E9.pdf

x
--b
Content-Type: application/pdf; name="=?utf-8?B?QW5nZWJvdF/DnGJlcl9QcmVpc2UucGRm?="

x
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename="fallback.pdf"; filename*=utf-8''%E2%82%AC.pdf

x
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="../../etc/passwd"; filename="dup"

x
--b--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			var names []string
			for _, a := range m.Attachments {
				names = append(names, a.Filename)
			}
			eq(t, "names", names, []string{"Résumé € 2024.pdf", "Résumé.pdf", "Résumé.pdf", "Angebot_Über_Preise.pdf", "€.pdf", "passwd"})
			wantWarning(t, m, `duplicate parameter "filename"`)
		},
	},
	{
		name: "no Message-ID, no Date",
		raw:  "From: a@example.com\nSubject: plain\n\nbody\n",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "MessageID", m.MessageID, "")
			eq(t, "Date", m.Date.IsZero(), true)
			eq(t, "Text", m.Text, "body\n")
		},
	},
	{
		name: "broken Date",
		raw:  "From: a@example.com\nDate: Yesterday 25:61:00 +9900\n\nbody",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Date", m.Date.IsZero(), true)
			wantWarning(t, m, `Date "Yesterday 25:61:00 +9900" unparseable`)
		},
	},
	{
		name: "header line without colon",
		raw:  "From: a@example.com\nThis line is not a header at all\nSubject: still parsed\nX-After: yes\n\nbody",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Warnings", m.Warnings, []string{"header line 2 has no colon; skipped"})
			eq(t, "Subject", m.Subject, "still parsed")
			eq(t, "From", m.From, []mail.Address{{Email: "a@example.com"}})
			eq(t, "Text", m.Text, "body")
		},
	},
	{
		name: "header starting with white space and a bad field name",
		raw:  " folded first line\nFrom: a@example.com\nBad Name: x\nSubject: ok\n\nbody",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Warnings", m.Warnings, []string{"header line 1 starts with white space; skipped", "header line 3 has an invalid field name; skipped"})
			eq(t, "Subject", m.Subject, "ok")
		},
	},
	{
		name: "truncated multipart without closing boundary",
		raw: `From: a@example.com
Content-Type: multipart/mixed; boundary="zzz"

--zzz
Content-Type: text/plain

Here is the file.
--zzz
Content-Type: application/pdf
Content-Disposition: attachment; filename="cut.pdf"
Content-Transfer-Encoding: base64

` + b64(pdf)[:1000],
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "Here is the file.")
			wantWarning(t, m, "message body: multipart/mixed has no closing boundary")
			eq(t, "attachments", len(m.Attachments), 1)
			if a := m.Attachments[0]; a.Filename != "cut.pdf" || a.Size < 700 || a.Size > 750 {
				t.Errorf("attachment %+v", a)
			}
		},
	},
	{
		name:   "unknown charset",
		raw:    "From: a@example.com\nContent-Type: text/plain; charset=\"x-foo\"\nContent-Transfer-Encoding: 8bit\n\ncaf\xe9 ok",
		lfOnly: true,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Warnings", m.Warnings, []string{"part 1: unknown charset x-foo; shown undecoded"})
			eq(t, "Text", m.Text, "caf\uFFFD ok")
		},
	},
	{
		name:   "8-bit headers",
		raw:    "From: \"Jürgen Müller\" <j@x.de>\nTo: J\xfcrgen <j2@x.de>\nSubject: Caf\xe9 cr\xe8me\n\nbody",
		lfOnly: true,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "From", m.From, []mail.Address{{Name: "Jürgen Müller", Email: "j@x.de"}})
			eq(t, "To", m.To, []mail.Address{{Name: "Jürgen", Email: "j2@x.de"}})
			eq(t, "Subject", m.Subject, "Café crème")
			eq(t, "Warnings", m.Warnings, []string{
				"Subject: raw 8-bit bytes not valid UTF-8; read as Windows-1252",
				"To: raw 8-bit bytes not valid UTF-8; read as Windows-1252",
			})
		},
	},
	{
		name: "bad encoded words",
		raw:  "Subject: =?utf-8?B?SGVsbG8gd29ybGQ=!!?= and =?x-unknown?Q?caf=E9?= =?utf-8?q?broken\n\nx",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Subject", m.Subject, "=?utf-8?B?SGVsbG8gd29ybGQ=!!?= and caf\uFFFD =?utf-8?q?broken")
			eq(t, "Warnings", m.Warnings, []string{
				"Subject: unknown charset x-unknown in encoded word; shown undecoded",
				"Subject: malformed encoded word left as is",
			})
		},
	},
	{
		name: "HTML only, scripts and handlers stripped",
		raw: `From: a@example.com
Content-Type: text/html; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

<html><head><script>alert(1)</script></head>
<body onload=3D"steal()">
<h1>Tom &amp; Jerry</h1><p style=3D"background:url(https://evil.example/x)">Price: =805</p>
<iframe src=3D"https://evil.example"></iframe><form action=3D"https://evil.example"><input name=3Dq></form>
<a href=3D"javascript:alert(1)">bad</a> <a href=3D"https://ok.example/">good</a>
<img src=3D"https://tracker.example/p.gif" onerror=3D"x()"> <img src=3D"cid:part1@x">
<ul><li>one</li><li>two</li></ul></body></html>
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			for _, bad := range []string{"script", "alert", "onload", "onerror", "iframe", "<form", "<input", "javascript:", "style=", "evil.example"} {
				if strings.Contains(m.HTML, bad) {
					t.Errorf("HTML contains %q: %s", bad, m.HTML)
				}
			}
			for _, good := range []string{`src="https://tracker.example/p.gif"`, `src="cid:part1@x"`, `href="https://ok.example/"`, "Price: €5", "Tom &amp; Jerry"} {
				if !strings.Contains(m.HTML, good) {
					t.Errorf("HTML lacks %q: %s", good, m.HTML)
				}
			}
			eq(t, "Text", m.Text, "Tom & Jerry\n\nPrice: €5\n\nbad good\none\ntwo")
		},
	},
	{
		name: "message/rfc822 attachment",
		raw: `From: fwd@example.com
Subject: Fwd: report
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

See below.
--m
Content-Type: message/rfc822
Content-Disposition: inline

From: Original Sender <orig@example.com>
Subject: =?utf-8?Q?Quarterly_r=C3=A9port?=
Message-ID: <inner@example.com>
Content-Type: text/plain

The inner body.
--m--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, crlf bool) {
			wantNoWarnings(t, m)
			eq(t, "Text", m.Text, "See below.")
			if len(m.Attachments) != 1 {
				t.Fatalf("attachments %+v", m.Attachments)
			}
			a := m.Attachments[0]
			eq(t, "Filename", a.Filename, "Quarterly réport.eml")
			eq(t, "ContentType", a.ContentType, "message/rfc822")
		},
	},
	{
		name: "text body cut at the limit on a rune boundary",
		opts: &Options{MaxTextBytes: 1001},
		raw:  "From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("é", 3000),
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, strings.Repeat("é", 500))
			eq(t, "TextTruncated", m.TextTruncated, true)
			eq(t, "Warnings", m.Warnings, []string{"text body cut at 1001 bytes"})
		},
	},
	{
		name: "huge text body cut at 1 MiB",
		raw:  "From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64([]byte(strings.Repeat("日本語のテキスト ", 150000))),
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			if len(m.Text) > 1<<20 || len(m.Text) < 1<<20-3 || !utf8.ValidString(m.Text) {
				t.Errorf("len(Text) = %d, valid %v", len(m.Text), utf8.ValidString(m.Text))
			}
			eq(t, "TextTruncated", m.TextTruncated, true)
			eq(t, "Warnings", m.Warnings, []string{"text body cut at 1 MiB"})
		},
	},
	{
		name: "bad base64 keeps what decoded",
		opts: &Options{KeepAttachmentsUnder: 1000},
		raw: `From: a@example.com
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/pdf; name="broken.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK!!!not*base64###
AAAA=BBBB==CC
===
--b--
`,
		check: func(t *testing.T, m *mail.Message, kept []KeptAttachment, _ bool) {
			eq(t, "Warnings", m.Warnings, []string{"part 1: invalid base64, 8 bytes skipped; kept what decoded"})
			eq(t, "size", m.Attachments[0].Size, int64(22))
			if d := keptData(kept, 0); !bytes.HasPrefix(d, []byte("%PDF-1.4\n")) {
				t.Errorf("kept %q", d)
			}
		},
	},
	{
		name: "lenient quoted-printable",
		raw: "From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"a=3Db =ZZ =C3=A9t=c3=a9   \n" + strings.Repeat("long ", 2000) + "end=\nsoft=\t\ntail\x00=",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "a=b =ZZ été\n"+strings.Repeat("long ", 2000)+"endsofttail")
			eq(t, "Warnings", m.Warnings, []string{
				"part 1: 1 NUL bytes removed from the text",
				"part 1: malformed quoted-printable, 1 escapes kept as they are",
			})
		},
	},
	{
		name:   "NUL bytes and bare CR",
		lfOnly: true,
		raw:    "From: a@example.com\nSubject: a\x00b\n\nline one\rstill\r\rline two\nbefore NUL\x00after NUL\n",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Subject", m.Subject, "ab")
			eq(t, "Text", m.Text, "line one\nstill\n\nline two\nbefore NULafter NUL\n")
			eq(t, "Warnings", m.Warnings, []string{"part 1: 1 NUL bytes removed from the text"})
		},
	},
	{
		name: "mislabelled UTF-8 read as Windows-1252",
		raw:  "From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\nGr\xfc\xdfe \x93quoted\x94\n",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "Grüße “quoted”\n")
			eq(t, "Warnings", m.Warnings, []string{"part 1: text not valid UTF-8; read as Windows-1252"})
		},
		lfOnly: true,
	},
	{
		name: "multipart without boundary parameter",
		raw: `From: a@example.com
Content-Type: multipart/mixed

--guess-me
Content-Type: text/plain

guessed
--guess-me--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "guessed")
			eq(t, "Warnings", m.Warnings, []string{"message body: multipart/mixed without boundary; boundary guessed from the body"})
		},
	},
	{
		name: "mistyped boundary: parts recovered from the preamble",
		raw: `From: a@example.com
Content-Type: multipart/mixed; boundary="abc8"

preamble
--abcX
Content-Type: text/plain

first
--abcX
Content-Type: application/pdf; name=a.pdf

pdf
--abc8
Content-Type: application/zip; name=b.zip

zip
--abc8--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "first")
			eq(t, "attachments", len(m.Attachments), 2)
			eq(t, "Warnings", m.Warnings, []string{`message body: delimiter "abcX" does not match boundary "abc8"; parts read with it`})
		},
	},
	{
		name: "boundary never seen: body kept as text",
		raw:  "From: a@example.com\nContent-Type: multipart/mixed; boundary=nope\n\njust text\n",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "just text\n")
			wantWarning(t, m, `no part found (boundary "nope" never seen); body kept as text`)
		},
	},
	{
		name: "lenient address lists",
		raw: `From: a@example.com
To: Smith, John <John@X.com>, <<broken>>, bare@Recover.org junk junk, "Quoted" <q@x.com>
Cc: undisclosed-recipients:;
Bcc: Team: a@x.com, b@x.com;
Reply-To: <Reply@Example.com>
Sender: =?utf-8?q?List?= <list-bounces@example.com>

x`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "To", m.To, []mail.Address{
				{Name: "Smith, John", Email: "john@x.com"},
				{Email: "bare@recover.org"},
				{Name: "Quoted", Email: "q@x.com"},
			})
			eq(t, "Cc", len(m.Cc), 0)
			eq(t, "Bcc", m.Bcc, []mail.Address{{Email: "a@x.com"}, {Email: "b@x.com"}})
			eq(t, "Reply-To", m.ReplyTo, []mail.Address{{Email: "reply@example.com"}})
			eq(t, "Sender", m.Sender, []mail.Address{{Name: "List", Email: "list-bounces@example.com"}})
			eq(t, "Warnings", m.Warnings, []string{
				`To: skipped "<<broken>>", not an address`,
				`To: unparseable address "bare@Recover.org junk junk"; kept bare@recover.org`,
			})
		},
	},
	{
		name: "message ids",
		raw: `Message-ID: <one@x> <two@x>
In-Reply-To: <a@b> (comment) <c@d>
References: <x@y>
 <z@w> garbage <x@y> <unterminated@q

x`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "MessageID", m.MessageID, "one@x")
			eq(t, "InReplyTo", m.InReplyTo, []string{"a@b", "c@d"})
			eq(t, "References", m.References, []string{"x@y", "z@w", "unterminated@q"})
		},
	},
	{
		name: "message id without brackets",
		raw:  "Message-ID:  1234.abc@host.example  \n\nx",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "MessageID", m.MessageID, "1234.abc@host.example")
		},
	},
	{
		name: "calendar and named text parts are attachments, digest parts are messages",
		raw: `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

body
--b
Content-Type: text/calendar; method=REQUEST

BEGIN:VCALENDAR
END:VCALENDAR
--b
Content-Type: text/plain; name="notes.txt"

notes
--b
Content-Type: multipart/digest; boundary=d

--d

Subject: first

one
--d--
--b--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "Text", m.Text, "body")
			var got []string
			for _, a := range m.Attachments {
				got = append(got, a.ContentType+" "+a.Filename)
			}
			eq(t, "attachments", got, []string{"text/calendar ", "text/plain notes.txt", "message/rfc822 first.eml"})
		},
	},
	{
		name: "malformed part header keeps the part",
		raw: `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain
garbage line
Content-Transfer-Encoding: quoted-printable

caf=C3=A9
--b--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "café")
			eq(t, "Warnings", m.Warnings, []string{"part 1: header line 2 has no colon; skipped"})
		},
	},
	{
		name: "part header runs into the next delimiter",
		raw: `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/pdf; name=empty.pdf
--b
Content-Type: text/plain

text
--b--
`,
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "Text", m.Text, "text")
			eq(t, "Attachments", m.Attachments, []mail.Attachment{{Filename: "empty.pdf", ContentType: "application/pdf"}})
		},
	},
	{
		name: "keep limit",
		opts: &Options{KeepAttachmentsUnder: 1000},
		raw: `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream; name=small
Content-Transfer-Encoding: base64

` + b64(testData(999, 4)) + `
--b
Content-Type: application/octet-stream; name=big
Content-Transfer-Encoding: base64

` + b64(testData(1000, 5)) + `
--b--
`,
		check: func(t *testing.T, m *mail.Message, kept []KeptAttachment, _ bool) {
			eq(t, "kept", kept, []KeptAttachment{{Index: 0, Data: testData(999, 4)}})
		},
	},
	{
		name: "invalid Content-Type and unknown transfer encoding",
		raw:  "Content-Type: text\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Text", m.Text, "begin 644 x\n")
			eq(t, "Warnings", m.Warnings, []string{
				`part 1: invalid Content-Type "text"; read as text/plain`,
				`part 1: unknown Content-Transfer-Encoding "x-uuencode"; content kept undecoded`,
			})
		},
	},
	{
		name: "header without body",
		raw:  "From: a@example.com\nSubject: only a header",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "Subject", m.Subject, "only a header")
			eq(t, "Text", m.Text, "")
		},
	},
	{
		name: "header over the limit",
		opts: &Options{MaxHeaderBytes: 100},
		raw:  "From: a@example.com\nSubject: kept\nX-Long: " + strings.Repeat("x", 200) + "\nTo: lost@example.com\n\nbody",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			eq(t, "Subject", m.Subject, "kept")
			eq(t, "To", len(m.To), 0)
			eq(t, "Text", m.Text, "body")
			eq(t, "Warnings", m.Warnings, []string{"header longer than 100 bytes; the rest of it skipped"})
		},
	},
	{
		name: "mbox From line",
		raw:  "From MAILER-DAEMON Mon Jan 01 08:00:00 2019\nFrom: a@example.com\n\nx",
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantNoWarnings(t, m)
			eq(t, "From", m.From, []mail.Address{{Email: "a@example.com"}})
		},
	},
	{
		name: "deep nesting is cut",
		raw: func() string {
			var b strings.Builder
			b.WriteString("Content-Type: multipart/mixed; boundary=b0\n\n")
			for i := 1; i < 40; i++ {
				fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
			}
			b.WriteString("--b39\nContent-Type: application/pdf\n\nx\n")
			return b.String()
		}(),
		check: func(t *testing.T, m *mail.Message, _ []KeptAttachment, _ bool) {
			wantWarning(t, m, "MIME nesting deeper than 32 levels; skipped")
			eq(t, "attachments", len(m.Attachments), 0)
		},
	},
}

func TestParse(t *testing.T) {
	for _, f := range fixtures {
		for _, crlf := range []bool{false, true} {
			if crlf && f.lfOnly {
				continue
			}
			name := f.name + "/LF"
			raw := f.raw
			if crlf {
				name = f.name + "/CRLF"
				raw = strings.ReplaceAll(raw, "\n", "\r\n")
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m, kept := parseChecked(t, []byte(raw), f.opts)
				f.check(t, m, kept, crlf)
			})
		}
	}
}

// parseChecked parses raw and checks what must hold for every message:
// no error, Size and Hash of the raw bytes, the same result whatever the
// read sizes, and every attachment fetchable by Attachment with the same
// size (and content, when kept).
func parseChecked(t testing.TB, raw []byte, opts *Options) (*mail.Message, []KeptAttachment) {
	t.Helper()
	m, kept, err := Parse(bytes.NewReader(raw), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Size != int64(len(raw)) {
		t.Errorf("Size = %d, want %d", m.Size, len(raw))
	}
	sum := sha256.Sum256(raw)
	if m.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("Hash = %s, want %x", m.Hash, sum)
	}
	for _, w := range m.Warnings {
		if strings.HasPrefix(w, "internal error") {
			t.Errorf("warning %q", w)
		}
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || !utf8.ValidString(m.Subject) {
		t.Errorf("invalid UTF-8 in text, HTML or subject")
	}
	if strings.ContainsRune(m.Text, 0) || strings.ContainsRune(m.HTML, 0) {
		t.Errorf("NUL in text or HTML")
	}
	m2, kept2, err := Parse(iotest.OneByteReader(bytes.NewReader(raw)), opts)
	if err != nil {
		t.Fatalf("Parse one byte at a time: %v", err)
	}
	if !reflect.DeepEqual(m, m2) || !reflect.DeepEqual(kept, kept2) {
		t.Errorf("Parse one byte at a time differs:\n%+v\n%+v", m, m2)
	}
	for _, a := range m.Attachments {
		var buf bytes.Buffer
		got, err := Attachment(bytes.NewReader(raw), a.Index, &buf)
		if err != nil {
			t.Errorf("Attachment(%d): %v", a.Index, err)
			continue
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Attachment(%d) = %+v, want %+v", a.Index, got, a)
		}
		if int64(buf.Len()) != a.Size {
			t.Errorf("Attachment(%d) wrote %d bytes, want %d", a.Index, buf.Len(), a.Size)
		}
		if d := keptData(kept, a.Index); d != nil && !bytes.Equal(d, buf.Bytes()) {
			t.Errorf("Attachment(%d) content differs from the kept one", a.Index)
		}
	}
	if _, err := Attachment(bytes.NewReader(raw), len(m.Attachments), io.Discard); err != ErrNoAttachment {
		t.Errorf("Attachment(%d) past the end: %v, want ErrNoAttachment", len(m.Attachments), err)
	}
	return m, kept
}

// TestForwardedMessage: the content of a message/rfc822 attachment is the
// embedded message, which parses on its own (forwarding mode).
func TestForwardedMessage(t *testing.T) {
	var f fixture
	for _, x := range fixtures {
		if x.name == "message/rfc822 attachment" {
			f = x
		}
	}
	var buf bytes.Buffer
	if _, err := Attachment(strings.NewReader(f.raw), 0, &buf); err != nil {
		t.Fatal(err)
	}
	inner, _, err := Parse(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "From", inner.From, []mail.Address{{Name: "Original Sender", Email: "orig@example.com"}})
	eq(t, "Subject", inner.Subject, "Quarterly réport")
	eq(t, "MessageID", inner.MessageID, "inner@example.com")
	eq(t, "Text", inner.Text, "The inner body.")
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	raw := fixtures[1].raw
	for _, cut := range []int{0, 10, 200, len(raw) / 2} {
		m, _, err := Parse(&failingReader{data: []byte(raw[:cut]), err: boom}, nil)
		if err != boom {
			t.Fatalf("cut %d: err = %v, want %v", cut, err, boom)
		}
		if m == nil || m.Size != int64(cut) {
			t.Fatalf("cut %d: message %+v", cut, m)
		}
		if _, err := Attachment(&failingReader{data: []byte(raw[:cut]), err: boom}, 0, io.Discard); err != boom {
			t.Errorf("Attachment cut %d: err = %v, want %v", cut, err, boom)
		}
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestAttachmentWriteError(t *testing.T) {
	boom := errors.New("disk full")
	if _, err := Attachment(strings.NewReader(fixtures[1].raw), 0, failingWriter{boom}); err != boom {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if _, err := Attachment(strings.NewReader(fixtures[1].raw), -1, io.Discard); err != ErrNoAttachment {
		t.Fatalf("index -1: err = %v", err)
	}
}

func TestParseDate(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		in   string
		want time.Time // zero: unparseable
	}{
		{"Tue, 05 Mar 2024 10:15:00 +0100", utc("2024-03-05T09:15:00Z")},
		{"5 Mar 2024 10:15:00 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 +0100 (CET)", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 EST", utc("2024-03-05T15:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 PDT", utc("2024-03-05T17:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 GMT", utc("2024-03-05T10:15:00Z")},
		{"Tue, 5 Mar 2024 10:15 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 Mar 24 10:15:00 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 +0100 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 Mar 2024 10:15:00 +01:00", utc("2024-03-05T09:15:00Z")},
		{"Tue 5 Mar 2024 10:15:00 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue, 5 March 2024 10:15:00 +0100", utc("2024-03-05T09:15:00Z")},
		{"Tue Mar  5 10:15:00 2024", utc("2024-03-05T10:15:00Z")},
		{"2024-03-05T10:15:00+01:00", utc("2024-03-05T09:15:00Z")},
		{"2024-03-05 10:15:00", utc("2024-03-05T10:15:00Z")},
		{"Yesterday 25:61:00 +9900", time.Time{}},
		{"Mon, 1 Jan 0001 00:00:00 +0000", time.Time{}},
		{"", time.Time{}},
		{"garbage", time.Time{}},
	} {
		got, ok := parseDate(c.in)
		if ok != !c.want.IsZero() || ok && !got.Equal(c.want) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", c.in, got, ok, c.want)
		}
	}
}

func TestDecoders(t *testing.T) {
	data := testData(100000, 9)
	enc := b64(data)
	for name, r := range map[string]io.Reader{
		"base64":          strings.NewReader(enc),
		"base64 CRLF":     strings.NewReader(strings.ReplaceAll(enc, "\n", "\r\n")),
		"base64 one byte": iotest.OneByteReader(strings.NewReader(enc)),
		"base64 indented": strings.NewReader(strings.ReplaceAll(enc, "\n", "\n\t ")),
	} {
		d := newBase64Reader(r)
		got, err := io.ReadAll(d)
		if err != nil || !bytes.Equal(got, data) || d.invalid != 0 {
			t.Errorf("%s: err %v, equal %v, invalid %d", name, err, bytes.Equal(got, data), d.invalid)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVsbG8", "hello"}, // missing padding
		{"aGVs\nbG8=\n", "hello"},
		{"aGVsbG8=aGVsbG8=", "hellohello"}, // concatenated
		{"", ""},
	} {
		got, _ := io.ReadAll(newBase64Reader(strings.NewReader(c.in)))
		if string(got) != c.want {
			t.Errorf("base64 %q = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"a=3Db", "a=b"},
		{"soft=\nbreak", "softbreak"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft=  \r\nbreak", "softbreak"},
		{"trailing   \nspace\t\r\n", "trailing\nspace\r\n"},
		{"=E2=82=AC", "€"},
		{"=e2=82=ac", "€"},
		{"bad=G1 =4", "bad=G1 =4"},
		{"end=", "end"},
		{"cr\ralone", "cr\ralone"},
		{"tab\there", "tab\there"},
	} {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if one {
				r = iotest.OneByteReader(r)
			}
			got, _ := io.ReadAll(newQPReader(r))
			if string(got) != c.want {
				t.Errorf("qp %q (one byte %v) = %q, want %q", c.in, one, got, c.want)
			}
		}
	}
}

func TestParseMediaHeader(t *testing.T) {
	for _, c := range []struct {
		in     string
		value  string
		params map[string]string
	}{
		{`text/plain; charset="utf-8"`, "text/plain", map[string]string{"charset": "utf-8"}},
		{`TEXT/Plain;charset=us-ascii;`, "text/plain", map[string]string{"charset": "us-ascii"}},
		{`text/plain charset=utf-8`, "text/plain", map[string]string{"charset": "utf-8"}},
		{`multipart/mixed; boundary="a;b\"c"`, "multipart/mixed", map[string]string{"boundary": `a;b"c`}},
		{`attachment; filename=My File.pdf`, "attachment", map[string]string{"filename": "My File.pdf"}},
		{`attachment; filename="unterminated.pdf`, "attachment", map[string]string{"filename": "unterminated.pdf"}},
		{`attachment; filename*0="a"; filename*1="b"; filename*2="c"`, "attachment", map[string]string{"filename": "abc"}},
		{`attachment; filename*=''%41%42`, "attachment", map[string]string{"filename": "AB"}},
		{`attachment; filename*=koi8-r''%F3`, "attachment", map[string]string{"filename": "С"}},
		{`text/plain (comment); charset=utf-8`, "text/plain", map[string]string{"charset": "utf-8"}},
	} {
		v, ps, _ := parseMediaHeader(c.in)
		if v != c.value || !reflect.DeepEqual(ps, c.params) {
			t.Errorf("parseMediaHeader(%q) = %q, %v; want %q, %v", c.in, v, ps, c.value, c.params)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\n\nb"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"x <b>bold</b>text y", "x boldtext y"},
		{"<head><title>t</title><style>s{}</style></head><body>only</body>", "only"},
		{"<head><meta charset=utf-8><body>unclosed head", "unclosed head"},
		{"<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>", "1 2\n3"},
		{"&lt;tag&gt; &amp;&nbsp;&euro;", "<tag> & €"},
		{"<script>var x = '<p>';</script>after", "after"},
		{"  lots   of\n\n\t space  ", "lots of space"},
	} {
		if got := htmlToText(c.in); got != c.want {
			t.Errorf("htmlToText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
