// Package smtptest is crmsync's SMTP test server: an in-process go-smtp
// submission server on 127.0.0.1 that records every message it accepts
// with its envelope, and can be told to refuse (4xx, 5xx) or to hang up
// at a given step, as real servers do. It is for tests only.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Size int64 // the MAIL FROM SIZE parameter; 0 if not given
	UTF8 bool  // MAIL FROM SMTPUTF8
	Data []byte
	User string // who authenticated
}

// Step is where a Fault applies.
type Step string

const (
	StepAuth Step = "auth"
	StepMail Step = "mail"
	StepRcpt Step = "rcpt"
	StepData Step = "data" // after the whole message was read
)

// Fault is a refusal (Code > 0) or, with HangUp, a connection closed
// without an answer. Rcpt limits a fault to one recipient (at StepRcpt),
// or to the transactions that include it (at StepMail never; StepData).
type Fault struct {
	Step    Step
	Code    int
	Message string
	Rcpt    string
	HangUp  bool
}

// Server is a running test server.
type Server struct {
	Host     string
	Port     int
	User     string // the account AUTH PLAIN accepts (read only)
	Password string

	srv *smtp.Server

	mu       sync.Mutex
	msgs     []Message
	next     []Fault // each used once, in order
	always   []Fault
	attempts int      // transactions that reached DATA
	rcpts    []string // every RCPT TO asked, in order
	sessions int
	notify   chan struct{}
}

// Options change the server; zero values take defaults.
type Options struct {
	MaxMessageBytes int64 // advertised with SIZE when > 0
	SMTPUTF8        bool
	// User and Password are the account AUTH PLAIN accepts (default
	// sender / sender-secret).
	User, Password string
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{User: "sender", Password: "sender-secret", notify: make(chan struct{}, 1)}
	if opts.User != "" {
		s.User, s.Password = opts.User, opts.Password
	}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = opts.MaxMessageBytes
	s.srv.EnableSMTPUTF8 = opts.SMTPUTF8
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Host, s.Port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// FailNext queues faults used once each, by the next transactions that
// reach their step.
func (s *Server) FailNext(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, f...)
}

// FailAlways applies faults to every transaction until Reset.
func (s *Server) FailAlways(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = append(s.always, f...)
}

// Reset drops the faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next, s.always = nil, nil
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Attempts counts the transactions that sent a whole message (accepted or
// not).
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// RcptAttempts counts the RCPT TO commands naming addr, accepted or not.
func (s *Server) RcptAttempts(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rcpts {
		if strings.EqualFold(r, addr) {
			n++
		}
	}
	return n
}

// Sessions counts the connections made.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait returns once at least n messages were accepted, or fails the test
// after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("smtptest: %d messages accepted after %v, want %d", len(s.Messages()), timeout, n)
		}
	}
}

// fault returns the fault for a step (and recipients), consuming a queued
// one.
func (s *Server) fault(step Step, rcpts ...string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	match := func(f Fault) bool {
		if f.Step != step {
			return false
		}
		if f.Rcpt == "" {
			return true
		}
		for _, r := range rcpts {
			if strings.EqualFold(f.Rcpt, r) {
				return true
			}
		}
		return false
	}
	for i, f := range s.next {
		if match(f) {
			s.next = append(s.next[:i:i], s.next[i+1:]...)
			return &f
		}
	}
	for _, f := range s.always {
		if match(f) {
			return &f
		}
	}
	return nil
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.sessions++
	b.s.mu.Unlock()
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	msg  Message
}

var errHungUp = errors.New("smtptest: hung up")

// apply answers with a fault, or hangs up.
func (ss *session) apply(f *Fault) error {
	if f == nil {
		return nil
	}
	if f.HangUp {
		ss.conn.Conn().Close()
		return errHungUp
	}
	code := f.Code
	msg := f.Message
	if msg == "" {
		msg = "refused by the test server"
	}
	enh := smtp.EnhancedCode{code / 100, 0, 0}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if err := ss.apply(ss.s.fault(StepAuth)); err != nil {
			return err
		}
		if user != ss.s.User || pass != ss.s.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if err := ss.apply(ss.s.fault(StepMail)); err != nil {
		return err
	}
	ss.msg = Message{From: from, User: ss.user}
	if opts != nil {
		ss.msg.Size, ss.msg.UTF8 = opts.Size, opts.UTF8
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.rcpts = append(ss.s.rcpts, to)
	ss.s.mu.Unlock()
	if err := ss.apply(ss.s.fault(StepRcpt, to)); err != nil {
		return err
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.attempts++
	ss.s.mu.Unlock()
	if err := ss.apply(ss.s.fault(StepData, ss.msg.To...)); err != nil {
		return err
	}
	m := ss.msg
	m.Data = buf.Bytes()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.mu.Unlock()
	select {
	case ss.s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }
