package dropbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Replies of this package. RFC 3463 codes: 5.1.1 bad destination mailbox,
// 5.7.1 delivery not authorized, 5.3.4 message too big, 4.3.0 mail system
// temporary failure, 4.4.2 bad connection.
var (
	errRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Relay denied: this server only accepts mail for its dropbox addresses"}
	errNoSuchBox = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such dropbox: check the address shown in your crmsync account"}
	errNotOwner = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "This dropbox accepts mail only from its owner's addresses; send or forward from an address of your crmsync account"}
	errTempLookup = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure looking up the dropbox, try again later"}
	errTempDeliver = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure storing the message, try again later"}
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Server shutting down, try again later"}
	errNoRecipients = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "No valid recipients"}
	errHeaderTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("Message header exceeds %d KiB", maxHeaderBytes>>10)}
)

// session is one SMTP session's transaction state. go-smtp calls Mail,
// Rcpt, Reset and Logout from the connection's goroutine; Data too, except
// for BDAT (RFC 3030), where it runs in a goroutine of its own while Reset
// may still be called: mu guards the state.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	ctx    context.Context
	cancel context.CancelFunc

	remote string       // the client's address
	sc     *sessionConn // per-connection state; nil if not accepted by Serve

	mu      sync.Mutex
	from    string    // lower-cased MAIL FROM
	helo    string    // EHLO name and TLS state, as of MAIL FROM (Data
	tlsOn   bool      // may run beside the connection's goroutine)
	targets []*target // boxes among the recipients, in RCPT order
}

// target is one box among a message's recipients, with the addresses that
// named it.
type target struct {
	box   Box
	rcpts []string
}

func newSession(srv *Server, c *smtp.Conn) *session {
	ctx, cancel := context.WithCancel(srv.ctx)
	s := &session{srv: srv, conn: c, ctx: ctx, cancel: cancel}
	nc := c.Conn()
	if a := nc.RemoteAddr(); a != nil {
		s.remote = a.String()
	}
	if tc, ok := nc.(*tls.Conn); ok { // a session after STARTTLS
		nc = tc.NetConn()
	}
	s.sc, _ = nc.(*sessionConn)
	return s
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.targets = "", nil
}

func (s *session) Logout() error {
	s.cancel()
	return nil
}

// Mail records the reverse-path; it is checked against each box at RCPT.
// go-smtp has already refused a SIZE= over the limit with 552 5.3.4.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sc != nil && !s.sc.bdatSettled(s.ctx) {
		if s.ctx.Err() != nil {
			s.hangup(421, "4.3.2 Server shutting down, try again later")
		} else {
			s.hangup(421, "4.5.0 Chunked transfer (BDAT) aborted midway; reconnect to send again")
		}
		return errShuttingDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.targets = strings.ToLower(from), nil
	s.helo = s.conn.Hostname()
	_, s.tlsOn = s.conn.TLSConnectionState()
	return nil
}

// Rcpt accepts <token[+anything]@Domain> when the token names a box and
// the envelope sender is one of its owner's addresses.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !strings.EqualFold(strings.TrimSuffix(to[at+1:], "."), s.srv.cfg.Domain) {
		return errRelayDenied
	}
	token := strings.ToLower(to[:at])
	token, _, _ = strings.Cut(token, "+")
	if token == "" {
		return errNoSuchBox
	}
	if !s.srv.enter() {
		return errShuttingDown
	}
	defer s.srv.leave()
	box, err := s.srv.backend.Lookup(s.ctx, token)
	if err != nil {
		var rej *RejectError
		switch {
		case errors.Is(err, ErrNoSuchBox):
			s.srv.log.Info("dropbox: no such dropbox", "remote", s.remote)
			return errNoSuchBox
		case errors.As(err, &rej):
			return rej.smtpError()
		default:
			s.srv.log.Warn("dropbox: lookup failed", "remote", s.remote, "err", err)
			return errTempLookup
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !owns(box, s.from) {
		s.srv.log.Info("dropbox: envelope sender is not the owner", "account", box.AccountID, "from", s.from, "remote", s.remote)
		return errNotOwner
	}
	for _, t := range s.targets {
		if t.box.AccountID == box.AccountID {
			if !containsFold(t.rcpts, to) {
				t.rcpts = append(t.rcpts, to)
			}
			return nil
		}
	}
	s.targets = append(s.targets, &target{box: box, rcpts: []string{to}})
	return nil
}

// Data reads the header block, checks its From field against every box,
// and hands the message to Deliver once per box.
//
// For BDAT (RFC 3030) go-smtp v0.25.1 runs Data in a goroutine of its own,
// reading from a pipe, and has a data race: if the transfer is aborted
// midway (RSET, EHLO, STARTTLS, a chunk over the size limit), go-smtp
// closes the pipe and moves on without waiting for that goroutine, which
// then sends its result on Conn.dataResult, a field the next BDAT
// transaction replaces, unsynchronised (and whose reply may then be the
// aborted transaction's). The workaround: for BDAT, Data always reads the
// message to its end, so that go-smtp collects its result at BDAT LAST
// before going on; a transfer that ends otherwise leaves the connection
// unusable, and its next MAIL hangs up (421, the sender reconnects).
//
// Not covered: a client that aborts after an empty first chunk ("BDAT 0"),
// before the goroutine has even called Data. BDAT needs an accepted
// recipient, so only a holder of a dropbox address can try that.
func (s *session) Data(r io.Reader) error {
	pr, bdat := r.(*io.PipeReader)
	if !bdat || s.sc == nil {
		return s.data(r)
	}
	done := s.sc.beginBDAT()
	tr := &trackingReader{r: pr}
	err := s.data(tr)
	_, _ = io.Copy(io.Discard, tr)
	s.sc.endBDAT(done, tr.err == nil)
	return err
}

func (s *session) data(r io.Reader) error {
	if !s.srv.enter() {
		return errShuttingDown
	}
	defer s.srv.leave()
	now := s.srv.cfg.Now()

	s.mu.Lock()
	from, helo, tlsOn := s.from, s.helo, s.tlsOn
	targets := make([]target, len(s.targets))
	for i, t := range s.targets {
		targets[i] = target{box: t.box, rcpts: append([]string(nil), t.rcpts...)}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return errNoRecipients
	}

	tr := &trackingReader{r: r}
	br := bufio.NewReaderSize(tr, 32<<10)
	hdr, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		if tr.err != nil {
			return s.transferFailed(tr.err)
		}
		return err
	}

	headerFrom, err := parseHeaderFrom(hdr)
	if err != nil {
		s.srv.log.Info("dropbox: unreadable From header", "remote", s.remote, "err", err)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Cannot check the sender: " + err.Error()}
	}
	for _, t := range targets {
		for _, a := range headerFrom {
			if !owns(t.box, a) {
				s.srv.log.Info("dropbox: header From is not the owner", "account", t.box.AccountID, "header_from", a, "from", from, "remote", s.remote)
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
					Message: "This dropbox accepts mail only from its owner's addresses, and the From header names another one"}
			}
		}
	}

	env := Envelope{
		MailFrom:   from,
		RemoteAddr: s.remote,
		HeloName:   helo,
		ReceivedAt: now,
		HeaderFrom: headerFrom,
	}

	// One box: stream from the connection. Several: each Deliver needs the
	// whole message, so read it first (bounded by MaxMessageBytes).
	var body []byte
	if len(targets) > 1 {
		body, err = io.ReadAll(br)
		if err != nil {
			return s.transferFailed(err)
		}
	}

	var tempErr, rejErr error
	for _, t := range targets {
		env := env
		env.Recipients = t.rcpts
		received := receivedField(env, s.srv.cfg.Domain, tlsOn)
		var rest io.Reader = br
		if body != nil {
			rest = bytes.NewReader(body)
		}
		raw := io.MultiReader(strings.NewReader(received), bytes.NewReader(hdr), rest)
		err := s.srv.backend.Deliver(s.ctx, t.box, env, raw)
		if body == nil {
			if err == nil {
				// Deliver should have read to EOF; make sure the
				// transfer completed before saying so.
				_, _ = io.Copy(io.Discard, br)
			}
			if tr.err != nil {
				return s.transferFailed(tr.err)
			}
		}
		var rej *RejectError
		switch {
		case err == nil:
			s.srv.log.Info("dropbox: delivered", "account", t.box.AccountID, "from", from, "remote", env.RemoteAddr)
		case errors.As(err, &rej):
			s.srv.log.Info("dropbox: delivery rejected", "account", t.box.AccountID, "err", err)
			if rejErr == nil {
				rejErr = rej.smtpError()
			}
		default:
			s.srv.log.Warn("dropbox: delivery failed", "account", t.box.AccountID, "err", err)
			tempErr = errTempDeliver
		}
	}
	// One reply for all boxes (this is SMTP, not LMTP): a temporary
	// failure anywhere makes the sender retry them all; else a rejection
	// bounces the message, even if another box kept it.
	switch {
	case tempErr != nil:
		return tempErr
	case rejErr != nil:
		return rejErr
	}
	return nil
}

// transferFailed answers a failure reading the message data. A message
// over the limit is answered once the client has sent all of it (go-smtp
// reads the rest); a stalled client or a line over the limit leaves the
// session in an unknown state, so the server says why and hangs up.
func (s *session) transferFailed(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Message exceeds the dropbox size limit of %d bytes", s.srv.cfg.MaxMessageBytes)}
	case errors.Is(err, smtp.ErrTooLongLine):
		s.hangup(500, fmt.Sprintf("5.5.2 Line too long (over %d bytes), closing connection", maxLineLength))
	case errors.As(err, &ne) && ne.Timeout():
		s.hangup(421, "4.4.2 Timeout waiting for message data, closing connection")
	}
	// Client gone, RSET during BDAT, or the hangup above: nobody reads
	// the reply.
	return err
}

// hangup sends a last reply and closes the connection, so that go-smtp's
// own reading of the rest of the data and its reply both fail at once.
// Only for the connection's goroutine (Mail, or Data for DATA, not BDAT):
// nothing else writes to the connection meanwhile.
func (s *session) hangup(code int, text string) {
	nc := s.conn.Conn()
	_ = nc.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_, _ = fmt.Fprintf(nc, "%d %s\r\n", code, text)
	_ = nc.Close()
}

// trackingReader remembers the first error other than io.EOF reading the
// message data, whoever was reading.
type trackingReader struct {
	r   io.Reader
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// owns reports whether addr is one of box's owner addresses.
func owns(box Box, addr string) bool {
	return addr != "" && containsFold(box.OwnerAddresses, addr)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
