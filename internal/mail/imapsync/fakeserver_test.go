package imapsync

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A scripted IMAP server for what a real one will not do on demand: send a
// provider's exact refusal, stall, hang up mid-literal, flood a client with
// unsolicited responses. It speaks just enough of RFC 3501 for the test at
// hand; the real protocol tests run against Dovecot (dovecot_test.go).

// fakeConn is one accepted connection.
type fakeConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
}

// send writes each line with CRLF.
func (f *fakeConn) send(lines ...string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	for _, l := range lines {
		if _, err := io.WriteString(f.conn, l+"\r\n"); err != nil {
			return // the client hung up: fine for most tests
		}
	}
}

// sendRaw writes bytes as they are.
func (f *fakeConn) sendRaw(b string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	io.WriteString(f.conn, b)
}

// line reads one line without CRLF.
func (f *fakeConn) line() (string, error) {
	s, err := f.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

// command reads the next command: its tag, upper-cased name (with "UID "
// folded in) and the rest.
func (f *fakeConn) command() (tag, name, args string, err error) {
	l, err := f.line()
	if err != nil {
		return "", "", "", err
	}
	parts := strings.SplitN(l, " ", 3)
	if len(parts) < 2 {
		return l, "", "", nil
	}
	tag, name = parts[0], strings.ToUpper(parts[1])
	if len(parts) == 3 {
		args = parts[2]
	}
	if name == "UID" {
		sub := strings.SplitN(args, " ", 2)
		name = "UID " + strings.ToUpper(sub[0])
		args = ""
		if len(sub) == 2 {
			args = sub[1]
		}
	}
	return tag, name, args, nil
}

// handlers answer commands by name; nil entries mean "never answer" (a
// stall). Unlisted commands get "tag OK done"; LOGOUT gets BYE and OK.
type handlers map[string]func(f *fakeConn, tag, args string)

// serve reads commands until the client hangs up.
func (f *fakeConn) serve(h handlers) {
	for {
		tag, name, args, err := f.command()
		if err != nil {
			return
		}
		if fn, ok := h[name]; ok {
			if fn == nil {
				continue // stall
			}
			fn(f, tag, args)
			continue
		}
		switch name {
		case "LOGOUT":
			f.send("* BYE bye", tag+" OK LOGOUT completed")
			return
		default:
			f.send(tag + " OK done")
		}
	}
}

// startFake listens on loopback and runs handle for every connection; it
// returns the port.
func startFake(t *testing.T, handle func(f *fakeConn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(&fakeConn{t: t, conn: c, r: bufio.NewReader(c)})
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// fakeCaps is what the scripted server advertises after login.
const fakeCaps = "IMAP4rev1 IDLE UIDPLUS CONDSTORE ESEARCH SPECIAL-USE LIST-EXTENDED"

// greetAndLogin sends a greeting and accepts any LOGIN, then serves h.
func greetAndLogin(h handlers) func(f *fakeConn) {
	return func(f *fakeConn) {
		f.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready")
		all := handlers{
			"LOGIN": func(f *fakeConn, tag, _ string) {
				f.send(tag + " OK [CAPABILITY " + fakeCaps + "] Logged in")
			},
			"SELECT": func(f *fakeConn, tag, _ string) {
				f.send("* 3 EXISTS", "* OK [UIDVALIDITY 7] ok", "* OK [UIDNEXT 4] ok",
					"* OK [HIGHESTMODSEQ 10] ok", tag+" OK [READ-WRITE] Select completed")
			},
		}
		for k, v := range h {
			all[k] = v
		}
		f.serve(all)
	}
}

// fakeConfig dials the scripted server without TLS (loopback).
func fakeConfig(port int) Config {
	return Config{Host: "127.0.0.1", Port: port, Security: SecurityNone, Username: "u", Password: "p",
		DialTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second}
}

// dialFake dials and selects INBOX.
func dialFake(t *testing.T, cfg Config) *Conn {
	t.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Select(ctx, "INBOX"); err != nil {
		t.Fatalf("Select: %v", err)
	}
	return c
}

// within fails the test if fn takes longer than d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
	}
	t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond))
}

var errStop = errors.New("stop")
