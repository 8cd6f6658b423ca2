package imapsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/portcheck"
)

// Conn is a logged-in IMAP connection to one account. Like every
// mail.Mailbox it is not safe for concurrent use; cancel the context of the
// running call to abort it.
type Conn struct {
	cfg  Config
	log  *slog.Logger
	cls  classifier
	dog  *watchdog
	raw  net.Conn // the TCP connection, under TLS and go-imap
	c    *imapclient.Client
	caps Capabilities

	// events holds one pending "something changed in the selected folder"
	// signal. go-imap calls the unilateral handlers on its reader goroutine:
	// they may only do a non-blocking send here (go-imap issue #668).
	events chan struct{}
	// misrouted counts FETCH responses carrying a body that go-imap could
	// not match to our UID FETCH and handed to the unilateral handler.
	misrouted atomic.Int64

	pollEvery time.Duration // Idle's NOOP interval without IDLE

	// frame follows the framing go-imap reads and holds the limit the
	// server went past, if it did (frame.go).
	frame *framedConn

	selected string // the selected folder, "" if none
	validity uint32 // its UIDVALIDITY
	modseq   bool   // it has mod-sequences: CONDSTORE, and no NOMODSEQ

	mu     sync.Mutex
	killed killReason // why we closed the socket, if we did
	broken error      // once set, every call returns it
	closed bool
}

// Capabilities are the extensions the connector uses, as the server
// advertised them after login.
type Capabilities struct {
	CondStore    bool // RFC 7162
	Idle         bool // RFC 2177
	UIDPlus      bool // RFC 4315
	SpecialUse   bool // RFC 6154
	ESearch      bool // RFC 4731
	ListExtended bool // RFC 5258
}

var (
	_ mail.Mailbox  = (*Mailbox)(nil)
	_ mail.Idler    = (*Mailbox)(nil)
	_ mail.Appender = (*Mailbox)(nil)
	_ mail.Searcher = (*Mailbox)(nil)
)

type killReason int

const (
	notKilled killReason = iota
	killedByContext
	killedByWatchdog
	killedAfterError // the session broke or was left out of step (a cut literal)
)

// Dial connects, logs in and reads the capabilities. Every failure is a
// *connerr.Error (or ctx's own error).
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newConn(cfg)
	if err := c.connect(ctx); err != nil {
		c.abort()
		return nil, err
	}
	if err := c.login(ctx); err != nil {
		c.abort()
		return nil, err
	}
	c.log.Debug("imap connected", "security", cfg.Security, "caps", fmt.Sprintf("%+v", c.caps))
	return c, nil
}

// newConn is a connection not yet opened, with its watchdog.
func newConn(cfg Config) *Conn {
	c := &Conn{
		cfg:       cfg,
		log:       cfg.Logger.With("imap_host", cfg.Host, "imap_user", cfg.Username),
		cls:       newClassifier(&cfg),
		events:    make(chan struct{}, 1),
		pollEvery: pollInterval,
	}
	c.dog = newWatchdog(func() { c.kill(killedByWatchdog) })
	return c
}

// Verify logs in and out: "check the settings before saving them". It also
// lists the folder hierarchy root (RFC 3501 §6.3.8 LIST "" ""), because
// Microsoft 365 accepts LOGIN for mailboxes without IMAP access and only
// refuses the next command.
func Verify(ctx context.Context, cfg Config) error {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	o, err := c.begin(ctx, `LIST "" ""`)
	if err != nil {
		return err
	}
	defer o.end()
	if _, err := c.c.List("", "", nil).Collect(); err != nil {
		return o.fail(err)
	}
	return nil
}

// Capabilities reports the extensions the server offers.
func (c *Conn) Capabilities() Capabilities { return c.caps }

// connect opens TCP, TLS and waits for the greeting, within DialTimeout;
// the first bytes of the greeting within GreetingTimeout (greet).
func (c *Conn) connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := &c.cfg
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	tcp, err := dial(dctx, "tcp", cfg.addr())
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.cls.classify(err, phaseConnect, "connect")
	}
	c.mu.Lock()
	c.raw = tcp
	c.mu.Unlock()
	wc := &watchConn{Conn: tcp, dog: c.dog}

	c.dog.start(cfg.DialTimeout)
	stop := context.AfterFunc(ctx, func() { c.kill(killedByContext) })
	defer func() {
		stop()
		c.dog.stop()
	}()

	opts := &imapclient.Options{UnilateralDataHandler: c.handler()}
	switch cfg.Security {
	case SecurityTLS:
		tc := cfg.tlsConfig()
		if tc.NextProtos == nil {
			tc.NextProtos = []string{"imap"} // RFC 9051 §11.1 ALPN
		}
		tlsConn := tls.Client(wc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return c.fail(ctx, err, phaseConnect, "the TLS handshake")
		}
		conn, err := c.greet(ctx, tlsConn, false)
		if err != nil {
			return err
		}
		c.c = imapclient.New(c.framed(conn), opts)
	case SecuritySTARTTLS:
		conn, err := c.greet(ctx, wc, true)
		if err != nil {
			return err
		}
		// RFC 3501 §6.2.1; a PREAUTH greeting is refused here
		// (RFC 3501 §7.1.4: it would skip the upgrade).
		cl, err := c.startTLS(ctx, conn, opts)
		if err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) {
				// Not quoted: before TLS, anything on the port could be speaking.
				return c.cls.fault(connerr.TLS, err, "%s refused STARTTLS (%s): choose TLS on port 993 instead.", cfg.Host, ie.Type)
			}
			return c.fail(ctx, err, phaseConnect, "STARTTLS")
		}
		c.c = cl
	default:
		conn, err := c.greet(ctx, wc, true)
		if err != nil {
			return err
		}
		c.c = imapclient.New(c.framed(conn), opts)
	}
	if err := c.c.WaitGreeting(); err != nil {
		return c.fail(ctx, err, phaseConnect, "the greeting")
	}
	return nil
}

// greet waits for the server's first bytes on conn and returns conn
// replaying them, or names a wrong port or SSL setting within
// GreetingTimeout (package portcheck). probe: conn is not TLS yet, so
// silence may be an SSL port waiting for a ClientHello.
func (c *Conn) greet(ctx context.Context, conn net.Conn, probe bool) (net.Conn, error) {
	checked, err := portcheck.Check(conn, portcheck.IMAP, c.cfg.GreetingTimeout, c.cfg.addr(), probe)
	if err != nil {
		return nil, c.fail(ctx, err, phaseConnect, "the greeting")
	}
	return checked, nil
}

// login authenticates (RFC 3501 §6.2) and reads the post-login
// capabilities, which may differ from the greeting's (§6.2.3).
func (c *Conn) login(ctx context.Context) error {
	cfg := &c.cfg
	c.dog.start(cfg.CommandTimeout)
	stop := context.AfterFunc(ctx, func() { c.kill(killedByContext) })
	defer func() {
		stop()
		c.dog.stop()
	}()

	caps := c.c.Caps()
	var err error
	switch {
	case cfg.OAuth2Token != "":
		sc := newXOAuth2Client(cfg.Username, cfg.OAuth2Token)
		if err = c.c.Authenticate(sc); err != nil && sc.err != nil && ctx.Err() == nil && !c.dog.hasFired() {
			return c.xoauth2Failure(err, sc.err)
		}
	case caps.Has(imap.CapLoginDisabled):
		// LOGINDISABLED (RFC 3501 §6.2.3): LOGIN is off, SASL PLAIN may not be.
		if !hasMech(caps, sasl.Plain) {
			if cfg.Security == SecurityNone {
				return c.cls.fault(connerr.TLS, nil, "%s does not allow a password login without encryption: choose TLS or STARTTLS.", cfg.Host)
			}
			return c.cls.fault(connerr.Blocked, nil, "%s does not accept a password login (LOGINDISABLED): the account may need an app password or a sign-in with the provider.", cfg.Host)
		}
		err = c.c.Authenticate(sasl.NewPlainClient("", cfg.Username, cfg.Password))
	default:
		err = c.c.Login(cfg.Username, cfg.Password).Wait()
	}
	if err != nil {
		return c.fail(ctx, err, phaseLogin, "login")
	}
	caps = c.c.Caps()
	if caps == nil {
		return c.fail(ctx, errors.New("no CAPABILITY after login"), phaseCommand, "CAPABILITY")
	}
	c.caps = Capabilities{
		CondStore:    caps.Has(imap.CapCondStore),
		Idle:         caps.Has(imap.CapIdle),
		UIDPlus:      caps.Has(imap.CapUIDPlus),
		SpecialUse:   caps.Has(imap.CapSpecialUse),
		ESearch:      caps.Has(imap.CapESearch),
		ListExtended: caps.Has(imap.CapListExtended),
	}
	return nil
}

// xoauth2Failure explains a refused XOAUTH2 login from the server's JSON
// error challenge.
func (c *Conn) xoauth2Failure(err error, xe *xoauth2Error) error {
	e := c.cls.fault("", errors.Join(err, xe), "")
	switch {
	case xe.Status == "403":
		e.Kind = connerr.Blocked
		e.Message = fmt.Sprintf("%s refused the sign-in token: it does not grant IMAP access (scope %q). Connect the account again and allow mail access.", c.cfg.Host, xe.Scope)
	case xe.Status == "429":
		e.Kind = connerr.Throttled
		e.Message = fmt.Sprintf("%s is limiting sign-ins.", c.cfg.Host)
	case strings.HasPrefix(xe.Status, "5"):
		e.Kind = connerr.Unreachable
		e.Message = fmt.Sprintf("%s could not check the sign-in token (status %s).", c.cfg.Host, xe.Status)
	default: // 400, 401
		e.Kind = connerr.Auth
		e.Message = fmt.Sprintf("%s refused the sign-in token for %s (status %s): it expired or was revoked. Connect the account again.", c.cfg.Host, c.cfg.Username, xe.Status)
	}
	return e
}

func hasMech(caps imap.CapSet, mech string) bool {
	for _, m := range caps.AuthMechanisms() {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// handler receives what the server says on its own (RFC 3501 §7: EXISTS,
// EXPUNGE, FETCH of flag changes). It must never block.
func (c *Conn) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { c.notify() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				c.notify()
			}
		},
		// go-imap runs this one on a goroutine of its own; the message must
		// be consumed or the reader stalls. Unsolicited FETCHes carry no UID
		// (reference doc): the caller re-reads with Changes.
		Fetch: func(msg *imapclient.FetchMessageData) {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if _, ok := item.(imapclient.FetchItemDataBodySection); ok {
					// Counted before the literal is read (by the next
					// msg.Next): go-imap's reader waits for that, so the
					// count is visible before the FETCH command completes.
					c.misrouted.Add(1)
				}
			}
			c.notify()
		},
	}
}

func (c *Conn) notify() {
	select {
	case c.events <- struct{}{}:
	default:
	}
}

// drainEvents forgets pending signals (after SELECT: they were about the
// previous folder).
func (c *Conn) drainEvents() {
	select {
	case <-c.events:
	default:
	}
}

// kill closes the socket under go-imap, which then fails every pending
// command; the first reason sticks.
func (c *Conn) kill(why killReason) {
	c.mu.Lock()
	if c.killed == notKilled {
		c.killed = why
	}
	raw := c.raw
	c.mu.Unlock()
	if raw != nil {
		raw.Close()
	}
}

func (c *Conn) killReason() killReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

func (c *Conn) setBroken(err error) {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = err
	}
	c.mu.Unlock()
}

// usable returns the error that makes the connection unusable, if any.
func (c *Conn) usable() error {
	c.mu.Lock()
	closed, broken := c.closed, c.broken
	c.mu.Unlock()
	if closed {
		return c.cls.fault(connerr.Protocol, net.ErrClosed, "The IMAP connection was closed.")
	}
	if broken != nil {
		return broken
	}
	select {
	case <-c.c.Closed():
		// The server hung up between commands (autologout BYE, restart).
		e := c.cls.fault(connerr.Unreachable, net.ErrClosed, "The connection to %s was lost.", c.cfg.Host)
		c.setBroken(e)
		return e
	default:
		return nil
	}
}

// fail turns err from a command into what the caller gets, and marks the
// connection broken when it cannot be used again.
func (c *Conn) fail(ctx context.Context, err error, ph phase, what string) error {
	if err == nil {
		return nil
	}
	switch c.killReason() {
	case killedByContext:
		c.setBroken(c.cls.fault(connerr.Unreachable, err, "The connection to %s was closed to cancel %s.", c.cfg.Host, what))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.broken
	case killedByWatchdog:
		c.dog.mu.Lock()
		d := c.dog.d
		c.dog.mu.Unlock()
		e := c.cls.fault(connerr.Unreachable, err, "%s stopped answering during %s (nothing received for %s).", c.cfg.Host, what, d)
		c.setBroken(e)
		return e
	}
	if e := c.frame.violation(); e != nil {
		// The server went past a limit: whatever go-imap made of the cut
		// stream, this is the reason.
		c.setBroken(e)
		return e
	}
	e := c.cls.classify(err, ph, what)
	if connerr.KindOf(e) == connerr.Unreachable || (c.c != nil && isDone(c.c.Closed())) {
		c.setBroken(e)
	}
	return e
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// op is one command under the watchdog and the caller's context.
type op struct {
	c       *Conn
	ctx     context.Context
	what    string
	stopCtx func() bool
}

// begin checks the connection and arms the watchdog; the caller must call
// end.
func (c *Conn) begin(ctx context.Context, what string) (*op, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	c.dog.start(c.cfg.CommandTimeout)
	o := &op{c: c, ctx: ctx, what: what}
	o.stopCtx = context.AfterFunc(ctx, func() { c.kill(killedByContext) })
	return o, nil
}

func (o *op) end() {
	o.c.dog.stop()
	if !o.stopCtx() && o.c.killReason() == killedByContext {
		// ctx ended just as the command finished: the socket is gone.
		o.c.setBroken(o.c.cls.fault(connerr.Unreachable, o.ctx.Err(), "The connection to %s was closed to cancel %s.", o.c.cfg.Host, o.what))
	}
}

func (o *op) fail(err error) error { return o.c.fail(o.ctx, err, phaseCommand, o.what) }

// Close logs out (RFC 3501 §6.1.3) within a few seconds and closes the
// socket. It is safe to call more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	broken := c.broken
	c.mu.Unlock()
	if c.c == nil {
		c.abort()
		return nil
	}
	if broken == nil && !isDone(c.c.Closed()) {
		c.dog.start(logoutTimeout)
		_ = c.c.Logout().Wait() // we hang up either way
		c.dog.stop()
	}
	c.abort()
	return nil
}

// abort closes without a word.
func (c *Conn) abort() {
	c.dog.stop()
	c.mu.Lock()
	raw := c.raw
	c.mu.Unlock()
	if raw != nil {
		raw.Close()
	}
	if c.c != nil {
		c.c.Close()
	}
}
