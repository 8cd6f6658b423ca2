package mailsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mailfake"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/heapwatch"
)

// pipelineMessages is the mailbox of the pipeline tests: large enough that
// several batches are in flight (batches of 100, pages of 500, fetches of
// 50), small enough for milliseconds.
const pipelineMessages = 600

func newPipelineEnv(t *testing.T, f storetest.Factory, cfg mailsync.Config) *env {
	t.Helper()
	srv := mailfake.New("INBOX", "Sent")
	// No listing of what the folder holds: the audit would fetch again
	// what a wrong cursor skipped, and hide the loss these tests look for.
	srv.ReportPresent = false
	for i := 1; i <= pipelineMessages; i++ {
		srv.Add("INBOX", raw(i), mail.Flags{Seen: i%3 == 0})
	}
	cfg.BatchSize = 100
	e := mailsynctest.New(t, f, "fake", srv.Dial(), cfg)
	return &env{Env: e, t: t, ctx: e.Ctx, st: e.Store, srv: srv, eng: e.Engine, v: e.Viewer}
}

// newest reports whether the stored subjects are exactly the k newest
// messages: the initial sync goes newest first, so whatever a fault
// leaves stored must be a prefix of that order, whole batches only.
func (e *env) newest(got map[string]crm.Email, k int) bool {
	if len(got) != k {
		return false
	}
	for i := pipelineMessages; i > pipelineMessages-k; i-- {
		if _, ok := got[fmt.Sprintf("Message %d", i)]; !ok {
			return false
		}
	}
	return true
}

// complete checks that every message is stored once, with its flags.
func (e *env) complete() {
	e.t.Helper()
	got := e.Emails() // fails on a message stored twice
	if len(got) != pipelineMessages {
		e.t.Fatalf("%d messages stored, want %d", len(got), pipelineMessages)
	}
	for i := 1; i <= pipelineMessages; i++ {
		m, ok := got[fmt.Sprintf("Message %d", i)]
		if !ok {
			e.t.Fatalf("Message %d lost", i)
		}
		if m.Flags.Seen != (i%3 == 0) {
			e.t.Fatalf("Message %d stored with the wrong flags", i)
		}
	}
}

// TestPipelineFetchDropsMidway: the connection drops in the sixth fetch of
// a page while earlier chunks wait to be parsed and stored. What was
// committed is exactly the whole batches before it, with their cursor; the
// next pass stores the rest, each message once.
func TestPipelineFetchDropsMidway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newPipelineEnv(t, f, mailsync.Config{})
		e.srv.FailFetchLater(5, 10)
		if _, err := e.eng.Pass(e.ctx, true); connerr.KindOf(err) != connerr.Unreachable {
			t.Fatalf("pass with a dropped fetch: %v", err)
		}
		// Fetches 1-5 are whole (250 messages), batches of 100 commit at
		// 100 and 200; the 50 of the fifth fetch wait for a batch that
		// never completes.
		if got := e.Emails(); !e.newest(got, 200) {
			t.Fatalf("%d stored after the drop, want the 200 newest", len(got))
		}
		fetches := e.srv.Calls("Fetch")
		e.Sync()
		e.complete()
		// The resume starts after the last committed batch: 400 messages
		// left, 8 fetches of 50.
		if n := e.srv.Calls("Fetch") - fetches; n != 8 {
			t.Fatalf("%d fetches to resume, want 8", n)
		}
	})
}

// failingStore fails the nth SaveMessages, as a database that goes away
// in the middle of an initial sync.
type failingStore struct {
	mailsync.Store
	n     int
	calls int
}

var errStoreDown = errors.New("database went away")

func (s *failingStore) SaveMessages(ctx context.Context, f store.Fence, folderID int64, cur store.FolderCursor, msgs []crm.Email) (store.SaveResult, error) {
	s.calls++
	if s.calls == s.n {
		return store.SaveResult{}, errStoreDown
	}
	return s.Store.SaveMessages(ctx, f, folderID, cur, msgs)
}

// TestPipelineStoreFails: the store fails while the fetcher and the
// parsers are ahead of it, or (the fifth save, the last of the first page)
// while the next page is asked for. The pipeline stops with the error,
// nothing after the failed batch is stored, and a resume stores each
// message once.
func TestPipelineStoreFails(t *testing.T) {
	for _, c := range []struct{ failing, stored int }{{3, 200}, {5, 400}} {
		t.Run(fmt.Sprint("save=", c.failing), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, f storetest.Factory) {
				e := newPipelineEnv(t, f, mailsync.Config{})
				real := e.eng.Store
				e.eng.Store = &failingStore{Store: real, n: c.failing}
				if _, err := e.eng.Pass(e.ctx, true); !errors.Is(err, errStoreDown) {
					t.Fatalf("pass with a failing store: %v", err)
				}
				if got := e.Emails(); !e.newest(got, c.stored) {
					t.Fatalf("%d stored after the failure, want the %d newest", len(got), c.stored)
				}
				e.eng.Store = real
				e.Sync()
				e.complete()
			})
		})
	}
}

// TestPipelineCancelled: the pass is cancelled (the lease lost, the
// process stopping) in the middle of parsing. Only whole batches are
// stored, the newest first, and the resume completes the mailbox.
func TestPipelineCancelled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var parsed atomic.Int64
		parse := func(r io.Reader) (*mail.Message, error) {
			if parsed.Add(1) == 330 {
				cancel()
			}
			m, _, err := mimeparse.Parse(r, nil)
			return m, err
		}
		e := newPipelineEnv(t, f, mailsync.Config{Parse: parse, ParseWorkers: 3})
		if _, err := e.eng.Pass(ctx, true); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled pass: %v", err)
		}
		got := e.Emails()
		if k := len(got); k%100 != 0 || k > 300 || !e.newest(got, k) {
			t.Fatalf("%d stored after the cancel: want the newest, whole batches of 100, at most 300", k)
		}
		e.Sync()
		e.complete()
	})
}

// TestPipelineMemoryFlat: the heap an initial sync needs does not grow
// with the mailbox. Ten times the messages (8 KiB of text each: 3 MB
// against 32 MB of mail) must fit in about the same memory; a pipeline
// that buffered the mailbox would need its whole size.
func TestPipelineMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: syncs 4,400 messages")
	}
	// The garbage collector lets garbage grow with the live heap (here the
	// fake's mailbox): collect often so the peak is what is kept.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		body := strings.Repeat("Quarterly figures attached, as discussed on the call. ", 150) // ~8 KiB
		grew := map[int]uint64{}
		for _, n := range []int{400, 4000} {
			srv := mailfake.New("INBOX", "Sent")
			for i := 1; i <= n; i++ {
				srv.Add("INBOX", []byte(fmt.Sprintf("From: bob@globex.example\r\nTo: ann@acme.example\r\nSubject: Message %d\r\nMessage-ID: <h%d@globex.example>\r\n\r\n%s\r\n", i, i, body)), mail.Flags{})
			}
			e := mailsynctest.New(t, f, "fake", srv.Dial(), mailsync.Config{BatchSize: 200})
			var res mailsync.Result
			grew[n] = heapwatch.Peak(func() { res = e.Sync() })
			if res.Stored != int64(n) {
				t.Fatalf("%d of %d stored", res.Stored, n)
			}
		}
		t.Logf("heap grew %.1f MiB at 400 messages, %.1f MiB at 4,000", float64(grew[400])/(1<<20), float64(grew[4000])/(1<<20))
		// A pipeline that kept the mailbox would grow by the 3,600 more
		// messages' size (≈ 29 MiB); one with bounded queues by none of
		// it. Half that size tells them apart whatever the collector's
		// timing on a busy machine (a fixed 8 MiB margin did not).
		extra := uint64(3600 * (len(body) + 100))
		if grew[4000] > grew[400]+extra/2 {
			t.Fatalf("heap grew %d MiB at 4,000 messages against %d MiB at 400: memory follows the mailbox", grew[4000]>>20, grew[400]>>20)
		}
	})
}
