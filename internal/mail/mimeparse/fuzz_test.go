package mimeparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func init() {
	recoverPanics = false // a panic must fail the tests and the fuzzers, with its stack
}

// fuzzSeeds are the table fixtures (LF and CRLF) small enough to mutate,
// and a few shapes the fixtures lack.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, f := range fixtures {
		if len(f.raw) > 16<<10 {
			continue
		}
		seeds = append(seeds, []byte(f.raw), []byte(strings.ReplaceAll(f.raw, "\n", "\r\n")))
	}
	for _, s := range []string{
		"",
		"\n",
		"\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b--",
		"Content-Type: multipart/mixed; boundary=b\n\n--b",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\r\n--b\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n",
		"Content-Type: message/rfc822\n\nSubject: =?utf-8?q?x?=\n\nbody",
		"Content-Type: text/html\n\n<p>a<script>b",
		"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n====",
		"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=\r=\n= \t",
		"To: \"a\\\" <b@c>, (x <d@e>, <<f@g\n\n",
		"Subject: =?gb2312?B?zfXOsA==?==?x?q?a?=\n\n",
		"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1*=%82%AC\nContent-Type: image/png\n\nx",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzParse: Parse never panics, never fails on a bytes.Reader, accounts
// for every byte, respects its limits, gives the same result whatever the
// read sizes, and produces valid UTF-8 without NUL bytes.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	opts := &Options{MaxTextBytes: 300, MaxHTMLBytes: 400, KeepAttachmentsUnder: 200, MaxKeptBytes: 300, MaxHeaderBytes: 600}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, kept, err := Parse(bytes.NewReader(raw), opts)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		sum := sha256.Sum256(raw)
		if m.Size != int64(len(raw)) || m.Hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("Size %d Hash %s for %d bytes", m.Size, m.Hash, len(raw))
		}
		if len(m.Text) > 300 || len(m.HTML) > 400 {
			t.Fatalf("bodies over the limits: %d, %d", len(m.Text), len(m.HTML))
		}
		for _, s := range []string{m.Text, m.HTML, m.Subject, m.MessageID} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("invalid UTF-8 or NUL in %q", s)
			}
		}
		total := 0
		for _, k := range kept {
			if len(k.Data) >= 200 || k.Index >= len(m.Attachments) || int64(len(k.Data)) != m.Attachments[k.Index].Size {
				t.Fatalf("kept %d: %d bytes, attachments %+v", k.Index, len(k.Data), m.Attachments)
			}
			total += len(k.Data)
		}
		if total > 300 {
			t.Fatalf("kept %d bytes in all", total)
		}
		if len(m.Warnings) > maxWarnings+1 {
			t.Fatalf("%d warnings", len(m.Warnings))
		}
		m2, kept2, err := Parse(iotest.OneByteReader(bytes.NewReader(raw)), opts)
		if err != nil || !reflect.DeepEqual(m, m2) || !reflect.DeepEqual(kept, kept2) {
			t.Fatalf("one byte at a time differs (%v):\n%+v\n%+v", err, m, m2)
		}
	})
}

// FuzzAttachment: Attachment returns exactly what Parse lists and keeps,
// and ErrNoAttachment past the end.
func FuzzAttachment(f *testing.F) {
	for _, s := range fuzzSeeds() {
		for i := range 3 {
			f.Add(s, i)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, index int) {
		index %= 16
		if index < 0 {
			index = -index
		}
		m, kept, err := Parse(bytes.NewReader(raw), &Options{KeepAttachmentsUnder: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		a, err := Attachment(iotest.HalfReader(bytes.NewReader(raw)), index, &buf)
		if index >= len(m.Attachments) {
			if err != ErrNoAttachment {
				t.Fatalf("Attachment(%d) of %d: %v", index, len(m.Attachments), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Attachment(%d): %v", index, err)
		}
		if !reflect.DeepEqual(a, m.Attachments[index]) {
			t.Fatalf("Attachment(%d) = %+v, Parse listed %+v", index, a, m.Attachments[index])
		}
		if d := keptData(kept, index); int64(buf.Len()) != a.Size || d != nil && !bytes.Equal(d, buf.Bytes()) {
			t.Fatalf("Attachment(%d) wrote %d bytes, size %d", index, buf.Len(), a.Size)
		}
	})
}
