package gmailmail_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// benchMessage is a plain mail of about 3 KB.
func benchMessage(n int) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob%d@globex.example>\r\nTo: ann@acme.example\r\nSubject: Offer %d\r\nMessage-ID: <b%d@globex.example>\r\n"+
		"Date: Mon, 2 Nov 2026 %02d:%02d:%02d +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		n%500, n, n, n/3600%24, n/60%60, n%60, strings.Repeat("A line of the message body, as long as many are. ", 60)))
}

// BenchmarkFirstSync10k is a first sync of a 10,000-message inbox from the
// fake over HTTP, as the engine drives it (pages of 500, fetches of 50)
// and through the parser; storage is not measured. It reports requests
// and Gmail quota units per sync. Pacing is off: at Gmail's 15,000 units
// a minute the quota alone makes it units/250 seconds.
func BenchmarkFirstSync10k(b *testing.B) {
	const total = 10000
	a := googlefake.NewAPI()
	for i := 0; i < total; i++ {
		a.Gmail().AddMessage(benchMessage(i), "INBOX")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		before := a.Stats()
		m := open(b, a, func(c *gmailmail.Config) { c.UnitsPerMinute = -1 }) // the fake's speed, not the quota's
		var cur mail.Cursor
		n := 0
		for {
			ch, err := m.Changes(ctx, "INBOX", cur, 1000)
			if err != nil {
				b.Fatal(err)
			}
			for lo := 0; lo < len(ch.Added); lo += 50 {
				err := m.Fetch(ctx, "INBOX", ch.Added[lo:min(lo+50, len(ch.Added))], func(f *mail.Fetched) error {
					_, _, err := mimeparse.Parse(f.Body, nil)
					n++
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			cur = ch.Cursor
			if !ch.More {
				break
			}
		}
		if n != total {
			b.Fatalf("%d messages synced, want %d", n, total)
		}
		after := a.Stats()
		b.ReportMetric(float64(after.Requests-before.Requests), "requests/sync")
		b.ReportMetric(float64(after.Units-before.Units), "units/sync")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
}
