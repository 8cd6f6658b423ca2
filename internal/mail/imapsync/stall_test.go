package imapsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// A server that stops answering must never hang the sync: every command
// gives up after CommandTimeout of silence, as KindUnreachable, and the
// connection stays unusable afterwards.

func TestStalledCommandTimesOut(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"UID SEARCH": nil}))
	cfg := fakeConfig(port)
	cfg.CommandTimeout = 300 * time.Millisecond
	c := dialFake(t, cfg)
	var err error
	within(t, 3*time.Second, "stalled UID SEARCH", func() { _, err = c.UIDs(context.Background()) })
	var me *connerr.Error
	if !errors.As(err, &me) || me.Kind != connerr.Unreachable || !strings.Contains(me.Message, "stopped answering") {
		t.Fatalf("UIDs = %v, want KindUnreachable 'stopped answering'", err)
	}
	if _, err2 := c.Select(context.Background(), "INBOX"); connerr.KindOf(err2) != connerr.Unreachable {
		t.Errorf("after the stall Select = %v, want the connection reported lost", err2)
	}
	within(t, 2*time.Second, "Close", func() { c.Close() })
}

func TestStalledGreetingTimesOut(t *testing.T) {
	t.Parallel()
	port := startFake(t, func(f *fakeConn) { f.line() }) // accepts, never greets
	cfg := fakeConfig(port)
	cfg.DialTimeout = 300 * time.Millisecond
	var err error
	within(t, 3*time.Second, "Dial to a silent server", func() { _, err = Dial(context.Background(), cfg) })
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Dial = %v, want KindUnreachable", err)
	}
}

func TestStalledLoginTimesOut(t *testing.T) {
	t.Parallel()
	port := startFake(t, func(f *fakeConn) {
		f.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")
		f.serve(handlers{"LOGIN": nil})
	})
	cfg := fakeConfig(port)
	cfg.CommandTimeout = 300 * time.Millisecond
	var err error
	within(t, 3*time.Second, "stalled LOGIN", func() { _, err = Dial(context.Background(), cfg) })
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Dial = %v, want KindUnreachable", err)
	}
}

// fetchReply is "* n FETCH (...)" with a literal body of size bytes, of
// which only the first sent are written.
func fetchReply(seq, uid int, body string) string {
	return fmt.Sprintf("* %d FETCH (UID %d FLAGS (\\Seen) MODSEQ (5) INTERNALDATE \"01-Jan-2025 10:00:00 +0000\" RFC822.SIZE %d BODY[] {%d}\r\n%s)",
		seq, uid, len(body), len(body), body)
}

func TestStalledLiteralTimesOut(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, _ string) {
		f.sendRaw("* 1 FETCH (UID 1 BODY[] {100000}\r\nSubject: cut short\r\n")
		// ... and nothing more.
	}}))
	cfg := fakeConfig(port)
	cfg.CommandTimeout = 300 * time.Millisecond
	c := dialFake(t, cfg)
	var err error
	var read int64
	within(t, 3*time.Second, "FETCH stalled mid-literal", func() {
		err = c.Fetch(context.Background(), []uint32{1}, func(m *Fetched) error {
			n, err := io.Copy(io.Discard, m.Body)
			read = n
			return err
		})
	})
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Fetch = %v (read %d), want KindUnreachable", err, read)
	}
}

func TestDroppedMidFetch(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, _ string) {
		f.sendRaw(fetchReply(1, 1, "Subject: one\r\n\r\nfirst\r\n") + "\r\n")
		f.sendRaw("* 2 FETCH (UID 2 BODY[] {5000}\r\nSubject: two\r\n")
		f.conn.Close()
	}}))
	c := dialFake(t, fakeConfig(port))
	var got []uint32
	err := c.Fetch(context.Background(), []uint32{1, 2}, func(m *Fetched) error {
		got = append(got, m.UID)
		_, err := io.Copy(io.Discard, m.Body)
		return err
	})
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Fetch = %v, want KindUnreachable", err)
	}
	if len(got) == 0 || got[0] != 1 {
		t.Errorf("delivered %v before the drop, want message 1 first", got)
	}
	if _, err := c.UIDs(context.Background()); connerr.KindOf(err) != connerr.Unreachable {
		t.Errorf("after the drop UIDs = %v", err)
	}
}

// A callback that takes longer than CommandTimeout (slow storage) is not
// a dead server: the watchdog is off while it runs.
func TestSlowCallbackIsNotAStall(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, _ string) {
		f.sendRaw(fetchReply(1, 1, "Subject: a\r\n\r\nbody a\r\n") + "\r\n")
		f.sendRaw(fetchReply(2, 2, "Subject: b\r\n\r\nbody b\r\n") + "\r\n")
		f.send(tag + " OK Fetch completed")
	}}))
	cfg := fakeConfig(port)
	cfg.CommandTimeout = 200 * time.Millisecond
	c := dialFake(t, cfg)
	var bodies []string
	err := c.Fetch(context.Background(), []uint32{1, 2}, func(m *Fetched) error {
		time.Sleep(500 * time.Millisecond) // storage is slow
		b, err := io.ReadAll(m.Body)
		bodies = append(bodies, string(b))
		time.Sleep(300 * time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(bodies) != 2 || !strings.Contains(bodies[1], "body b") {
		t.Errorf("bodies = %q", bodies)
	}
}

func TestContextCancelsStalledCommand(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"UID SEARCH": nil}))
	cfg := fakeConfig(port)
	cfg.CommandTimeout = time.Minute
	c := dialFake(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var err error
	within(t, 3*time.Second, "cancelled UID SEARCH", func() { _, err = c.UIDs(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("UIDs = %v, want context.DeadlineExceeded", err)
	}
	if _, err := c.UIDs(context.Background()); connerr.KindOf(err) != connerr.Unreachable {
		t.Errorf("after cancelling UIDs = %v, want the connection reported closed", err)
	}
}

// A callback error stops the deliveries, the rest of the reply is read and
// dropped, and the connection stays usable.
func TestFetchCallbackError(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{
		"UID FETCH": func(f *fakeConn, tag, _ string) {
			for i := 1; i <= 3; i++ {
				f.sendRaw(fetchReply(i, i, fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 10000))) + "\r\n")
			}
			f.send(tag + " OK Fetch completed")
		},
		"UID SEARCH": func(f *fakeConn, tag, _ string) {
			f.send(`* ESEARCH (TAG "`+tag+`") UID ALL 1:3`, tag+" OK Search completed")
		},
	}))
	c := dialFake(t, fakeConfig(port))
	calls := 0
	err := c.Fetch(context.Background(), []uint32{1, 2, 3}, func(m *Fetched) error {
		calls++
		return errStop
	})
	if err != errStop || calls != 1 {
		t.Fatalf("Fetch = %v after %d calls, want errStop after 1", err, calls)
	}
	uids, err := c.UIDs(context.Background())
	if err != nil || len(uids) != 3 {
		t.Errorf("the connection is not usable afterwards: %v %v", uids, err)
	}
}

// go-imap routes FETCH replies by the UID, which must precede the body. A
// server that puts it after the body gets its replies handed to the
// unilateral handler: Fetch tries again, then says so, never skipping the
// message silently.
func TestFetchMisroutedReplies(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, _ string) {
		fetches.Add(1)
		body := "Subject: late uid\r\n\r\nx\r\n"
		f.sendRaw(fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n%s UID 1)\r\n", len(body), body))
		f.send(tag + " OK Fetch completed")
	}}))
	c := dialFake(t, fakeConfig(port))
	calls := 0
	err := c.Fetch(context.Background(), []uint32{1}, func(m *Fetched) error { calls++; return nil })
	if err == nil || connerr.KindOf(err) != connerr.Protocol || calls != 0 {
		t.Fatalf("Fetch = %v after %d calls, want KindProtocol", err, calls)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d FETCH commands, want a second try", n)
	}
}

// The unilateral handler must never block the reader (go-imap #668): a
// flood of EXISTS, EXPUNGE and FETCH during IDLE must neither deadlock nor
// lose the wake-up.
func TestIdleFloodDoesNotBlock(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"IDLE": func(f *fakeConn, tag, _ string) {
		f.send("+ idling")
		for i := 1; i <= 3000; i++ {
			switch i % 3 {
			case 0:
				f.send(fmt.Sprintf("* %d EXISTS", i))
			case 1:
				f.send(fmt.Sprintf("* %d FETCH (FLAGS (\\Seen) MODSEQ (%d))", i, i))
			case 2:
				f.send("* 1 EXPUNGE")
			}
		}
		if l, _ := f.line(); l == "DONE" {
			f.send(tag + " OK Idle completed")
		}
	}}))
	c := dialFake(t, fakeConfig(port))
	var changed bool
	var err error
	within(t, 5*time.Second, "Idle under a flood", func() { changed, err = c.Idle(context.Background(), time.Minute) })
	if err != nil || !changed {
		t.Fatalf("Idle = %v, %v; want true, nil", changed, err)
	}
	if _, err := c.Select(context.Background(), "INBOX"); err != nil {
		t.Errorf("Select after the flood: %v", err)
	}
}

// Ending ctx ends IDLE politely: DONE, the server's OK, a usable
// connection.
func TestIdleContextEnd(t *testing.T) {
	t.Parallel()
	dones := make(chan struct{}, 1)
	port := startFake(t, greetAndLogin(handlers{"IDLE": func(f *fakeConn, tag, _ string) {
		f.send("+ idling")
		if l, _ := f.line(); l == "DONE" {
			dones <- struct{}{}
			f.send(tag + " OK Idle completed")
		}
	}}))
	c := dialFake(t, fakeConfig(port))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	changed, err := c.Idle(ctx, time.Minute)
	if changed || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Idle = %v, %v; want false, DeadlineExceeded", changed, err)
	}
	select {
	case <-dones:
	default:
		t.Error("no DONE sent")
	}
	if _, err := c.Select(context.Background(), "INBOX"); err != nil {
		t.Errorf("Select after IDLE: %v", err)
	}
}

// A server that never answers DONE does not hang Idle.
func TestIdleStalledDone(t *testing.T) {
	t.Parallel()
	port := startFake(t, greetAndLogin(handlers{"IDLE": func(f *fakeConn, tag, _ string) {
		f.send("+ idling")
		for { // DONE and whatever follows, never answered
			if _, err := f.line(); err != nil {
				return
			}
		}
	}}))
	cfg := fakeConfig(port)
	cfg.CommandTimeout = 300 * time.Millisecond
	c := dialFake(t, cfg)
	var err error
	within(t, 4*time.Second, "Idle with a stalled DONE", func() { _, err = c.Idle(context.Background(), 100*time.Millisecond) })
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Idle = %v, want KindUnreachable", err)
	}
}

// LOGINDISABLED (RFC 3501 §6.2.3): AUTHENTICATE PLAIN instead of LOGIN,
// and a clear refusal when PLAIN is not offered either.
func TestLoginDisabled(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	port := startFake(t, func(f *fakeConn) {
		f.send("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN SASL-IR] ready")
		f.serve(handlers{
			"LOGIN": func(f *fakeConn, tag, _ string) { f.send(tag + " BAD LOGIN is disabled") },
			"AUTHENTICATE": func(f *fakeConn, tag, args string) {
				got <- args
				f.send(tag + " OK [CAPABILITY " + fakeCaps + "] Logged in")
			},
		})
	})
	c, err := Dial(context.Background(), fakeConfig(port))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	if args := <-got; args != "PLAIN AHUAcA==" { // "\x00u\x00p"
		t.Errorf("AUTHENTICATE %s, want PLAIN with the credentials", args)
	}

	port = startFake(t, func(f *fakeConn) {
		f.send("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED STARTTLS] ready")
		f.serve(handlers{"LOGIN": func(f *fakeConn, tag, _ string) {
			t.Error("LOGIN sent despite LOGINDISABLED")
			f.send(tag + " NO no")
		}})
	})
	_, err = Dial(context.Background(), fakeConfig(port))
	if connerr.KindOf(err) != connerr.TLS {
		t.Errorf("Dial = %v, want KindTLS", err)
	}
}
