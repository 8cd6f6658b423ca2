// Package smtpout talks to an account's outgoing (submission) server: it
// verifies that the server accepts the user's credentials, so that a
// mailbox is saved only once sending would work, and sends the outbox's
// messages (Send).
//
// It uses the standard library's net/smtp, which covers submission (RFC
// 6409) with STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN; implicit TLS
// (RFC 8314) is a TLS connection handed to the same client.
package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/portcheck"
)

// Config is how to reach and log in to a submission server.
type Config struct {
	Host      string
	Port      int
	Security  string // tls | starttls | none
	Username  string
	Password  string
	TLSConfig *tls.Config
	// AllowPlaintext permits AUTH without TLS to a non-loopback host.
	AllowPlaintext bool
	Timeout        time.Duration // whole exchange; default 30 s
	// GreetingTimeout bounds the wait for the server's first bytes
	// (default portcheck.DefaultTimeout, a few seconds): a wrong port or
	// SSL setting is named at once, not after Timeout.
	GreetingTimeout time.Duration
	// LocalName is sent in EHLO; default "localhost".
	LocalName string
	// Dial opens the TCP connection; nil is a plain net.Dialer. The
	// connector wiring passes the network guard's (package netguard), so
	// that a user's settings cannot reach internal hosts.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Verify connects, authenticates and quits. Failures are *connerr.Error.
func Verify(ctx context.Context, cfg Config) error {
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Quit(); err != nil {
		return classify(err, cfg, trusted(c, cfg))
	}
	return nil
}

func dial(ctx context.Context, cfg Config) (*smtp.Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	addr := cfg.addr()
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	dialTCP := cfg.Dial
	if dialTCP == nil {
		dialTCP = (&net.Dialer{}).DialContext
	}
	conn, err := dialTCP(ctx, "tcp", addr)
	if err != nil {
		return nil, classify(err, cfg, false)
	}
	// The server's words are shown to the user only once it has proved
	// who it is (TLS) or accepted the login: before that, anything
	// listening on the port the user typed could be speaking.
	said := false
	if cfg.Security == "tls" {
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, classify(err, cfg, false)
		}
		conn, said = tlsConn, true
	}
	// The SMTP port with SSL off, the IMAP port, a web server: named
	// from the first bytes (package portcheck).
	conn, err = portcheck.Check(conn, portcheck.SMTP, cfg.GreetingTimeout, addr, cfg.Security != "tls")
	if err != nil {
		conn.Close()
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	lc := newLimitedConn(conn)
	c, err := smtp.NewClient(lc, cfg.Host)
	if err != nil {
		conn.Close()
		return nil, classify(err, cfg, said)
	}
	name := cfg.LocalName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil || lc.over() {
		// net/smtp takes a line cut by the limit for a whole reply.
		c.Close()
		if err == nil {
			err = errTooMuch
		}
		return nil, classify(err, cfg, said)
	}
	if cfg.Security == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			c.Close()
			return nil, cfg.fault(connerr.TLS, nil, "The SMTP server %s does not offer STARTTLS. Choose security tls (usually port 465) or ask the provider.", cfg.Host)
		}
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, classify(err, cfg, false)
		}
		said = true
	}
	if cfg.Username != "" {
		// With implicit TLS net/smtp sees the limited connection, not the
		// *tls.Conn under it.
		_, isTLS := c.TLSConnectionState()
		isTLS = isTLS || cfg.Security == "tls"
		if !isTLS && !cfg.AllowPlaintext && !loopback(cfg.Host) {
			c.Close()
			return nil, cfg.fault(connerr.TLS, nil, "The password would cross the network unencrypted: use security tls or starttls.")
		}
		var a smtp.Auth
		if ok, mechs := c.Extension("AUTH"); ok && !strings.Contains(strings.ToUpper(mechs), "PLAIN") && strings.Contains(strings.ToUpper(mechs), "LOGIN") {
			a = &loginAuth{user: cfg.Username, pass: cfg.Password}
		} else {
			a = &plainAuth{user: cfg.Username, pass: cfg.Password}
		}
		if err := c.Auth(a); err != nil {
			c.Close()
			return nil, classify(err, cfg, said)
		}
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainAuth is AUTH PLAIN (RFC 4616). net/smtp's PlainAuth refuses to run
// without TLS even to loopback; the plaintext rule is applied above.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("smtpout: unexpected challenge in AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is the non-standard but common AUTH LOGIN.
type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:":
		return []byte(a.user), nil
	case "password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("smtpout: unexpected AUTH LOGIN challenge %q", fromServer)
}

// addr is "host:port".
func (cfg Config) addr() string { return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)) }

// fault is a classified failure of cfg's server.
func (cfg Config) fault(kind connerr.Kind, err error, format string, args ...any) *connerr.Error {
	return &connerr.Error{Kind: kind, Server: cfg.addr(), Message: fmt.Sprintf(format, args...), Err: err}
}

// trusted reports whether c's server may be quoted: over TLS, or after a
// login.
func trusted(c *smtp.Client, cfg Config) bool {
	_, isTLS := c.TLSConnectionState()
	return isTLS || cfg.Username != ""
}

// classify turns an SMTP or network failure into a *connerr.Error with a
// message for the user (RFC 4954 §6 codes, RFC 3463 enhanced codes). The
// server's text is quoted only when said: after TLS or a login, not from
// whatever answers on a port before that.
func classify(err error, cfg Config, said bool) error {
	if connerr.As(err) != nil {
		return err // classified already (the network guard's refusal)
	}
	if e, ok := tooMuch(err, cfg); ok {
		return e
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if !said {
			te = &textproto.Error{Code: te.Code, Msg: "(text not shown before TLS or login)"}
		}
		msg := strings.ToLower(te.Msg)
		switch {
		case strings.Contains(msg, "application-specific password") || strings.Contains(msg, "5.7.9") ||
			strings.Contains(msg, "smtp auth") && strings.Contains(msg, "disabled") || strings.Contains(msg, "web browser"):
			return cfg.fault(connerr.Blocked, err, "The provider refused crmsync for sending (%s). Create an app password for crmsync, or enable SMTP authentication for this mailbox, then try again.", te.Msg)
		case te.Code == 535 || te.Code == 534 || te.Code == 530 && strings.Contains(msg, "auth"):
			return cfg.fault(connerr.Auth, err, "Incorrect password (or username) for the SMTP server %s.", cfg.Host)
		case te.Code == 421 || te.Code == 454 || te.Code == 452:
			return cfg.fault(connerr.Throttled, err, "The SMTP server is busy (%s).", te.Msg)
		}
		return cfg.fault(connerr.Protocol, err, "The SMTP server %s answered: %d %s", cfg.Host, te.Code, te.Msg)
	}
	if e := portcheck.TLSMismatch(err, portcheck.SMTP, cfg.addr()); e != nil {
		return e
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) || strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") {
		return cfg.fault(connerr.TLS, err, "A secure connection to %s:%d failed (%v). Check the port and security setting, or the server's certificate.", cfg.Host, cfg.Port, err)
	}
	return cfg.fault(connerr.Unreachable, err, "Cannot reach the SMTP server %s:%d: check the host and port.", cfg.Host, cfg.Port)
}
