package mimeparse

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// benchMessages are typical shapes of CRM mail, CRLF as IMAP serves them.
func benchMessages() map[string][]byte {
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }
	find := func(name string) string {
		for _, f := range fixtures {
			if f.name == name {
				return f.raw
			}
		}
		panic(name)
	}
	para := strings.Repeat("Thanks for your time on the call today. Please find the details below. ", 40)
	html := "<html><head><style>p{margin:0}</style></head><body>" +
		strings.Repeat(`<p>Thanks for your <b>time</b> on the call today. <a href="https://example.com/x?id=1">Details</a></p>`, 40) +
		"</body></html>"
	return map[string][]byte{
		"plain-3KiB": crlf("From: Jane Doe <jane@example.com>\nTo: bob@example.org\nSubject: Re: pricing\n" +
			"Date: Tue, 5 Mar 2024 10:15:00 +0100\nMessage-ID: <abc@example.com>\nIn-Reply-To: <prev@example.org>\n" +
			"Content-Type: text/plain; charset=utf-8\n\n" + para),
		"alternative-8KiB": crlf("From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\nTo: bob@example.org\nSubject: =?utf-8?B?8J+OiSBMYXVuY2g=?=\n" +
			"Date: Tue, 5 Mar 2024 10:15:00 +0100\nMessage-ID: <abc@example.com>\n" +
			"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\n" +
			"Content-Transfer-Encoding: quoted-printable\n\n" + para + "\n--b\nContent-Type: text/html; charset=utf-8\n\n" + html + "\n--b--\n"),
		"attachment-300KiB": crlf("From: a@example.com\nTo: b@example.org\nSubject: quote\nContent-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: text/plain\n\nSee attached.\n--b\nContent-Type: application/pdf\n" +
			"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"q.pdf\"\n\n" +
			b64(testData(300<<10, 1)) + "\n--b--\n"),
		"rfc2047-names": crlf(find("RFC 2047 names in many charsets")),
	}
}

// BenchmarkParse reports throughput (MB/s) on typical messages, and on a
// generated mailbox when the peers kit's generator is available.
func BenchmarkParse(b *testing.B) {
	for name, raw := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Parse(bytes.NewReader(raw), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("corpus-500", func(b *testing.B) {
		files := genCorpus(b, 500)
		var msgs [][]byte
		var total int64
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, raw)
			total += int64(len(raw))
		}
		b.SetBytes(total)
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range msgs {
				if _, _, err := Parse(bytes.NewReader(raw), nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(msgs)), "µs/msg")
	})
}

// BenchmarkAttachment measures fetching one attachment again.
func BenchmarkAttachment(b *testing.B) {
	raw := benchMessages()["attachment-300KiB"]
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Attachment(bytes.NewReader(raw), 0, discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
