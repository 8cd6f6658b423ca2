// Package accountstest has fakes of the connectors the accounts service
// and the API call, for their tests: no network, one good password,
// hosts that fail the way real servers do, and sealing that a test can
// undo to check what was stored.
package accountstest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/crmsync/crmsync/internal/connerr"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
)

// GoodPassword is the password the fakes accept unless told otherwise.
const GoodPassword = "correct horse battery staple"

// Mail is a mail connector without a network: every server accepts one
// password, some hosts fail the way real ones do, discovery knows a few
// domains, and attachments are made up from the message.
type Mail struct {
	// FailHost: Verify fails with this for a host. Set it before use.
	FailHost map[string]*connerr.Error

	mu       sync.Mutex
	password string                        // the password every server accepts
	smtpPass string                        // SMTP's, when set apart (SetSMTPPassword)
	found    map[string]accounts.Discovery // by domain
	verified []VerifyCall
	discover []string // addresses Discover was asked about

	// Attachment failures: attErr is returned after attErrAfter bytes of
	// the content (0: before writing anything).
	attErr      error
	attErrAfter int
	attCalls    []AttCall
}

// VerifyCall is one call of Mail.Verify.
type VerifyCall struct {
	Settings     crm.MailSettings
	Password     string // IMAP's; "" when IMAP was not logged in to
	SMTPPassword string // "" when SMTP was not logged in to
}

// AttCall is one call of Mail.Attachment.
type AttCall struct {
	AccountID, EmailID int64
	Index              int
}

// NewMail returns a Mail that accepts GoodPassword, discovers acme.test
// (IMAP and SMTP), gmail.com (IMAP and SMTP, or Google's sign-in) and
// nosmtp.test (IMAP only), and fails for the hosts
// blocked.example, badcert.example, down.example, busy.example and
// odd.example.
func NewMail() *Mail {
	return &Mail{
		password: GoodPassword,
		found: map[string]accounts.Discovery{
			"acme.test": {
				IMAP:   &crm.ServerSettings{Host: "imap.acme.test", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"},
				SMTP:   &crm.ServerSettings{Host: "smtp.acme.test", Port: 465, Security: "tls", Username: "%EMAILADDRESS%"},
				Source: "autoconfig-xml", Provider: "acme", Detail: "From https://autoconfig.acme.test/mail/config-v1.1.xml",
			},
			"gmail.com": {
				IMAP:   &crm.ServerSettings{Host: "imap.gmail.com", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"},
				SMTP:   &crm.ServerSettings{Host: "smtp.gmail.com", Port: 465, Security: "tls", Username: "%EMAILADDRESS%"},
				Source: "builtin", Provider: "gmail", Auth: "app_password", SignIn: "google",
				Hint: "Google does not accept your usual password from mail apps: sign in with Google, or use IMAP with an app password.",
			},
			"nosmtp.test": {
				IMAP:   &crm.ServerSettings{Host: "imap.nosmtp.test", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"},
				Source: "srv",
			},
		},
		FailHost: map[string]*connerr.Error{
			"blocked.example": {Kind: connerr.Blocked, Message: "The provider refused this app: create an app password, or enable IMAP access in your account settings."},
			"badcert.example": {Kind: connerr.TLS, Message: "The server's certificate is not valid for badcert.example."},
			"down.example":    {Kind: connerr.Unreachable, Message: "down.example:993 could not be reached (connection refused)."},
			"busy.example":    {Kind: connerr.Throttled, Message: "The provider limits connections; try again in a few minutes."},
			"odd.example":     {Kind: connerr.Protocol, Message: "The server answered something unexpected to LOGIN."},
		},
	}
}

// SetSMTPPassword makes the SMTP servers accept p and no longer the
// mailbox's password: an SMTP server with a password of its own.
func (f *Mail) SetSMTPPassword(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.smtpPass = p
}

// SetPassword changes the password the servers accept.
func (f *Mail) SetPassword(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = p
}

// Discover finds the settings of the domains NewMail lists.
func (f *Mail) Discover(ctx context.Context, email string) (accounts.Discovery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discover = append(f.discover, email)
	_, domain, _ := strings.Cut(email, "@")
	d, ok := f.found[domain]
	if !ok {
		return accounts.Discovery{}, accounts.ErrSettingsNotFound
	}
	// Like the real discoverer, usernames come expanded.
	for _, s := range []**crm.ServerSettings{&d.IMAP, &d.SMTP} {
		if *s != nil {
			c := **s
			c.Username = strings.ReplaceAll(c.Username, "%EMAILADDRESS%", email)
			*s = &c
		}
	}
	return d, nil
}

// Discovered returns the addresses Discover was asked about.
func (f *Mail) Discovered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.discover)
}

// Verify fails for the hosts of FailHost, and for a password other than
// the one set (SMTP's own when SetSMTPPassword set one). A server whose
// password is "" is not logged in to, as the real connector does.
func (f *Mail) Verify(ctx context.Context, s crm.MailSettings, imapPassword, smtpPassword string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified = append(f.verified, VerifyCall{Settings: s, Password: imapPassword, SMTPPassword: smtpPassword})
	smtpWant := f.password
	if f.smtpPass != "" {
		smtpWant = f.smtpPass
	}
	for _, x := range []struct {
		srv       *crm.ServerSettings
		got, want string
	}{{s.IMAP, imapPassword, f.password}, {s.SMTP, smtpPassword, smtpWant}} {
		if x.srv == nil || x.got == "" {
			continue
		}
		if e, ok := f.FailHost[x.srv.Host]; ok {
			return e
		}
		if x.got != x.want {
			return &connerr.Error{Kind: connerr.Auth, Message: "The server says the password for " + x.srv.Username + " is incorrect."}
		}
	}
	return nil
}

// Probe fails for the hosts of FailHost; it needs no password.
func (f *Mail) Probe(ctx context.Context, s crm.MailSettings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, srv := range []*crm.ServerSettings{s.IMAP, s.SMTP} {
		if srv == nil {
			continue
		}
		if e, ok := f.FailHost[srv.Host]; ok {
			return e
		}
	}
	return nil
}

// LastVerify returns the last call of Verify.
func (f *Mail) LastVerify(t testing.TB) VerifyCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verified) == 0 {
		t.Fatal("Verify was never called")
	}
	return f.verified[len(f.verified)-1]
}

// VerifyCount counts the calls of Verify.
func (f *Mail) VerifyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verified)
}

// Seal seals as the package's Seal does.
func (f *Mail) Seal(credentialID string, password []byte) ([]byte, error) {
	return Seal(credentialID, password), nil
}

// sealPrefix marks the fakes' ciphertexts; the password bytes after it
// are scrambled so that a test can tell a sealed password from a plain
// one.
const sealPrefix = "fake-sealed:"

// Seal is the fakes' sealing: bound to the credential id, the password
// unreadable as it is.
func Seal(credentialID string, password []byte) []byte {
	out := []byte(sealPrefix + credentialID + ":")
	for _, c := range password {
		out = append(out, c^0x5a)
	}
	return out
}

// Unseal undoes Seal, failing the test if ct is not bound to
// credentialID.
func Unseal(t testing.TB, credentialID string, ct []byte) string {
	t.Helper()
	rest, ok := bytes.CutPrefix(ct, []byte(sealPrefix+credentialID+":"))
	if !ok {
		t.Fatalf("ciphertext %q is not bound to credential %s", ct, credentialID)
	}
	out := make([]byte, len(rest))
	for i, c := range rest {
		out[i] = c ^ 0x5a
	}
	return string(out)
}

// AttachmentContent is what the fake streams for attachment n of e.
func AttachmentContent(e crm.Email, n int) string {
	return fmt.Sprintf("content of attachment %d of %q\n", n, e.Subject)
}

// SetAttachmentError makes Attachment fail with err after writing after
// bytes of the content (0: before writing anything); nil: succeed.
func (f *Mail) SetAttachmentError(err error, after int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attErr, f.attErrAfter = err, after
}

// AttachmentCalls returns the calls of Attachment.
func (f *Mail) AttachmentCalls() []AttCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attCalls)
}

// Attachment streams AttachmentContent, or fails as SetAttachmentError
// asked.
func (f *Mail) Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error {
	f.mu.Lock()
	f.attCalls = append(f.attCalls, AttCall{AccountID: a.ID, EmailID: e.ID, Index: index})
	attErr, after := f.attErr, f.attErrAfter
	f.mu.Unlock()
	content := AttachmentContent(e, index)
	if attErr != nil {
		if after > 0 {
			_, _ = io.WriteString(w, content[:min(after, len(content))])
		}
		return attErr
	}
	_, err := io.WriteString(w, content)
	return err
}
