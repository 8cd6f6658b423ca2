// Package heapwatch measures how far a test's heap grows while a hostile
// peer keeps sending: the memory limits of the connectors are checked by
// measurement, not by reading their code.
//
//	grew := heapwatch.Peak(func() { err = c.Folders(ctx) })
//	if grew > 64<<20 { t.Errorf("heap grew by %d MiB", grew>>20) }
//
// The heap is sampled (runtime.ReadMemStats) in a loop for as long as fn
// runs; the peak is compared with the heap after a GC before fn. Sampling
// can miss a short spike between two samples, but not a buffer that keeps
// growing while the peer sends, which is what the tests look for.
package heapwatch

import (
	"runtime"
	"sync"
	"time"
)

// Peak runs fn and returns how many bytes the live heap grew above its
// level before fn, at the highest sample (0 if it never grew).
func Peak(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			peak = max(peak, s.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapAlloc)
	if peak < base {
		return 0
	}
	return peak - base
}
