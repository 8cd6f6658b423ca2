package dropbox

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawSession writes script to the server at once (pipelining everything),
// half-closes the connection unless keepOpen, and returns every reply line
// until the server hangs up. It fails the test if any line is not a
// well-formed SMTP reply (RFC 5321 §4.2) or if the server takes longer than
// wait to hang up.
func rawSession(t testing.TB, addr, script string, keepOpen bool, wait time.Duration) []string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Close with RST: no TIME_WAIT, so fuzzing does not run out of ports.
	conn.(*net.TCPConn).SetLinger(0)
	conn.SetDeadline(time.Now().Add(wait))
	go func() {
		// The server may hang up before reading it all: ignore errors.
		io.WriteString(conn, script)
		if !keepOpen {
			conn.(*net.TCPConn).CloseWrite()
		}
	}()
	var lines []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if !replyLine.MatchString(line) {
			t.Fatalf("malformed reply line %q after %q", line, lines)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil && !isReset(err) {
		t.Fatalf("reading replies: %v (after %q)", err, lines)
	}
	return lines
}

var replyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)

// isReset: the server closed with unread input, which TCP turns into RST.
func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func TestMalformedSessions(t *testing.T) {
	t.Parallel()
	rcpt := "RCPT TO:<" + token + "@" + domain + ">\r\n"
	for _, tc := range []struct {
		name   string
		script string
		want   []string // reply prefixes, in order, among the replies
	}{
		{"DATA before MAIL", "EHLO x\r\nDATA\r\nQUIT\r\n", []string{"502 5.5.1", "221"}},
		{"RCPT before MAIL", "EHLO x\r\n" + rcpt + "QUIT\r\n", []string{"502 5.5.1 Missing MAIL", "221"}},
		{"MAIL before EHLO", "MAIL FROM:<ann@example.com>\r\nQUIT\r\n", []string{"502 5.5.1", "221"}},
		{"HELO without a name", "HELO\r\nQUIT\r\n", []string{"501", "221"}},
		{"MAIL syntax", "EHLO x\r\nMAIL FROM ann@example.com\r\nMAIL FROM:<ann@example.com\r\nQUIT\r\n", []string{"501", "501", "221"}},
		{"unknown MAIL parameter", "EHLO x\r\nMAIL FROM:<ann@example.com> FOO=bar\r\nQUIT\r\n", []string{"500 5.5.4", "221"}},
		{"SIZE not a number", "EHLO x\r\nMAIL FROM:<ann@example.com> SIZE=-1\r\nQUIT\r\n", []string{"501 5.5.4", "221"}},
		{"SIZE over the limit", "EHLO x\r\nMAIL FROM:<ann@example.com> SIZE=999999999\r\nQUIT\r\n", []string{"552 5.3.4", "221"}},
		{"DATA with an argument", "EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA now\r\nQUIT\r\n", []string{"250", "250", "501 5.5.4", "221"}},
		{"junk then too many errors", "\x00\xff\xfe\r\nfoo\r\nbar baz\r\n:\r\n\r\nQUIT\r\n", []string{"501 5.5.2", "501 5.5.2", "501 5.5.2", "501 5.5.2", "500 5.5.1 Too many errors"}},
		{"overlong command line", "EHLO " + strings.Repeat("a", 10000) + "\r\nQUIT\r\n", []string{"500 5.4.0 Too long line"}},
		{"STARTTLS without TLS", "EHLO x\r\nSTARTTLS\r\nQUIT\r\n", []string{"502 5.5.1 TLS not supported", "221"}},
		{"AUTH not offered", "EHLO x\r\nAUTH PLAIN AGFubgBzZWNyZXQ=\r\nQUIT\r\n", []string{"523", "221"}},
		{"BDAT before MAIL", "EHLO x\r\nBDAT 5 LAST\r\nhelloQUIT\r\n", []string{"502 5.5.1", "221"}},
		{"BDAT bad size", "EHLO x\r\nBDAT -5 LAST\r\nQUIT\r\n", []string{"501 5.5.4", "221"}},
		{
			// A pipelined transaction whose recipient is refused: DATA
			// is refused, and the message lines are taken as
			// (unknown) commands until the server gives up.
			"pipelined, recipient refused",
			"EHLO x\r\nMAIL FROM:<ann@example.com>\r\nRCPT TO:<nosuch@" + domain + ">\r\nDATA\r\nFrom: ann@example.com\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
			[]string{"250 2.0.0", "550 5.1.1", "502 5.5.1", "501 5.5.2", "500 5.5.1 Too many errors"},
		},
		{
			"pipelined, sender refused",
			"EHLO x\r\nMAIL FROM:<mallory@evil.example>\r\n" + rcpt + "DATA\r\n.\r\nQUIT\r\n",
			[]string{"250 2.0.0", "550 5.7.1", "502 5.5.1", "221"},
		},
		{
			"BDAT, a spoofed header",
			"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "BDAT 39 LAST\r\nFrom: mallory@evil.example\r\n\r\nhi there\r\nQUIT\r\n",
			[]string{"250 2.0.0", "250 2.0.0", "550 5.7.1", "221"},
		},
		{
			"BDAT chunks, RSET midway",
			"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "BDAT 23\r\nFrom: ann@example.com\r\nRSET\r\nQUIT\r\n",
			[]string{"250 2.0.0", "250 2.0.0", "250 2.0.0 Continue", "250 2.0.0 Session reset", "221"},
		},
		{
			"line too long in message data",
			"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\nFrom: ann@example.com\r\n\r\n" + strings.Repeat("b", 9000) + "\r\n.\r\nQUIT\r\n",
			[]string{"354", "500 5.5.2 Line too long"},
		},
		{
			"client hangs up in DATA",
			"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\nFrom: ann@example.com\r\n\r\nhalf a mess",
			[]string{"354"},
		},
		{"commands after QUIT", "EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "QUIT\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\n", []string{"250", "250", "221"}},
		{"commands after too many errors", "EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "a\r\nb\r\nc\r\nd\r\nMAIL FROM:<ann@example.com>\r\nDATA\r\n", []string{"500 5.5.1 Too many errors"}},
		{"binary junk, no newline", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", []string{"501 5.5.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, func(c *Config) { c.MaxMessageBytes = 1 << 20 })
			lines := rawSession(t, tb.addr, tc.script, false, 10*time.Second)
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "220 ") {
				t.Fatalf("no greeting: %q", lines)
			}
			rest := lines[1:]
			for _, w := range tc.want {
				i := 0
				for i < len(rest) && !strings.HasPrefix(rest[i], w) {
					i++
				}
				if i == len(rest) {
					t.Fatalf("no %q reply, in order, among %q", w, lines)
				}
				rest = rest[i+1:]
			}
			if n := len(tb.be.delivered()); n != 0 {
				t.Fatalf("%d deliveries", n)
			}
			// The server still serves.
			c := tb.dial(t)
			if _, err := send(c, ann, nil, []string{token + "@" + domain}, msg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	rcpt := "RCPT TO:<" + token + "@" + domain + ">\r\n"
	for _, tc := range []struct {
		name   string
		script string
		drip   bool // send a NOOP every 50 ms forever
		want   string
	}{
		{"silent client", "", false, "421 4.4.2"},
		{"stalls mid-command", "EHLO x\r\nMAIL FROM:<ann@exa", false, "421 4.4.2"},
		{"stalls in DATA", "EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\nFrom: ann@example.com\r\n\r\nhel", false, "421 4.4.2 Timeout waiting for message data"},
		// Bare LF line ends: <LF>.<LF> does not end the data (RFC 5321
		// §4.1.1.4); the client waits for a reply that never comes, and
		// the read timeout ends it.
		{"bare LF DATA", "EHLO x\nMAIL FROM:<ann@example.com>\n" + strings.TrimSuffix(rcpt, "\r\n") + "\nDATA\nFrom: ann@example.com\nSubject: x\n\nhi\n.\n", false, "421 4.4.2 Timeout waiting for message data"},
		{"busy past the session deadline", "EHLO x\r\n", true, "421 4.4.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, func(c *Config) {
				c.ReadTimeout = 300 * time.Millisecond
				if tc.drip {
					// Longer than the session deadline, so that a NOOP
					// delayed by a loaded machine cannot end the session
					// first: only the deadline can.
					c.ReadTimeout = 3 * time.Second
				}
				c.SessionTimeout = 1500 * time.Millisecond
			})
			start := time.Now()
			var lines []string
			if tc.drip {
				lines = dripSession(t, tb.addr, tc.script)
			} else {
				lines = rawSession(t, tb.addr, tc.script, true, 10*time.Second)
			}
			took := time.Since(start)
			if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], tc.want) {
				t.Fatalf("replies %q, want the last to be %q", lines, tc.want)
			}
			if tc.drip && took < 1400*time.Millisecond || took > 5*time.Second {
				t.Fatalf("hung up after %v", took)
			}
			if n := len(tb.be.delivered()); n != 0 {
				t.Fatalf("%d deliveries", n)
			}
		})
	}
}

// dripSession keeps the session busy with a NOOP every 50 ms and returns
// the replies until the server hangs up.
func dripSession(t *testing.T, addr, script string) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		io.WriteString(conn, script)
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := io.WriteString(conn, "NOOP\r\n"); err != nil {
				return
			}
		}
	}()
	var lines []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestBDATHangUp: a client that hangs up right after an empty BDAT chunk
// makes go-smtp's BDAT goroutine find a nil session (see goSMTPNilSession).
// The panic it recovers from must be recognised, not reported as ours.
func TestBDATHangUp(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	script := "EHLO x\r\nMAIL FROM:<ann@example.com>\r\nRCPT TO:<" + token + "@" + domain + ">\r\nBDAT 0\r\n"
	for range 100 {
		rawSession(t, tb.addr, script, false, 10*time.Second)
	}
	tb.srv.Close() // wait for the goroutines
	tb.logs.mu.Lock()
	defer tb.logs.mu.Unlock()
	n := 0
	for _, r := range tb.logs.recs {
		if strings.Contains(r, "go-smtp used a closed session") {
			n++
		}
	}
	t.Logf("go-smtp BDAT race seen %d times in 100 sessions", n)
}

// TestBDATAborted: a chunked transfer aborted midway (RSET, EHLO, STARTTLS)
// ends the connection at the next MAIL (see session.Data), and the race
// detector sees no race in go-smtp.
func TestBDATAborted(t *testing.T) {
	t.Parallel()
	tx := "MAIL FROM:<ann@example.com>\r\nRCPT TO:<" + token + "@" + domain + ">\r\n"
	hdr := "From: ann@example.com\r\n\r\n"
	for _, abort := range []string{"RSET\r\n", "EHLO again\r\n"} {
		t.Run(strings.TrimSpace(abort), func(t *testing.T) {
			t.Parallel()
			tb := setup(t, nil)
			script := "EHLO x\r\n" + tx + "BDAT 25\r\n" + hdr + abort + tx + "BDAT 25 LAST\r\n" + hdr + "QUIT\r\n"
			for range 20 {
				lines := rawSession(t, tb.addr, script, false, 10*time.Second)
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "421 4.5.0") {
					t.Fatalf("replies %q, want the last to be 421 4.5.0", lines)
				}
			}
			if n := len(tb.be.delivered()); n != 0 {
				t.Fatalf("%d deliveries", n)
			}
		})
	}
	t.Run("STARTTLS", func(t *testing.T) {
		t.Parallel()
		cert, pool := selfSigned(t)
		tb := setup(t, func(c *Config) { c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}} })
		conn, err := net.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "EHLO x\r\n"+tx+"BDAT 25\r\n"+hdr+"STARTTLS\r\n")
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "220 2.0.0") {
				break
			}
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		io.WriteString(tc, "EHLO x\r\n"+tx)
		var lines []string
		sc := bufio.NewScanner(tc)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "421 4.5.0") {
			t.Fatalf("replies %q, want the last to be 421 4.5.0", lines)
		}
	})
}

// TestBDAT: chunked transfers (RFC 3030), which Microsoft 365 uses when
// CHUNKING is advertised, several messages on one connection.
func TestBDAT(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	tx := "MAIL FROM:<ann@example.com>\r\nRCPT TO:<" + token + "@" + domain + ">\r\n"
	bdat := func(chunks ...string) string {
		var b strings.Builder
		for i, c := range chunks {
			last := ""
			if i == len(chunks)-1 {
				last = " LAST"
			}
			fmt.Fprintf(&b, "BDAT %d%s\r\n%s", len(c), last, c)
		}
		return b.String()
	}
	spoofed := "From: mallory@evil.example\r\n\r\nhi\r\n"
	script := "EHLO x\r\n" +
		tx + bdat(msg[:10], msg[10:50], msg[50:]) + // delivered
		tx + bdat(spoofed[:20], spoofed[20:]) + // 550 at LAST
		tx + bdat(msg) + // delivered
		tx + bdat(msg, strings.Repeat("x", 1024)) + // 552: the connection is done
		tx + "QUIT\r\n"
	lines := rawSession(t, tb.addr, script, false, 10*time.Second)
	var got []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "250") && !strings.HasPrefix(l, "220") {
			got = append(got, l[:9])
		}
	}
	want := []string{"550 5.7.1", "552 5.3.4", "421 4.5.0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies %q, want non-250 replies %q", lines, want)
	}
	d := tb.be.delivered()
	if len(d) != 2 || !strings.HasSuffix(d[0].raw, "\r\n"+msg) || !strings.HasSuffix(d[1].raw, "\r\n"+msg) {
		t.Fatalf("deliveries = %+v", d)
	}
}

func TestErrorLog(t *testing.T) {
	t.Parallel()
	ours := "panic serving 127.0.0.1:1: runtime error: invalid memory address or nil pointer dereference\n" +
		"github.com/crmsync/crmsync/internal/mail/dropbox.(*session).Data(...)\n" +
		"github.com/emersion/go-smtp.(*Conn).handleData(...)\ngithub.com/emersion/go-smtp.(*Conn).handle(...)"
	theirs := "panic serving 127.0.0.1:1: runtime error: invalid memory address or nil pointer dereference\n" +
		"github.com/emersion/go-smtp.(*Conn).handleMail(...)\ngithub.com/emersion/go-smtp.(*Conn).handle(...)"
	other := "panic serving 127.0.0.1:1: runtime error: index out of range [3] with length 3\n" +
		"github.com/emersion/go-smtp.(*Conn).handleMail(...)\ngithub.com/emersion/go-smtp.(*Conn).handle(...)"
	for _, tc := range []struct {
		msg  string
		want string
	}{
		{ours, "ERROR"}, {theirs, "DEBUG"}, {other, "ERROR"}, {"error handling 127.0.0.1:1: EOF", "DEBUG"},
	} {
		sink := &logSink{}
		errorLog{slog.New(sink)}.Printf("%s", tc.msg)
		if len(sink.recs) != 1 || !strings.HasPrefix(sink.recs[0], tc.want) {
			t.Errorf("%.40q logged as %q, want %s", tc.msg, sink.recs, tc.want)
		}
	}
}
