// Package faultproxy is a TCP proxy on loopback that a test puts between
// its client and a server to break the network on purpose: CutAll drops
// every live connection (the peer sees a reset or EOF mid-command), Pause
// makes the proxy accept new connections but pass nothing until Resume (a
// black hole: the client's reads hang until its timeout).
//
//	p := faultproxy.New(t, srv.Addr())
//	client := connect(p.Addr())
//	p.CutAll() // "the connection dropped"
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards connections from Addr to the target.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	conns   map[*pair]struct{} // forwarding
	held    map[net.Conn]struct{}
	paused  bool
	closed  bool
	resumed chan struct{} // closed by Resume; replaced by Pause
	wg      sync.WaitGroup
}

// pair is one proxied connection.
type pair struct {
	client, server net.Conn
	once           sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		// Linger 0: the client sees a reset, as when a middlebox drops
		// the connection, rather than a polite FIN after buffered data.
		if tc, ok := p.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		p.client.Close()
		p.server.Close()
	})
}

// New starts a proxy on 127.0.0.1 in front of target ("host:port"). It is
// closed when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		conns:   map[*pair]struct{}{},
		held:    map[net.Conn]struct{}{},
		resumed: make(chan struct{}),
	}
	close(p.resumed)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port", to give the client instead of the
// target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Live is the number of connections being forwarded (held ones excluded).
func (p *Proxy) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// CutAll drops every connection, forwarded or held. New connections are
// still accepted (unless paused).
func (p *Proxy) CutAll() {
	p.mu.Lock()
	pairs := p.conns
	held := p.held
	p.conns = map[*pair]struct{}{}
	p.held = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for pr := range pairs {
		pr.close()
	}
	for c := range held {
		c.Close()
	}
}

// Pause black-holes new connections: they are accepted, nothing is read
// from or sent to them, and the target is not dialled, until Resume (then
// they are forwarded, with whatever the client sent meanwhile) or CutAll.
// Live connections are not affected.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused = true
		p.resumed = make(chan struct{})
	}
}

// Resume ends a Pause.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		close(p.resumed)
	}
}

// Close stops listening and drops every connection. It is safe to call
// more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Resume() // lets held connections notice the close
	p.CutAll()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.held[c] = struct{}{}
		resumed := p.resumed
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, resumed)
	}
}

// serve waits out a pause, dials the target and copies both ways until
// either side closes or the pair is cut.
func (p *Proxy) serve(c net.Conn, resumed <-chan struct{}) {
	defer p.wg.Done()
	<-resumed
	s, dialErr := net.DialTimeout("tcp", p.target, 10*time.Second)
	p.mu.Lock()
	_, held := p.held[c] // false: cut (and closed) while held or dialling
	delete(p.held, c)
	if !held || p.closed || dialErr != nil {
		p.mu.Unlock()
		c.Close()
		if s != nil {
			s.Close()
		}
		return
	}
	pr := &pair{client: c, server: s}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		pr.close()
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}
