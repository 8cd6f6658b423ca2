package imapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/portcheck"
)

// This file decides, once, what kind of failure an error is (DESIGN §5):
// the user sees the Message, the sync loop reacts to the Kind. The server
// texts matched below are the ones real providers send; classify_test.go
// replays them through go-imap's parser.

// phase is where in the session an error happened: the same reply means
// different things at login and later (a NO to LOGIN is a wrong password,
// a NO to SELECT is not).
type phase int

const (
	phaseConnect phase = iota // TCP, TLS handshake, greeting, STARTTLS
	phaseLogin                // LOGIN / AUTHENTICATE
	phaseCommand              // anything after login
)

// Server texts, lower-cased, matched as substrings.
var (
	// The provider refuses this kind of client: the user must create an app
	// password or switch IMAP on.
	blockedTexts = []string{
		"application-specific password",   // Gmail: NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)
		"app password",                    // generic wording
		"log in via your web browser",     // Gmail: NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)
		"web login required",              // Gmail: NO [WEBALERT https://accounts.google.com/...] Web login required.
		"not enabled for imap",            // Gmail: NO [ALERT] Your account is not enabled for IMAP use. ...
		"imap access is disabled",         // generic wording
		"imap is disabled",                // generic wording
		"imap access disabled",            // generic wording
		"authenticated but not connected", // Microsoft 365: BAD User is authenticated but not connected.
		"less secure app",                 // older Google/Yahoo wording
	}
	// Too many connections or requests: retry later.
	throttleTexts = []string{
		"too many simultaneous connections", // Gmail: NO [ALERT] Too many simultaneous connections. (Failure)
		"too many connections",              // generic wording
		"maximum number of connections",     // Dovecot: NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)
		"request is throttled",              // Microsoft 365: BAD Request is throttled. Suggested Backoff Time: 89117 milliseconds
		"[throttled]",                       // Gmail appends [THROTTLED] to replies
		"bandwidth limits",                  // Gmail: NO [ALERT] Account exceeded command or bandwidth limits. (Failure)
		"rate limit",                        // generic wording
	}
	// A wrong user name or password (or a revoked token).
	authTexts = []string{
		"invalid credentials",   // Gmail, Yahoo: NO [AUTHENTICATIONFAILED] LOGIN Invalid credentials
		"authentication failed", // Dovecot: NO [AUTHENTICATIONFAILED] Authentication failed.
		"login failed",          // Microsoft 365: NO LOGIN failed.
		"authenticate failed",   // Microsoft 365: NO AUTHENTICATE failed.
		"incorrect password",    // generic wording
		"invalid password",      // generic wording
	}
	// Microsoft 365 says how long to wait.
	backoffRe = regexp.MustCompile(`(?i)backoff time:\s*(\d+)\s*milliseconds`)
)

// classifier carries what the messages need to name.
type classifier struct {
	host, user string
	server     string // host:port, the Server of every failure
	oauth      bool
	// plain: no TLS, so the server has not proved who it is; its words
	// are quoted only once it accepted the login (see response).
	plain bool
}

func newClassifier(cfg *Config) classifier {
	return classifier{host: cfg.Host, user: cfg.Username, server: cfg.addr(), oauth: cfg.OAuth2Token != "",
		plain: cfg.Security == SecurityNone}
}

// fault is a classified failure of this session's server.
func (k classifier) fault(kind connerr.Kind, err error, format string, args ...any) *connerr.Error {
	return &connerr.Error{Kind: kind, Server: k.server, Message: fmt.Sprintf(format, args...), Err: err}
}

// classify turns any error into a *connerr.Error; what names the command for
// the message ("SELECT Sent"). The caller's own context ending is told
// apart before (Conn.fail): a dial timeout is also a
// context.DeadlineExceeded, but the server's fault.
func (k classifier) classify(err error, ph phase, what string) error {
	if err == nil {
		return nil
	}
	if connerr.As(err) != nil {
		return err
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return k.response(ie, ph, what)
	}
	if ph == phaseConnect {
		if e := k.tlsError(err); e != nil {
			return e
		}
	}
	if e := k.netError(err, ph); e != nil {
		return e
	}
	return k.fault(connerr.Protocol, err, "Unexpected error from %s during %s.", k.host, what)
}

// response classifies a NO, BAD or BYE from the server (RFC 3501 §7.1,
// response codes from RFC 5530).
func (k classifier) response(ie *imap.Error, ph phase, what string) *connerr.Error {
	text := strings.ToLower(ie.Text)
	code := strings.ToUpper(string(ie.Code))
	said := strings.TrimSpace(ie.Text)
	if said == "" || (k.plain && ph != phaseCommand) {
		// Without TLS and before a login, whatever listens on the port the
		// user typed could be answering: classify by its words, but do
		// not repeat them (crmsync must not read internal services back
		// to the user).
		said = string(ie.Type)
	}
	e := k.fault(connerr.Protocol, ie, "%s refused %s: %q.", k.host, what, said)
	switch {
	case code == "LIMIT" || code == "UNAVAILABLE" || code == "THROTTLED" || containsAny(text, throttleTexts):
		e.Kind = connerr.Throttled
		e.Message = fmt.Sprintf("%s is limiting connections or requests (%q).", k.host, said)
		if m := backoffRe.FindStringSubmatch(ie.Text); m != nil {
			if ms, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				e.RetryAfter = time.Duration(ms) * time.Millisecond
			}
		}
	case containsAny(text, blockedTexts):
		e.Kind = connerr.Blocked
		e.Message = k.blockedMessage(said)
	case code == "OVERQUOTA":
		// RFC 5530 §3: the mailbox is full; no retry helps until the
		// user makes room.
		e.Kind = connerr.Quota
		e.Message = fmt.Sprintf("%s says the mailbox is over its quota (%q). Delete or archive some mail, then crmsync will carry on.", k.host, said)
	case code == "PRIVACYREQUIRED":
		e.Kind = connerr.TLS
		e.Message = fmt.Sprintf("%s requires an encrypted connection (%q): choose TLS or STARTTLS.", k.host, said)
	case code == "AUTHENTICATIONFAILED" || code == "AUTHORIZATIONFAILED" || code == "EXPIRED" || containsAny(text, authTexts):
		e.Kind = connerr.Auth
		e.Message = k.authMessage(said)
	case code == "WEBALERT" || (code == "ALERT" && ph == phaseLogin):
		// RFC 3501 §7.1: ALERT text must be shown to the user; at login it
		// is a refusal that no retry will fix.
		e.Kind = connerr.Blocked
		e.Message = k.blockedMessage(said)
	case ph == phaseLogin && ie.Type == imap.StatusResponseTypeNo:
		e.Kind = connerr.Auth
		e.Message = k.authMessage(said)
	case ie.Type == imap.StatusResponseTypeBye:
		e.Kind = connerr.Unreachable
		e.Message = fmt.Sprintf("%s closed the connection (%q).", k.host, said)
	}
	return e
}

func (k classifier) authMessage(said string) string {
	if k.oauth {
		return fmt.Sprintf("%s refused the sign-in token for %s (%q): it expired or was revoked. Connect the account again.", k.host, k.user, said)
	}
	return fmt.Sprintf("Incorrect password (or username) for %s on %s (%q). Check them; if your provider requires it, use an app password.", k.user, k.host, said)
}

func (k classifier) blockedMessage(said string) string {
	h := strings.ToLower(k.host)
	var how string
	switch {
	case strings.Contains(h, "gmail") || strings.Contains(h, "google"):
		how = "Create an app password at https://myaccount.google.com/apppasswords (needs 2-Step Verification) and use it instead of your Google password."
	case strings.Contains(h, "office365") || strings.Contains(h, "outlook") || strings.Contains(h, "hotmail") || strings.Contains(h, "live.com"):
		how = "Ask your administrator to enable IMAP for this mailbox, and sign in with an app password or with Microsoft."
	case strings.Contains(h, "yahoo") || strings.Contains(h, "aol."):
		how = "Generate an app password in your Yahoo account security settings and use it instead of your password."
	default:
		how = "Create an app password for crmsync, or enable IMAP access, in your mail account's settings, then try again."
	}
	return fmt.Sprintf("%s refused access for this app: %q. %s", k.host, said, how)
}

// tlsError classifies certificate and handshake failures.
func (k classifier) tlsError(err error) *connerr.Error {
	var (
		unknown   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		roots     x509.SystemRootsError
		alert     tls.AlertError
		verifyErr *tls.CertificateVerificationError
	)
	if e := portcheck.TLSMismatch(err, portcheck.IMAP, k.server); e != nil {
		return e
	}
	msg := ""
	switch {
	case errors.As(err, &unknown):
		msg = fmt.Sprintf("The certificate of %s is not signed by a trusted authority (self-signed or private CA).", k.host)
	case errors.As(err, &hostErr):
		msg = fmt.Sprintf("The certificate of %s is not valid for the name %q (%v): check the server name.", k.host, hostErr.Host, hostErr.Error())
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			msg = fmt.Sprintf("The certificate of %s has expired or is not yet valid (check this machine's clock too).", k.host)
		default:
			msg = fmt.Sprintf("The certificate of %s is invalid: %v.", k.host, invalid.Error())
		}
	case errors.As(err, &roots):
		msg = "This machine has no trusted certificate authorities to check the server's certificate."
	case errors.As(err, &verifyErr):
		msg = fmt.Sprintf("The certificate of %s could not be verified: %v.", k.host, verifyErr.Err)
	case errors.As(err, &alert):
		msg = fmt.Sprintf("The TLS handshake with %s failed: %v.", k.host, alert.Error())
	case strings.HasPrefix(err.Error(), "tls:") || strings.Contains(err.Error(), " tls: "):
		msg = fmt.Sprintf("The TLS handshake with %s failed: %v.", k.host, err)
	default:
		return nil
	}
	return k.fault(connerr.TLS, err, "%s", msg)
}

// netError classifies network failures: all transient.
func (k classifier) netError(err error, ph phase) *connerr.Error {
	e := k.fault(connerr.Unreachable, err, "")
	var dns *net.DNSError
	var ne net.Error
	s := err.Error()
	switch {
	case errors.As(err, &dns):
		e.Message = fmt.Sprintf("Cannot find the server %s (DNS lookup failed).", k.host)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Message = fmt.Sprintf("%s refused the connection: is the port right and the server up?", k.host)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		e.Message = fmt.Sprintf("No route to %s: check the network.", k.host)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || strings.Contains(s, "i/o timeout"):
		e.Message = fmt.Sprintf("%s did not answer in time.", k.host)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) ||
		// go-imap formats decoder errors with %v: only the text is left.
		strings.Contains(s, "EOF") || strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "use of closed network connection") || strings.Contains(s, "connection closed"):
		if ph == phaseConnect {
			e.Message = fmt.Sprintf("%s closed the connection before the session started.", k.host)
		} else {
			e.Message = fmt.Sprintf("The connection to %s was lost.", k.host)
		}
	default:
		if errors.As(err, &ne) {
			e.Message = fmt.Sprintf("Network error talking to %s.", k.host)
			return e
		}
		return nil
	}
	return e
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
