package googlepim_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/pim"
)

// BenchmarkFirstSync5000Contacts: the first sync of 5,000 Google contacts
// into an empty CRM, until no backlog is left: the listing (1,000 a page,
// nothing read per person), the Base groups, and each imported person
// written once with its fixed categories. Reported per sync: requests and
// quota units the fake counted, and the heap in use after it.
func BenchmarkFirstSync5000Contacts(b *testing.B) {
	const n = 5000
	for range b.N {
		b.StopTimer()
		t := &testing.T{}
		e := newEng(t, kinds[0])
		e.t = t
		for i := range n {
			e.p.api.PutPerson("", named(fmt.Sprintf("P%05d", i)))
		}
		b.StartTimer()
		start := time.Now()
		list := e.p.api.Stats()
		e.pass(pim.NewestWins)
		wall := time.Since(start)
		b.StopTimer()
		after := e.p.api.Stats()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		items, err := e.st.PIMItems(e.ctx, e.collID)
		if err != nil {
			b.Fatal(err)
		}
		linked := 0
		for _, it := range items {
			if it.CRMID != 0 && it.Href != "" {
				linked++
			}
		}
		if linked != n {
			b.Fatalf("%d contacts linked, want %d", linked, n)
		}
		b.ReportMetric(float64(after.Requests-list.Requests), "sync-requests")
		b.ReportMetric(float64(after.Units-list.Units), "sync-units")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
}
