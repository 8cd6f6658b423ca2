package imapsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/mail"
)

// Real refusals, as providers send them, replayed through go-imap's parser
// by the scripted server: at LOGIN (phase login) or to the first command
// after it (Verify's LIST). Sources: the providers' replies quoted in client
// bug trackers (MailKit, imapflow, node-imap, offlineimap, imap_tools,
// wildduck, mutt-wizard, S22.Imap, enough_mail) and Dovecot 2.3's sources.
func TestClassifyServerResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		afterLogin bool   // sent to the command after a successful LOGIN
		reply      string // tagged reply, without the tag
		extra      string // untagged line after it, if any
		kind       mail.ErrorKind
		retryAfter time.Duration
		mention    string // the user message must contain this
	}{
		// Gmail
		{name: "gmail/wrong password", reply: "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", kind: mail.KindAuth, mention: "Incorrect password"},
		{name: "gmail/alert invalid credentials", reply: "NO [ALERT] Invalid credentials (Failure)", kind: mail.KindAuth, mention: "Incorrect password"},
		{name: "gmail/app password required", reply: "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)", kind: mail.KindBlocked, mention: "app password"},
		{name: "gmail/web browser", reply: "NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)", kind: mail.KindBlocked, mention: "app password"},
		{name: "gmail/webalert", reply: "NO [WEBALERT https://accounts.google.com/ContinueSignIn?sarp=1&scc=1&plt=AKgnsbsxyz] Web login required.", kind: mail.KindBlocked, mention: "Web login required"},
		{name: "gmail/imap disabled", reply: "NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings page and enable your account for IMAP access. (Failure)", kind: mail.KindBlocked, mention: "enable"},
		{name: "gmail/too many connections", reply: "NO [ALERT] Too many simultaneous connections. (Failure)", kind: mail.KindThrottled},
		{name: "gmail/bandwidth", reply: "NO [ALERT] Account exceeded command or bandwidth limits. (Failure)", kind: mail.KindThrottled},
		// Microsoft 365 / Outlook.com
		{name: "outlook/wrong password", reply: "NO LOGIN failed.", kind: mail.KindAuth, mention: "Incorrect password"},
		{name: "outlook/authenticate failed", reply: "NO AUTHENTICATE failed.", kind: mail.KindAuth},
		{name: "outlook/imap off", afterLogin: true, reply: "BAD User is authenticated but not connected.", kind: mail.KindBlocked, mention: "enable IMAP"},
		{name: "outlook/throttled", afterLogin: true, reply: "BAD Request is throttled. Suggested Backoff Time: 89117 milliseconds", extra: "* BYE Connection closed. 14", kind: mail.KindThrottled, retryAfter: 89117 * time.Millisecond},
		{name: "outlook/throttled NO", afterLogin: true, reply: "NO Request is throttled. Suggested Backoff Time: 299910 milliseconds", kind: mail.KindThrottled, retryAfter: 299910 * time.Millisecond},
		// Yahoo
		{name: "yahoo/wrong password", reply: "NO [AUTHENTICATIONFAILED] LOGIN Invalid credentials", kind: mail.KindAuth, mention: "app password"},
		// Dovecot
		{name: "dovecot/wrong password", reply: "NO [AUTHENTICATIONFAILED] Authentication failed.", kind: mail.KindAuth},
		{name: "dovecot/tempfail", reply: "NO [UNAVAILABLE] Temporary authentication failure. [mail.example.org:2025-01-02 10:11:12]", kind: mail.KindThrottled},
		{name: "dovecot/userip limit", reply: "NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=16)", kind: mail.KindThrottled},
		{name: "dovecot/plaintext disallowed", reply: "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.", kind: mail.KindTLS},
		{name: "dovecot/alert policy", reply: "NO [ALERT] country blocked", kind: mail.KindBlocked},
		{name: "dovecot/limit", afterLogin: true, reply: "NO [LIMIT] Too many mailboxes", kind: mail.KindThrottled},
		{name: "dovecot/server bug", afterLogin: true, reply: "NO [SERVERBUG] Internal error occurred. Refer to server log for more information. [2025-01-02 10:11:12]", kind: mail.KindProtocol},
		{name: "dovecot/bad command", reply: "BAD Error in IMAP command LOGIN: Invalid arguments.", kind: mail.KindProtocol},
		// RFC 5530 codes from any server
		{name: "rfc5530/expired", reply: "NO [EXPIRED] Password expired", kind: mail.KindAuth},
		{name: "rfc5530/unavailable later", afterLogin: true, reply: "NO [UNAVAILABLE] Backend down", kind: mail.KindThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := startFake(t, func(f *fakeConn) {
				f.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready")
				answer := func(f *fakeConn, tag, _ string) {
					f.send(tag + " " + tt.reply)
					if tt.extra != "" {
						f.send(tt.extra)
					}
				}
				h := handlers{"LOGIN": answer}
				if tt.afterLogin {
					h["LOGIN"] = func(f *fakeConn, tag, _ string) { f.send(tag + " OK [CAPABILITY " + fakeCaps + "] Logged in") }
					h["LIST"] = answer
				}
				f.serve(h)
			})
			cfg := fakeConfig(port)
			cfg.Host = "localhost"
			err := Verify(context.Background(), cfg)
			var me *mail.Error
			if !errors.As(err, &me) {
				t.Fatalf("Verify = %v (%T), want *mail.Error", err, err)
			}
			if me.Kind != tt.kind {
				t.Errorf("kind = %s, want %s (%v)", me.Kind, tt.kind, err)
			}
			if me.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", me.RetryAfter, tt.retryAfter)
			}
			if tt.mention != "" && !strings.Contains(me.Message, tt.mention) {
				t.Errorf("message %q does not mention %q", me.Message, tt.mention)
			}
			var ie *imap.Error
			if !errors.As(err, &ie) {
				t.Errorf("the server's reply is not in the chain: %v", err)
			}
		})
	}
}

// The same NO means a wrong password at login and something else later.
func TestClassifyPhase(t *testing.T) {
	t.Parallel()
	k := classifier{host: "imap.example.org", user: "ann"}
	no := &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Something went wrong"}
	if got := mail.KindOf(k.classify(no, phaseLogin, "login")); got != mail.KindAuth {
		t.Errorf("NO at login: %s, want auth", got)
	}
	if got := mail.KindOf(k.classify(no, phaseCommand, "SELECT x")); got != mail.KindProtocol {
		t.Errorf("NO after login: %s, want protocol", got)
	}
	alert := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlert, Text: "Mailbox over quota"}
	if got := mail.KindOf(k.classify(alert, phaseCommand, "APPEND")); got != mail.KindProtocol {
		t.Errorf("ALERT after login: %s, want protocol", got)
	}
	bye := &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	if got := mail.KindOf(k.classify(bye, phaseConnect, "the greeting")); got != mail.KindUnreachable {
		t.Errorf("BYE greeting: %s, want unreachable", got)
	}
	oauth := classifier{host: "imap.gmail.com", user: "ann", oauth: true}
	if e := oauth.classify(&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials (Failure)"}, phaseLogin, "login"); !strings.Contains(e.(*mail.Error).Message, "token") {
		t.Errorf("OAuth refusal message %q does not talk about the token", e.(*mail.Error).Message)
	}
}

// Network errors, as net and go-imap produce them.
func TestClassifyNetworkErrors(t *testing.T) {
	t.Parallel()
	k := classifier{host: "imap.example.org"}
	tests := []struct {
		name string
		err  error
		ph   phase
		kind mail.ErrorKind
	}{
		{"dns", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "imap.example.org", IsNotFound: true}}, phaseConnect, mail.KindUnreachable},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}, phaseConnect, mail.KindUnreachable},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, phaseCommand, mail.KindUnreachable},
		{"eof", io.ErrUnexpectedEOF, phaseCommand, mail.KindUnreachable},
		{"go-imap decoder eof", errors.New("in response: cannot read tag: unexpected EOF"), phaseCommand, mail.KindUnreachable},
		{"go-imap before greeting", errors.New("connection closed before greeting"), phaseConnect, mail.KindUnreachable},
		{"closed", fmt.Errorf("write: %w", net.ErrClosed), phaseCommand, mail.KindUnreachable},
		{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, phaseCommand, mail.KindUnreachable},
		{"tls alert mid-session", errors.New("local error: tls: bad record MAC"), phaseCommand, mail.KindProtocol},
		{"other", errors.New("imapclient: something odd"), phaseCommand, mail.KindProtocol},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%w", context.DeadlineExceeded)}, phaseConnect, mail.KindUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.classify(tt.err, tt.ph, "x")
			if got := mail.KindOf(err); got != tt.kind {
				t.Errorf("classify(%v) = %s (%v), want %s", tt.err, got, err, tt.kind)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the cause is lost: %v", err)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
