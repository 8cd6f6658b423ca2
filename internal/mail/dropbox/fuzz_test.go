package dropbox

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// FuzzSession writes random bytes to a live session. The server must answer
// with well-formed replies only, never panic, hang up once the client has
// said all it had to, and deliver only what both of its sender checks let
// through.
func FuzzSession(f *testing.F) {
	rcpt := "RCPT TO:<" + token + "@" + domain + ">\r\n"
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\n" + msg + ".\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\nFrom: mallory@evil.example\r\n\r\nx\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<mallory@evil.example>\r\n" + rcpt + "DATA\r\nFrom: ann@example.com\r\n\r\nx\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<ann@example.com> SIZE=100\r\n" + rcpt + "RCPT TO:<" + token2 + "+a@" + domain + ">\r\nBDAT 24\r\nFrom: ann@example.com\r\n\r\nBDAT 3 LAST\r\nhi\n",
		"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "BDAT 25\r\nFrom: ann@example.com\r\n\r\nRSET\r\nMAIL FROM:<ann@example.com>\r\n",
		"HELO x\nMAIL FROM:<ann@example.com>\nRCPT TO:<" + token + "@" + domain + ">\nDATA\nFrom: ann@example.com\n\nhi\n.\n",
		"EHLO x\r\nDATA\r\nRCPT TO:<a@b>\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\nAUTH LOGIN\r\n\x00\xff\r\n",
		"EHLO x\r\nMAIL FROM:<ann@example.com>\r\n" + rcpt + "DATA\r\nFrom: ann@example.com\r\n\r\n" + string(make([]byte, 5000)) + "\r\n.\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"",
	} {
		f.Add([]byte(s))
	}
	// In memory rather than TCP: a fuzzer opens connections faster than
	// the kernel recycles ports.
	l := newPipeListener()
	tb := setupOn(f, l, func(c *Config) {
		c.MaxMessageBytes = 4096
		c.MaxRecipients = 3
	})
	f.Fuzz(func(t *testing.T, script []byte) {
		pipeSession(t, l, script)
		if p := tb.logs.panics(); len(p) > 0 {
			t.Fatalf("server panicked: %s", p[0])
		}
		for _, d := range tb.be.delivered() {
			ok := owns(d.box, d.env.MailFrom) && len(d.env.HeaderFrom) > 0 && len(d.env.Recipients) > 0
			for _, a := range d.env.HeaderFrom {
				ok = ok && owns(d.box, a)
			}
			if !ok {
				t.Fatalf("delivered past the sender checks: %+v", d.env)
			}
		}
	})
}

// pipeSession is rawSession over a pipeListener: write script, end the
// input, check every reply line until the server hangs up.
func pipeSession(t *testing.T, l *pipeListener, script []byte) {
	c := l.dial()
	defer c.Close()
	hung := time.AfterFunc(10*time.Second, func() { c.Close() })
	defer hung.Stop()
	go func() {
		c.Write(script)
		c.CloseWrite()
	}()
	sc := bufio.NewScanner(c)
	var lines []string
	for sc.Scan() {
		if !replyLine.MatchString(sc.Text()) {
			t.Fatalf("malformed reply line %q after %q", sc.Text(), lines)
		}
		lines = append(lines, sc.Text())
	}
	if !hung.Stop() {
		t.Fatalf("server still talking after 10 s: %q", lines)
	}
}

// pipeListener hands out in-memory connections whose client side can
// half-close, as TCP can. Deadlines are ignored.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr }

var pipeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}

func (l *pipeListener) dial() *pipeConn {
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	l.conns <- &pipeConn{r: c2sR, w: s2cW}
	return &pipeConn{r: s2cR, w: c2sW}
}

type pipeConn struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *pipeConn) CloseWrite() error           { return c.w.Close() }
func (c *pipeConn) Close() error {
	c.r.CloseWithError(net.ErrClosed)
	c.w.CloseWithError(net.ErrClosed)
	return nil
}
func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr }
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }
