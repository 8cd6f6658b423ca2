package forwarded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/mail"
)

// FuzzExtract: Extract never panics, always returns an Original, and its
// output is valid UTF-8 made of the input's pieces. Each input is run as a
// raw message and, to reach the block scanner without the MIME layer, as
// the text of a message.
func FuzzExtract(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(raw) < 16<<10 {
			f.Add(raw)
		}
	}
	for _, s := range []string{
		"Begin forwarded message:\n\n> From: a <a@b.c>\n> Date: March 2, 2026 at 10:15:03 AM GMT+1\n> To: d@e.f,\n> g@h.i\n\n> x",
		"________________________________\n*From:* A [mailto:a@b.c]\n*Sent:* lundi 2 mars 2026 10:15\nÀ : B; C\nObjet : x\n\ny",
		"-----Original Message-----\nFrom: <<<a@b\nSent: 3/2/2026 10:15 PM\nSubject: \n",
		"From: x <a@b.c<mailto:a@b.c>>\nDate: Mo., 2. März 2026 um 10:15 Uhr\nTo: (a@b.c) [x@y.z] \"q\\\"@r.s\"\n",
	} {
		f.Add([]byte(s))
	}
	outerDate := time.Date(2026, 3, 3, 9, 0, 12, 0, time.FixedZone("", 3600))
	f.Fuzz(func(t *testing.T, raw []byte) {
		res := Extract(raw, nil, &Options{MaxScanBytes: 4096})
		checkFuzz(t, res, true)
		outer := &mail.Message{Subject: "Fwd: x", Text: string(raw), Date: outerDate,
			From: []mail.Address{{Email: "ann@acme.example"}}}
		res = Extract(nil, outer, nil)
		checkFuzz(t, res, utf8.Valid(raw))
		if len(res.Note)+len(res.Original.Text) > len(raw) {
			t.Errorf("note and text longer than the input")
		}
		if res.Kind == KindNone && res.Original.Text != outer.Text {
			t.Errorf("KindNone changed the text")
		}
	})
}

func checkFuzz(t *testing.T, res Result, validUTF8 bool) {
	t.Helper()
	switch res.Kind {
	case KindNone, KindInline, KindAttached:
	default:
		t.Fatalf("Kind %q", res.Kind)
	}
	o := res.Original
	if o == nil {
		t.Fatal("no Original")
	}
	if (res.Kind == KindAttached) != (res.Attachment != nil) {
		t.Errorf("Attachment %v for Kind %s", res.Attachment, res.Kind)
	}
	var strs []string
	for _, list := range [][]mail.Address{o.From, o.To, o.Cc, o.Bcc, o.ReplyTo} {
		for _, a := range list {
			if a.Name == "" && a.Email == "" {
				t.Errorf("empty address")
			}
			// Only Extract's own addresses: the others are mimeparse's.
			if res.Kind == KindInline && a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\n<>[]()") || a.Email != strings.ToLower(a.Email)) {
				t.Errorf("bad address %q", a.Email)
			}
			strs = append(strs, a.Name, a.Email)
		}
	}
	if !validUTF8 {
		return
	}
	strs = append(strs, o.Subject, o.Text, res.Note)
	strs = append(strs, res.Warnings...)
	for _, s := range strs {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8: %q", s)
		}
	}
}
