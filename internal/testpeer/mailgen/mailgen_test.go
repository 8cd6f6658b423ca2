package mailgen

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

func TestDeterministic(t *testing.T) {
	a, b := Generate(7, 200), Generate(7, 200)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("message %d differs between two runs", i)
		}
		if !bytes.Equal(a[i], Message(7, i)) {
			t.Fatalf("Message(7, %d) differs from Generate(7, n)[%d]", i, i)
		}
	}
	if bytes.Equal(Message(7, 3), Message(8, 3)) {
		t.Error("seeds 7 and 8 give the same message 3")
	}
}

// TestMalformedRateOnlyChoosesDamage: the rate changes which messages are
// damaged, nothing else.
func TestMalformedRateOnlyChoosesDamage(t *testing.T) {
	clean := &Generator{Seed: 3}
	broken := &Generator{Seed: 3, MalformedRate: 1}
	for i := 0; i < 50; i++ {
		if clean.Malformation(i) != "" {
			t.Fatalf("message %d damaged at rate 0", i)
		}
		if broken.Malformation(i) == "" {
			t.Fatalf("message %d intact at rate 1", i)
		}
		if clean.MessageID(i) != broken.MessageID(i) {
			t.Fatalf("message %d: Message-ID depends on the rate", i)
		}
	}
}

// TestWellFormed parses every intact message with the standard library
// down to the leaves, and checks the threading and the mix of shapes.
func TestWellFormed(t *testing.T) {
	const n = 1000
	g := &Generator{Seed: 1, MalformedRate: DefaultMalformedRate}
	ids := map[string]int{}
	counts := map[string]int{}
	dec := &mime.WordDecoder{}
	for i, raw := range g.Generate(n) {
		if k := g.Malformation(i); k != "" {
			counts[k]++
			ids[g.MessageID(i)] = i // replies may refer to it
			continue
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, raw)
		}
		h := msg.Header
		id := h.Get("Message-Id")
		if prev, dup := ids[id]; dup {
			t.Fatalf("messages %d and %d share Message-ID %s", prev, i, id)
		}
		ids[id] = i
		if id != g.MessageID(i) {
			t.Fatalf("message %d: Message-ID %s, MessageID says %s", i, id, g.MessageID(i))
		}
		if _, err := h.Date(); err != nil {
			t.Fatalf("message %d: Date: %v", i, err)
		}
		from, err := h.AddressList("From")
		if err != nil || len(from) != 1 {
			t.Fatalf("message %d: From %q: %v", i, h.Get("From"), err)
		}
		if strings.ContainsFunc(from[0].Name, func(r rune) bool { return r > 127 }) {
			counts["non-ascii-name"]++
		}
		if _, err := dec.DecodeHeader(h.Get("Subject")); err != nil {
			t.Fatalf("message %d: Subject: %v", i, err)
		}
		if parent := h.Get("In-Reply-To"); parent != "" {
			counts["reply"]++
			if _, ok := ids[parent]; !ok {
				t.Fatalf("message %d replies to %s, which is not an earlier message", i, parent)
			}
			if !strings.HasSuffix(h.Get("References"), parent) {
				t.Fatalf("message %d: References %q do not end with In-Reply-To", i, h.Get("References"))
			}
		}
		for _, line := range bytes.Split(raw, []byte("\r\n")) {
			if bytes.ContainsRune(line, '\n') || len(line) > 998 {
				t.Fatalf("message %d: bare LF or over-long line", i)
			}
		}
		walk(t, i, h.Get("Content-Type"), msg.Body, counts)
	}
	t.Logf("%d messages: %v", n, counts)
	for _, k := range []string{"text/plain", "text/html", "multipart/alternative", "multipart/mixed",
		"application/pdf", "image/png", "reply", "non-ascii-name"} {
		if counts[k] == 0 {
			t.Errorf("no %s among %d messages", k, n)
		}
	}
	if counts[HeaderNoColon]+counts[BrokenCharset]+counts[TruncatedMultipart] == 0 {
		t.Errorf("no malformed message among %d at rate %v", n, g.MalformedRate)
	}
}

func walk(t *testing.T, i int, contentType string, body io.Reader, counts map[string]int) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("message %d: Content-Type %q: %v", i, contentType, err)
	}
	counts[mt]++
	if !strings.HasPrefix(mt, "multipart/") {
		if _, err := io.Copy(io.Discard, body); err != nil {
			t.Fatalf("message %d: %s: %v", i, mt, err)
		}
		return
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("message %d: %s: %v", i, mt, err)
		}
		walk(t, i, p.Header.Get("Content-Type"), p, counts)
	}
}

func TestMalformedKinds(t *testing.T) {
	g := &Generator{Seed: 5, MalformedRate: 1}
	seen := map[string]bool{}
	for i := 0; len(seen) < 3 && i < 100; i++ {
		kind, raw := g.Malformation(i), g.Message(i)
		seen[kind] = true
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		switch kind {
		case HeaderNoColon:
			if err == nil {
				t.Errorf("message %d (%s) parses", i, kind)
			}
		case BrokenCharset:
			if err != nil {
				t.Fatalf("message %d (%s): %v", i, kind, err)
			}
			if _, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err == nil {
				t.Errorf("message %d (%s): Subject %q decodes", i, kind, msg.Header.Get("Subject"))
			}
		case TruncatedMultipart:
			if err != nil {
				t.Fatalf("message %d (%s): %v", i, kind, err)
			}
			_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for err == nil {
				var p *multipart.Part
				if p, err = mr.NextRawPart(); err == nil {
					_, err = io.Copy(io.Discard, p)
				}
			}
			if err == io.EOF {
				t.Errorf("message %d (%s) reads to a clean end", i, kind)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("kinds seen in 100 messages: %v", seen)
	}
}

func BenchmarkGenerate(b *testing.B) {
	var size int
	for i := 0; b.Loop(); i++ {
		size += len(Message(1, i))
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/msg")
}
