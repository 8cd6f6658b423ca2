package dropbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Backend finds and fills dropboxes. Its methods are called concurrently,
// from one goroutine per SMTP session.
type Backend interface {
	// Lookup returns the box that token names. localPart is the token as
	// the client wrote it, lower-cased, without any "+suffix" (so tokens
	// must be lower-case). It returns ErrNoSuchBox when there is none; a
	// *RejectError is sent to the client as it is; any other error is a
	// temporary failure (451 4.3.0).
	Lookup(ctx context.Context, localPart string) (Box, error)
	// Deliver stores raw, the message as received with a Received header
	// field prepended, for box. It is called once per box among the
	// message's recipients, after the sender checks passed.
	//
	// raw may be read from the network: if reading it fails (message over
	// the size limit, client gone, timeout) Deliver must keep nothing and
	// return an error, and the client is told what went wrong with the
	// transfer whatever Deliver returned. So Deliver must read raw to
	// io.EOF before it keeps the message.
	//
	// A *RejectError is sent to the client as it is; any other error is a
	// temporary failure (451 4.3.0) and the sender will try again, maybe
	// with the same message: Deliver should recognise one it already has.
	Deliver(ctx context.Context, box Box, env Envelope, raw io.Reader) error
}

// Box is one user's dropbox, as Backend.Lookup finds it.
type Box struct {
	AccountID int64
	// OwnerAddresses are the (lower-case) addresses the user may send
	// from: mail whose envelope sender or From header is not one of them
	// is refused.
	OwnerAddresses []string
}

// Envelope is what the SMTP session said about a message, beside the
// message itself.
type Envelope struct {
	MailFrom string // lower-cased reverse-path of MAIL FROM
	// Recipients are the RCPT TO addresses (as the client wrote them) that
	// name this box: other boxes' addresses are never shown.
	Recipients []string
	RemoteAddr string // client's address, "ip:port"
	HeloName   string // as the client gave it in EHLO/HELO, unverified
	ReceivedAt time.Time
	// HeaderFrom are the lower-cased addresses of the From header field.
	HeaderFrom []string
}

// ErrNoSuchBox is what Backend.Lookup returns for a token that names no
// dropbox; the client gets 550 5.1.1.
var ErrNoSuchBox = errors.New("dropbox: no such box")

// ErrServerClosed is returned by Serve and ListenAndServe after Close.
var ErrServerClosed = errors.New("dropbox: server closed")

// RejectError is a refusal a Backend wants the client to see as it is: a
// 5xx reply bounces the message, a 4xx one makes the sender retry.
type RejectError struct {
	Code     int    // 4xx or 5xx (RFC 5321 §4.2); anything else is sent as 554
	Enhanced [3]int // RFC 3463 status code, e.g. {5, 7, 1}; zero for the generic X.0.0
	Message  string // one line, for a human
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("dropbox: rejected: %d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

// smtpError turns e into the reply go-smtp sends, keeping it one valid line.
func (e *RejectError) smtpError() *smtp.SMTPError {
	code, enh := e.Code, smtp.EnhancedCode(e.Enhanced)
	if code < 400 || code > 599 {
		code, enh = 554, smtp.EnhancedCode{5, 0, 0}
	}
	if enh != smtp.EnhancedCodeNotSet && enh[0] != code/100 {
		enh = smtp.EnhancedCodeNotSet // go-smtp fills in X.0.0
	}
	msg := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, e.Message)
	if msg == "" {
		msg = "Rejected"
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// Config sets up a Server. Only Domain is required.
type Config struct {
	Addr string // ListenAndServe's address; default ":25"
	// Domain is the dropbox domain: RCPT TO must be <token@Domain>. It is
	// also the name the server gives itself in its greeting and in the
	// Received header field.
	Domain          string
	MaxMessageBytes int64 // default 25 MiB
	MaxRecipients   int   // per message; default 50
	// ReadTimeout is how long a read may wait for the client, whether for
	// a command or for message data; default 5 minutes (RFC 5321
	// §4.5.3.2.7). WriteTimeout bounds each reply; default 1 minute.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// SessionTimeout bounds a whole connection, however busy; default 30
	// minutes.
	SessionTimeout time.Duration
	// TLSConfig, when set, enables STARTTLS (RFC 3207). TLS is offered,
	// never required: senders on the Internet fall back to plain text.
	TLSConfig *tls.Config
	Logger    *slog.Logger     // default: discard
	Now       func() time.Time // clock for ReceivedAt and Received; default time.Now
}

const (
	defaultMaxMessageBytes = 25 << 20
	defaultMaxRecipients   = 50
	// maxHeaderBytes bounds the header block held in memory to check the
	// From field.
	maxHeaderBytes = 256 << 10
	// maxLineLength applies to commands and message lines alike (go-smtp
	// has one limit). RFC 5321 §4.5.3.1.6 allows 1000 octets per text line,
	// but real senders exceed it in message data, so this is generous.
	maxLineLength = 4096
)

// Server is an inbound SMTP server for dropboxes. Its zero value is not
// usable: make one with New.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	smtp    *smtp.Server

	ctx    context.Context // ended by Close: aborts Backend calls
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	calls     sync.WaitGroup // Backend calls in progress
}

// New makes a server that asks b about dropboxes. Fields of cfg left zero
// take their defaults.
func New(cfg Config, b Backend) *Server {
	if cfg.Addr == "" {
		cfg.Addr = ":25"
	}
	cfg.Domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(cfg.Domain)), ".")
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = defaultMaxMessageBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = defaultMaxRecipients
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, backend: b, log: cfg.Logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	ss := smtp.NewServer(smtpBackend{s})
	ss.Domain = cfg.Domain
	ss.MaxMessageBytes = cfg.MaxMessageBytes
	ss.MaxRecipients = cfg.MaxRecipients
	ss.MaxLineLength = maxLineLength
	// Read deadlines are set by sessionConn, before every read: go-smtp's
	// ReadTimeout is set once per command and would bound the whole DATA
	// transfer.
	ss.ReadTimeout = 0
	ss.WriteTimeout = cfg.WriteTimeout
	ss.TLSConfig = cfg.TLSConfig
	ss.ErrorLog = errorLog{cfg.Logger}
	s.smtp = ss
	return s
}

// ListenAndServe listens on TCP Config.Addr and serves until Close.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dropbox: %w", err)
	}
	return s.Serve(l)
}

// Serve answers SMTP sessions on l until Close, which closes l. It returns
// ErrServerClosed if the server was closed before it started, nil when
// Close ends it.
func (s *Server) Serve(l net.Listener) error {
	if s.cfg.Domain == "" {
		l.Close()
		return errors.New("dropbox: Config.Domain is required")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	err := s.smtp.Serve(&listener{Listener: l, srv: s})
	if err != nil {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil
		}
		return fmt.Errorf("dropbox: %w", err)
	}
	return nil
}

// Addr is the address of the first listener Serve was given, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// Close stops listening, hangs up every session (a transfer in progress
// gets no reply, so its sender retries), cancels the context of Backend
// calls and waits for them to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := s.listeners
	s.mu.Unlock()

	s.cancel()
	err := s.smtp.Close()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	// A listener Serve had not yet handed to go-smtp when it closed.
	for _, l := range ls {
		l.Close()
	}
	s.calls.Wait()
	return err
}

// enter registers a Backend call; false once the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

func (s *Server) leave() { s.calls.Done() }

// smtpBackend keeps go-smtp's Backend method off Server's API.
type smtpBackend struct{ srv *Server }

func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return newSession(b.srv, c), nil
}

// listener wraps each accepted connection in a sessionConn.
type listener struct {
	net.Listener
	srv *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sessionConn{
		Conn:  c,
		idle:  l.srv.cfg.ReadTimeout,
		grace: l.srv.cfg.WriteTimeout,
		end:   time.Now().Add(l.srv.cfg.SessionTimeout),
	}, nil
}

// sessionConn enforces the timeouts: before every read the deadline is
// moved to ReadTimeout from now, but never past the session's end. Write
// deadlines (set by go-smtp before each reply) are capped to the session's
// end plus one WriteTimeout, to say goodbye.
//
// STARTTLS wraps this connection in a tls.Conn, whose reads and deadlines
// come back here.
type sessionConn struct {
	net.Conn
	idle, grace time.Duration
	end         time.Time

	// BDAT transfers, see session.Data.
	mu         sync.Mutex
	bdatDone   chan struct{} // closed when the last BDAT Data returned
	bdatBroken bool          // a BDAT transfer did not end at BDAT LAST
}

func (c *sessionConn) beginBDAT() chan struct{} {
	done := make(chan struct{})
	c.mu.Lock()
	c.bdatDone = done
	c.mu.Unlock()
	return done
}

func (c *sessionConn) endBDAT(done chan struct{}, complete bool) {
	c.mu.Lock()
	if !complete {
		c.bdatBroken = true
	}
	c.mu.Unlock()
	close(done)
}

// bdatSettled waits for a BDAT Data still running and reports whether the
// connection may take another transaction.
func (c *sessionConn) bdatSettled(ctx context.Context) bool {
	c.mu.Lock()
	done := c.bdatDone
	c.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.bdatBroken
}

func (c *sessionConn) Read(p []byte) (int, error) {
	d := time.Now().Add(c.idle)
	if c.end.Before(d) {
		d = c.end
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *sessionConn) SetWriteDeadline(t time.Time) error {
	if last := c.end.Add(c.grace); t.IsZero() || t.After(last) {
		t = last
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *sessionConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// errorLog carries go-smtp's own messages to the slog logger: panics in
// this package's code (a bug, whatever triggered it) as errors with their
// stack, the rest (mostly clients hanging up) at debug level.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) { l.emit(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.emit(fmt.Sprintln(v...)) }

func (l errorLog) emit(msg string) {
	msg = strings.TrimSpace(msg)
	switch {
	case strings.HasPrefix(msg, "panic") && !goSMTPNilSession(msg):
		l.log.Error("dropbox: panic in SMTP session", "detail", msg)
	case strings.HasPrefix(msg, "panic"):
		l.log.Debug("dropbox: go-smtp used a closed session", "detail", msg)
	default:
		l.log.Debug("dropbox: smtp", "detail", msg)
	}
}

// goSMTPNilSession recognises known, harmless panics of go-smtp v0.25.1
// itself (found by FuzzSession), which it recovers from: once it has
// closed a connection (QUIT, too many errors) it still handles the lines
// a client pipelined after, and MAIL, RCPT or DATA then call a method of
// the nil session; BDAT's goroutine does the same when the client hangs
// up before the goroutine starts. The connection is closed already, so
// nothing is lost, but anyone can cause it: it must not flood the log at
// error level. A panic with a frame of this package in its stack is never
// one of these.
func goSMTPNilSession(msg string) bool {
	return strings.Contains(msg, "nil pointer dereference") &&
		strings.Contains(msg, "github.com/emersion/go-smtp.(*Conn).handle") &&
		!strings.Contains(msg, "crmsync/internal/mail/dropbox.")
}
