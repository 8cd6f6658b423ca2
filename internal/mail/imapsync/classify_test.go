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

	"github.com/crmsync/crmsync/internal/connerr"
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
		kind       connerr.Kind
		retryAfter time.Duration
		mention    string // the user message must contain this
	}{
		// Gmail
		{name: "gmail/wrong password", reply: "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", kind: connerr.Auth, mention: "Incorrect password"},
		{name: "gmail/alert invalid credentials", reply: "NO [ALERT] Invalid credentials (Failure)", kind: connerr.Auth, mention: "Incorrect password"},
		{name: "gmail/app password required", reply: "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)", kind: connerr.Blocked, mention: "app password"},
		{name: "gmail/web browser", reply: "NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)", kind: connerr.Blocked, mention: "app password"},
		{name: "gmail/webalert", reply: "NO [WEBALERT https://accounts.google.com/ContinueSignIn?sarp=1&scc=1&plt=AKgnsbsxyz] Web login required.", kind: connerr.Blocked, mention: "app password"},
		{name: "gmail/imap disabled", reply: "NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings page and enable your account for IMAP access. (Failure)", kind: connerr.Blocked, mention: "enable"},
		{name: "gmail/too many connections", reply: "NO [ALERT] Too many simultaneous connections. (Failure)", kind: connerr.Throttled},
		{name: "gmail/bandwidth", reply: "NO [ALERT] Account exceeded command or bandwidth limits. (Failure)", kind: connerr.Throttled},
		// Microsoft 365 / Outlook.com
		{name: "outlook/wrong password", reply: "NO LOGIN failed.", kind: connerr.Auth, mention: "Incorrect password"},
		{name: "outlook/authenticate failed", reply: "NO AUTHENTICATE failed.", kind: connerr.Auth},
		{name: "outlook/imap off", afterLogin: true, reply: "BAD User is authenticated but not connected.", kind: connerr.Blocked, mention: "enable IMAP"},
		{name: "outlook/throttled", afterLogin: true, reply: "BAD Request is throttled. Suggested Backoff Time: 89117 milliseconds", extra: "* BYE Connection closed. 14", kind: connerr.Throttled, retryAfter: 89117 * time.Millisecond},
		{name: "outlook/throttled NO", afterLogin: true, reply: "NO Request is throttled. Suggested Backoff Time: 299910 milliseconds", kind: connerr.Throttled, retryAfter: 299910 * time.Millisecond},
		// Yahoo
		{name: "yahoo/wrong password", reply: "NO [AUTHENTICATIONFAILED] LOGIN Invalid credentials", kind: connerr.Auth, mention: "app password"},
		// Dovecot
		{name: "dovecot/wrong password", reply: "NO [AUTHENTICATIONFAILED] Authentication failed.", kind: connerr.Auth},
		{name: "dovecot/tempfail", reply: "NO [UNAVAILABLE] Temporary authentication failure. [mail.example.org:2025-01-02 10:11:12]", kind: connerr.Throttled},
		{name: "dovecot/userip limit", reply: "NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=16)", kind: connerr.Throttled},
		{name: "dovecot/plaintext disallowed", reply: "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.", kind: connerr.TLS},
		{name: "dovecot/alert policy", reply: "NO [ALERT] country blocked", kind: connerr.Blocked},
		{name: "dovecot/limit", afterLogin: true, reply: "NO [LIMIT] Too many mailboxes", kind: connerr.Throttled},
		{name: "dovecot/server bug", afterLogin: true, reply: "NO [SERVERBUG] Internal error occurred. Refer to server log for more information. [2025-01-02 10:11:12]", kind: connerr.Protocol},
		{name: "dovecot/bad command", reply: "BAD Error in IMAP command LOGIN: Invalid arguments.", kind: connerr.Protocol},
		// RFC 5530 codes from any server
		{name: "rfc5530/expired", reply: "NO [EXPIRED] Password expired", kind: connerr.Auth},
		{name: "rfc5530/unavailable later", afterLogin: true, reply: "NO [UNAVAILABLE] Backend down", kind: connerr.Throttled},
		{name: "rfc5530/overquota", afterLogin: true, reply: "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)", kind: connerr.Quota, mention: "over its quota"},
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
			var me *connerr.Error
			if !errors.As(err, &me) {
				t.Fatalf("Verify = %v (%T), want *connerr.Error", err, err)
			}
			if me.Kind != tt.kind {
				t.Errorf("kind = %s, want %s (%v)", me.Kind, tt.kind, err)
			}
			if me.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", me.RetryAfter, tt.retryAfter)
			}
			// The server is named apart, so the user knows whom to ask.
			if want := fmt.Sprintf("localhost:%d", port); me.Server != want {
				t.Errorf("Server = %q, want %q", me.Server, want)
			}
			if tt.mention != "" && !strings.Contains(me.Message, tt.mention) {
				t.Errorf("message %q does not mention %q", me.Message, tt.mention)
			}
			var ie *imap.Error
			if !errors.As(err, &ie) {
				t.Errorf("the server's reply is not in the chain: %v", err)
			}
			// The fake speaks without TLS: before the login succeeded, its
			// words are not repeated to the user (issue 10: a server's
			// words only after TLS or a login).
			if ie != nil && !tt.afterLogin && ie.Text != "" && strings.Contains(me.Message, ie.Text) {
				t.Errorf("message %q quotes the server before TLS or login", me.Message)
			}
		})
	}
}

// The same NO means a wrong password at login and something else later.
func TestClassifyPhase(t *testing.T) {
	t.Parallel()
	k := classifier{host: "imap.example.org", user: "ann", server: "imap.example.org:993"}
	no := &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Something went wrong"}
	if got := connerr.KindOf(k.classify(no, phaseLogin, "login")); got != connerr.Auth {
		t.Errorf("NO at login: %s, want auth", got)
	}
	if err := k.classify(no, phaseCommand, "SELECT x"); connerr.KindOf(err) != connerr.Protocol ||
		connerr.Message(err) != `imap.example.org refused SELECT x: "Something went wrong". (imap.example.org:993)` {
		t.Errorf("NO after login: %s %q, want protocol", connerr.KindOf(err), connerr.Message(err))
	}
	alert := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlert, Text: "Mailbox over quota"}
	if got := connerr.KindOf(k.classify(alert, phaseCommand, "APPEND")); got != connerr.Protocol {
		t.Errorf("ALERT after login: %s, want protocol", got)
	}
	bye := &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	if got := connerr.KindOf(k.classify(bye, phaseConnect, "the greeting")); got != connerr.Unreachable {
		t.Errorf("BYE greeting: %s, want unreachable", got)
	}
	oauth := classifier{host: "imap.gmail.com", user: "ann", oauth: true}
	if e := oauth.classify(&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials (Failure)"}, phaseLogin, "login"); !strings.Contains(e.(*connerr.Error).Message, "token") {
		t.Errorf("OAuth refusal message %q does not talk about the token", e.(*connerr.Error).Message)
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
		kind connerr.Kind
	}{
		{"dns", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "imap.example.org", IsNotFound: true}}, phaseConnect, connerr.Unreachable},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}, phaseConnect, connerr.Unreachable},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, phaseCommand, connerr.Unreachable},
		{"eof", io.ErrUnexpectedEOF, phaseCommand, connerr.Unreachable},
		{"go-imap decoder eof", errors.New("in response: cannot read tag: unexpected EOF"), phaseCommand, connerr.Unreachable},
		{"go-imap before greeting", errors.New("connection closed before greeting"), phaseConnect, connerr.Unreachable},
		{"closed", fmt.Errorf("write: %w", net.ErrClosed), phaseCommand, connerr.Unreachable},
		{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, phaseCommand, connerr.Unreachable},
		{"tls alert mid-session", errors.New("local error: tls: bad record MAC"), phaseCommand, connerr.Protocol},
		{"other", errors.New("imapclient: something odd"), phaseCommand, connerr.Protocol},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%w", context.DeadlineExceeded)}, phaseConnect, connerr.Unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.classify(tt.err, tt.ph, "x")
			if got := connerr.KindOf(err); got != tt.kind {
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
