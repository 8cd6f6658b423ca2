package faultproxy_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/faultproxy"
)

// echoServer echoes lines back until the connection closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and returns the echo, or the error after timeout.
func roundTrip(c net.Conn, r *bufio.Reader, line string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	return s, err
}

func TestForwardAndCut(t *testing.T) {
	t.Parallel()
	p := faultproxy.New(t, echoServer(t))
	c1, r1 := dial(t, p.Addr())
	c2, r2 := dial(t, p.Addr())
	for _, x := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c1, r1}, {c2, r2}} {
		if got, err := roundTrip(x.c, x.r, "hello", 5*time.Second); err != nil || got != "hello\n" {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	if n := p.Live(); n != 2 {
		t.Errorf("Live() = %d, want 2", n)
	}

	p.CutAll()
	for _, x := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c1, r1}, {c2, r2}} {
		if got, err := roundTrip(x.c, x.r, "again", 5*time.Second); err == nil {
			t.Errorf("a cut connection still echoes %q", got)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("a cut connection hangs instead of failing: %v", err)
		}
	}

	c3, r3 := dial(t, p.Addr())
	if got, err := roundTrip(c3, r3, "new", 5*time.Second); err != nil || got != "new\n" {
		t.Fatalf("after CutAll a new connection: %q, %v", got, err)
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	p := faultproxy.New(t, echoServer(t))
	live, liveR := dial(t, p.Addr())
	if _, err := roundTrip(live, liveR, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	p.Pause()
	c, r := dial(t, p.Addr()) // accepted: the dial itself succeeds
	if got, err := roundTrip(c, r, "lost?", 300*time.Millisecond); err == nil {
		t.Fatalf("a connection made while paused echoed %q", got)
	}
	if got, err := roundTrip(live, liveR, "live", 5*time.Second); err != nil || got != "live\n" {
		t.Errorf("a connection from before the pause: %q, %v", got, err)
	}

	p.Resume()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "lost?\n" {
		t.Fatalf("after Resume, the held connection got %q, %v", got, err)
	}

	// A held connection can be cut too.
	p.Pause()
	held, heldR := dial(t, p.Addr())
	time.Sleep(50 * time.Millisecond) // let the proxy accept it
	p.CutAll()
	if _, err := roundTrip(held, heldR, "x", 5*time.Second); err == nil {
		t.Error("a held connection survived CutAll")
	}
	p.Resume()
}

func TestClose(t *testing.T) {
	t.Parallel()
	p := faultproxy.New(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if _, err := roundTrip(c, r, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := roundTrip(c, r, "y", 5*time.Second); err == nil {
		t.Error("a connection survived Close")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts after Close")
	}
}

// TestCutIMAP drops a logged-in IMAP session with a mailbox selected.
func TestCutIMAP(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	p := faultproxy.New(t, srv.Addr())
	user, pass := srv.User(1)

	c, err := imapclient.DialInsecure(p.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	p.CutAll()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not notice the cut within 5 s")
	}
	if err := c.Noop().Wait(); err == nil {
		t.Error("NOOP succeeded on a cut connection")
	}

	c2, err := imapclient.DialInsecure(p.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(user, pass).Wait(); err != nil {
		t.Fatalf("reconnecting through the proxy: %v", err)
	}
}
