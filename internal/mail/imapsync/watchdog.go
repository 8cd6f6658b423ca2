package imapsync

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog closes the connection when the server has sent nothing for a
// while during a command. go-imap has per-response read deadlines but none
// between responses, so a server that accepts a command and then says
// nothing would otherwise hang the sync forever.
//
// It is armed only while we wait for the server: Fetch disarms it while the
// caller's callback runs (slow storage is not a dead server) and re-arms it
// around each read of the message body.
type watchdog struct {
	kill func() // closes the socket; called at most once per firing

	last atomic.Int64 // UnixNano of the last byte read or written

	mu    sync.Mutex
	armed bool
	d     time.Duration
	timer *time.Timer
	fired bool // the last firing closed the connection
}

func newWatchdog(kill func()) *watchdog { return &watchdog{kill: kill} }

// start arms the watchdog for d of silence from now.
func (w *watchdog) start(d time.Duration) {
	w.last.Store(time.Now().UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.d = true, d
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.check)
	} else {
		w.timer.Reset(d)
	}
}

// stop disarms it.
func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.timer != nil {
		w.timer.Stop()
	}
}

// progress records that data moved; it is called on every read and write
// of the socket, so it only stores a time.
func (w *watchdog) progress() { w.last.Store(time.Now().UnixNano()) }

// check runs when the timer fires: it re-arms for the rest of the period if
// data moved meanwhile, else kills the connection.
func (w *watchdog) check() {
	w.mu.Lock()
	if !w.armed {
		w.mu.Unlock()
		return
	}
	silent := time.Since(time.Unix(0, w.last.Load()))
	if silent < w.d {
		w.timer.Reset(w.d - silent)
		w.mu.Unlock()
		return
	}
	w.armed, w.fired = false, true
	w.mu.Unlock()
	w.kill()
}

// hasFired reports whether the watchdog closed the connection.
func (w *watchdog) hasFired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// watchConn is the TCP connection under TLS and go-imap: it reports every
// byte moved to the watchdog.
type watchConn struct {
	net.Conn
	dog *watchdog
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.dog.progress()
	}
	return n, err
}

func (c *watchConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.dog.progress()
	}
	return n, err
}

// armedReader arms the watchdog only while a Read is in progress: the body
// literal handed to Fetch callbacks, read at the caller's pace. An EOF
// before size bytes is the connection ending mid-literal: go-imap reports
// it as a plain EOF, which would pass a truncated message for a whole one,
// so it becomes io.ErrUnexpectedEOF. The first such error is kept and
// returned from then on without touching the socket again.
type armedReader struct {
	r    io.Reader
	size int64 // the literal's declared size, -1 if unknown
	dog  *watchdog
	d    time.Duration
	n    int64
	err  error
}

func (a *armedReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	a.dog.start(a.d)
	n, err := a.r.Read(p)
	a.dog.stop()
	a.n += int64(n)
	if err == io.EOF && a.size >= 0 && a.n < a.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		a.err = err
	}
	return n, err
}

// pausedReader disarms the watchdog while a Read is in progress: the
// caller's message source during Append.
type pausedReader struct {
	r   io.Reader
	dog *watchdog
	d   time.Duration
}

func (p *pausedReader) Read(b []byte) (int, error) {
	p.dog.stop()
	n, err := p.r.Read(b)
	p.dog.start(p.d)
	return n, err
}
