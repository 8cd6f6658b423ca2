package graphmail_test

import (
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
	"github.com/crmsync/crmsync/internal/testpeer/heapwatch"
)

// BenchmarkFirstSync is the first sync of a Microsoft mailbox of 10,000
// messages (8,000 in the inbox, 1,000 sent, 1,000 archived) from the Graph
// fake through graphmail and the mail engine into each database. It
// reports the requests Graph served per message, messages per second and
// the heap's peak growth. Run with -benchtime 1x (make bench).
func BenchmarkFirstSync(b *testing.B) {
	const n = 10000
	for _, db := range []struct {
		name string
		f    storetest.Factory
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(db.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				g := graphfake.NewGraph()
				for j := 0; j < n; j++ {
					folder := "inbox"
					switch {
					case j%10 == 8:
						folder = "sentitems"
					case j%10 == 9:
						folder = "archive"
					}
					g.AddMessage(folder, raw(j), j%3 == 0)
				}
				srv := httptest.NewServer(g)
				mb, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond}})
				if err != nil {
					b.Fatal(err)
				}
				e := mailsynctest.New(b, db.f, "microsoft", mb, mailsync.Config{AutoSelect: graphmail.AutoSelect, BatchSize: 500})
				runtime.GC()
				b.StartTimer()
				start := time.Now()
				peak := heapwatch.Peak(func() { e.Sync() })
				wall := time.Since(start)
				b.StopTimer()
				if got := len(e.Emails()); got != n {
					b.Fatalf("%d stored, want %d", got, n)
				}
				b.ReportMetric(float64(g.Stats().Requests), "requests")
				b.ReportMetric(float64(n)/wall.Seconds(), "msgs/s")
				b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
				srv.Close()
			}
		})
	}
}
