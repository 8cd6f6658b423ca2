package mimeparse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/mail"
)

// TestPathological feeds inputs built to hit worst cases: each must parse
// in about linear time and within the bounds (attachments listed,
// warnings, parameters, nesting). Durations are logged, not asserted: a
// quadratic case would take minutes and time out.
func TestPathological(t *testing.T) {
	rep := func(s string, n int) string { return strings.Repeat(s, n) }
	manyParts := func(n int) string {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for range n {
			b.WriteString("--b\nContent-Type: application/octet-stream\n\nx\n")
		}
		return b.String() + "--b--\n"
	}
	long := rep("x", 1000)
	for _, c := range []struct {
		name  string
		raw   string
		check func(t *testing.T, m *mail.Message)
	}{
		{"header lines without colon", rep("no colon here\n", 20000) + "\nbody", func(t *testing.T, m *mail.Message) {
			if len(m.Warnings) != maxWarnings+1 {
				t.Errorf("%d warnings", len(m.Warnings))
			}
		}},
		{"many parameters", "Content-Type: text/plain" + rep("; a*99*=x", 20000) + "\n\nbody", nil},
		{"many sections", "Content-Type: application/pdf" + rep("; name*9=x; name*99=y", 5000) + "\n\nbody", nil},
		{"many references", "References: " + rep("<a@b> ", 40000) + "\n\nx", nil},
		{"many message ids without brackets", "References: " + rep("a@b ", 60000) + "\n\nx", nil},
		{"unterminated brackets", "References: " + rep("<", 200000) + "\n\nx", nil},
		{"nested comments", "Message-ID: " + rep("(", 200000) + "\n\nx", nil},
		{"many addresses", "To: " + rep("a@b.c, ", 30000) + "\n\nx", func(t *testing.T, m *mail.Message) {
			if len(m.To) != maxAddresses {
				t.Errorf("%d addresses", len(m.To))
			}
		}},
		{"many broken addresses", "To: " + rep("<<x, a@b junk, ", 15000) + "\n\nx", nil},
		{"many encoded words", "Subject: " + rep("=?utf-8?q?a?= =?x-bad?q?b?= ", 8000) + "\n\nx", nil},
		{"many tiny parts", manyParts(30000), func(t *testing.T, m *mail.Message) {
			if len(m.Attachments) != maxAttachments {
				t.Errorf("%d attachments", len(m.Attachments))
			}
		}},
		{"long boundary, near misses", "Content-Type: multipart/mixed; boundary=" + long + "\n\n--" + long + "\n\n" +
			rep("\n--"+long[:999]+"y", 3000) + "\n--" + long + "--\n", nil},
		{"nested to the limit", func() string {
			var b strings.Builder
			b.WriteString("Content-Type: multipart/mixed; boundary=b0\n\n")
			for i := 1; i < 200; i++ {
				fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
			}
			return b.String() + rep("filler line\n", 10000)
		}(), nil},
		{"one long line", "Subject: x\n\n" + rep("y", 4<<20), nil},
		{"long header line", "X-Long: " + rep("y", 4<<20) + "\nSubject: lost\n\nbody", func(t *testing.T, m *mail.Message) {
			if m.Text != "body" {
				t.Errorf("text %q", m.Text)
			}
		}},
		{"part header without end", "Content-Type: multipart/mixed; boundary=b\n\n--b\n" + rep("X-H: v\n", 200000), nil},
		{"quoted-printable spaces", "Content-Transfer-Encoding: quoted-printable\n\n" + rep(" ", 3<<20) + "=" + rep("\t", 3<<20), nil},
		{"html tags", "Content-Type: text/html\n\n" + rep("<div><p><b>", 300000), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			m, _, err := Parse(bytes.NewReader([]byte(c.raw)), nil)
			if err != nil || m.Size != int64(len(c.raw)) {
				t.Fatalf("err %v, size %d of %d", err, m.Size, len(c.raw))
			}
			t.Logf("%d KiB in %v, %d warnings", len(c.raw)>>10, time.Since(start).Round(time.Millisecond), len(m.Warnings))
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}
