// Package portcheck tells, from the first bytes a server sends, whether the
// port a user typed speaks what crmsync is about to speak, so that a wrong
// port or SSL setting is named as such, at once, instead of surfacing 30
// seconds later as an unreadable greeting (issue 13 point 5).
//
// The mistakes it names are the everyday ones: SSL off against an SSL port
// (993, 465: the server waits in silence for a TLS ClientHello, or answers
// with a TLS record), SSL on against a plain port (the TLS handshake reads
// "* OK" or "220"), the SMTP port typed for IMAP and the reverse, a web
// server on the port. IMAP (imapsync) and SMTP (smtpout) share it so the
// same mistake gets the same words.
//
// It never quotes what the server said: before TLS, whatever listens on the
// port the user typed could be speaking (DESIGN §11).
package portcheck

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// DefaultTimeout is how long a server may take to send its first bytes. It
// is short, and distinct from the connection and command timeouts: a mail
// server greets at once, and one that says nothing for this long is, in
// practice, an SSL port waiting for a ClientHello.
const DefaultTimeout = 3 * time.Second

// Proto is what a server's first bytes say it speaks.
type Proto string

// The protocols told apart.
const (
	Unknown Proto = ""
	TLS     Proto = "SSL"
	IMAP    Proto = "IMAP"
	SMTP    Proto = "SMTP"
	POP3    Proto = "POP3"
	HTTP    Proto = "HTTP"
)

// Identify reads the first bytes a server sent (or, for a failed TLS
// handshake, the five of its record header).
func Identify(b []byte) Proto {
	switch {
	case len(b) >= 2 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 0x03:
		// A TLS alert or handshake record (RFC 8446 §5.1), version 3.x.
		return TLS
	case hasPrefixFold(b, "* OK") || hasPrefixFold(b, "* PREAUTH") || hasPrefixFold(b, "* BYE"):
		return IMAP // RFC 9051 §7.1
	case len(b) >= 4 && (b[3] == ' ' || b[3] == '-') &&
		(bytes.HasPrefix(b, []byte("220")) || bytes.HasPrefix(b, []byte("421")) || bytes.HasPrefix(b, []byte("554"))):
		return SMTP // RFC 5321 §4.3.1: the greeting is 220, or 421/554
	case hasPrefixFold(b, "+OK") || hasPrefixFold(b, "-ERR"):
		return POP3 // RFC 1939 §4
	case bytes.HasPrefix(b, []byte("HTTP/")):
		return HTTP
	}
	return Unknown
}

// decided reports whether b is enough to identify a protocol, or all the
// first line there will be.
func decided(b []byte) bool {
	return Identify(b) != Unknown || bytes.IndexByte(b, '\n') >= 0 || len(b) >= 16
}

// Check waits at most d for the first bytes the server sends on conn,
// where it should greet in want (IMAP or SMTP), and returns conn replaying
// them. It returns a *connerr.Error when they say another protocol, a TLS
// record among them. When nothing comes within d and probe is set (conn is
// not TLS yet), it sends a TLS ClientHello to learn why: an answer in TLS
// is an SSL port, an HTTP answer a web server. A read error other than a
// timeout is left for the caller to classify, through the returned conn.
func Check(conn net.Conn, want Proto, d time.Duration, server string, probe bool) (net.Conn, error) {
	if d <= 0 {
		d = DefaultTimeout
	}
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return conn, nil
	}
	var (
		got []byte
		buf [64]byte
		err error
	)
	for !decided(got) {
		var n int
		n, err = conn.Read(buf[:])
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	if err != nil && len(got) == 0 && timeout(err) {
		saw := Unknown
		if probe {
			saw = probeTLS(conn, d, server)
		}
		return conn, silent(want, saw, d, server, err)
	}
	if p := Identify(got); p != Unknown && p != want {
		return conn, Mismatch(want, p, server, nil)
	}
	return &replay{Conn: conn, buf: got, err: err}, nil
}

// probeTLS sends a ClientHello on a server that said nothing and tells
// what answered. The certificate is not checked: nothing is sent over
// this connection, which is closed right after.
func probeTLS(conn net.Conn, d time.Duration, server string) Proto {
	host, _, _ := net.SplitHostPort(server)
	conn.SetDeadline(time.Now().Add(d))
	err := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true}).Handshake()
	conn.Close()
	var rec tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case err == nil || errors.As(err, &alert):
		return TLS
	case errors.As(err, &rec):
		return Identify(rec.RecordHeader[:])
	}
	return Unknown
}

// TLSMismatch classifies a TLS handshake that failed because the server did
// not answer in TLS (tls.RecordHeaderError): its first bytes say what it
// speaks. It returns nil for any other error.
func TLSMismatch(err error, want Proto, server string) *connerr.Error {
	var rec tls.RecordHeaderError
	if !errors.As(err, &rec) {
		return nil
	}
	p := Identify(rec.RecordHeader[:])
	if p == want {
		return &connerr.Error{Kind: connerr.TLS, Server: server, Err: err,
			Message: fmt.Sprintf("Port %s of %s does not use SSL: turn SSL off (or choose STARTTLS), or use port %s.", port(server), host(server), sslPort(want))}
	}
	return Mismatch(want, p, server, err)
}

// Mismatch is the failure of a server that speaks got where want was
// expected.
func Mismatch(want, got Proto, server string, err error) *connerr.Error {
	e := &connerr.Error{Kind: connerr.Protocol, Server: server, Err: err}
	on := fmt.Sprintf("The server on port %s of %s", port(server), host(server))
	switch got {
	case TLS:
		e.Kind = connerr.TLS
		e.Message = fmt.Sprintf("Port %s of %s expects SSL: turn SSL on (usually port 993 for IMAP, 465 for SMTP).", port(server), host(server))
	case HTTP:
		e.Message = fmt.Sprintf("%s is a web server, not %s: check the %s port (usually %s with SSL).", on, a(want), want, sslPort(want))
	case Unknown:
		e.Message = fmt.Sprintf("%s does not answer like %s: check the %s port (usually %s with SSL).", on, a(want), want, sslPort(want))
	default:
		e.Message = fmt.Sprintf("%s is %s, not %s: check the %s port (usually %s with SSL).", on, a(got), a(want), want, sslPort(want))
	}
	return e
}

// silent is the failure of a server that sent nothing within d; saw is
// what answered the TLS probe, if one was sent.
func silent(want, saw Proto, d time.Duration, server string, err error) *connerr.Error {
	if saw != Unknown && saw != want {
		return Mismatch(want, saw, server, err)
	}
	// Connected but mute: the server may be overloaded, or not a mail
	// server. Transient, and worded so that it fits a mailbox that has
	// worked before as well as a new one.
	return &connerr.Error{Kind: connerr.Unreachable, Server: server, Err: err,
		Message: fmt.Sprintf("%s accepted the connection but sent no %s greeting within %s.", host(server), want, d)}
}

// a is "an IMAP server", "a POP3 server".
func a(p Proto) string {
	if p == POP3 {
		return "a POP3 server"
	}
	return "an " + string(p) + " server"
}

func sslPort(p Proto) string {
	if p == SMTP {
		return "465"
	}
	return "993"
}

func host(server string) string {
	h, _, err := net.SplitHostPort(server)
	if err != nil {
		return server
	}
	return h
}

func port(server string) string {
	_, p, err := net.SplitHostPort(server)
	if err != nil {
		return "?"
	}
	return p
}

func timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// replay is a connection whose first bytes, and the error that ended them,
// were read already.
type replay struct {
	net.Conn
	buf []byte
	err error
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	if r.err != nil {
		err := r.err
		r.err = nil
		return 0, err
	}
	return r.Conn.Read(p)
}
