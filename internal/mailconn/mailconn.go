// Package mailconn connects stored mail accounts to their servers: it
// opens an account's sealed credential, dials the provider's connector
// (IMAP today) and parses what it fetches. The API uses it to verify a
// login before saving and to fetch attachments on demand; the sync loops
// use it to dial and parse.
//
// It is wiring, not protocol: every protocol lives in its own package
// (mail/imapsync, mail/smtpout, mail/mimeparse, autoconfig) and knows
// nothing of storage or keys.
package mailconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/crmsync/crmsync/internal/autoconfig"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/imapsync"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/mail/smtpout"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Connector reaches the mail servers of stored accounts.
type Connector struct {
	Credentials store.Credentials
	Keys        *secret.Keyring
	Discoverer  *autoconfig.Discoverer
	// Guard is the network guard every IMAP and SMTP connection goes
	// through (package netguard); nil allows public addresses only, so a
	// user's manual settings cannot reach loopback or the internal
	// network. crmsync passes the operator's --private-hosts.
	Guard *netguard.Guard
	// TLSConfig is the base TLS configuration (tests set RootCAs).
	TLSConfig *tls.Config
	Logger    *slog.Logger
	// ParseOptions bound bodies and kept attachments (nil: defaults).
	ParseOptions *mimeparse.Options
	// Cloud builds the clients of mailboxes signed in with a provider
	// (Microsoft); nil, they cannot be dialled.
	Cloud *cloudconn.Clients
	// GraphPush says how Microsoft mailboxes learn of new mail
	// (notifications or polling).
	GraphPush GraphPush
	// GooglePush says how Gmail mailboxes learn of new mail (push through
	// Pub/Sub or polling).
	GooglePush GooglePush
}

func (c *Connector) imapConfig(s *crm.ServerSettings, password string, allowPlain bool) imapsync.Config {
	return imapsync.Config{Host: s.Host, Port: s.Port, Security: s.Security, Username: s.Username, Password: password,
		TLSConfig: c.TLSConfig, AllowPlaintext: allowPlain, Logger: c.Logger, Dial: c.Guard.DialContext}
}

// Verify logs in to IMAP with imapPassword, and to SMTP (when set) with
// smtpPassword, so that an account is saved only with settings that work.
// An empty password skips its server: the one whose password does not
// change is not logged in to again. The SMTP server may have a password
// of its own (crm.ServerSettings.OwnPassword); the caller chooses which
// password each server gets.
func (c *Connector) Verify(ctx context.Context, s crm.MailSettings, imapPassword, smtpPassword string) error {
	return c.check(ctx, s, imapPassword != "", smtpPassword != "", imapPassword, smtpPassword, imapsync.Verify, smtpout.Verify)
}

// check runs the IMAP check, then the SMTP one when a server is set (each
// when asked), and says which server failed.
func (c *Connector) check(ctx context.Context, s crm.MailSettings, doIMAP, doSMTP bool, imapPassword, smtpPassword string,
	imapCheck func(context.Context, imapsync.Config) error, smtpCheck func(context.Context, smtpout.Config) error) error {
	if doIMAP {
		if s.IMAP == nil {
			return &connerr.Error{Kind: connerr.Protocol, Message: "No IMAP server is set."}
		}
		if err := imapCheck(ctx, c.imapConfig(s.IMAP, imapPassword, s.AllowPlaintext)); err != nil {
			return err
		}
	}
	if s.SMTP != nil && doSMTP {
		err := smtpCheck(ctx, c.smtpConfig(s, smtpPassword))
		if me := connerr.As(err); me != nil {
			// Say which server failed: the IMAP one worked.
			cp := *me
			cp.Message = "Sending (SMTP): " + me.Message
			return &cp
		}
		return err
	}
	return nil
}

func (c *Connector) smtpConfig(s crm.MailSettings, password string) smtpout.Config {
	return smtpout.Config{Host: s.SMTP.Host, Port: s.SMTP.Port, Security: s.SMTP.Security, Username: s.SMTP.Username,
		Password: password, TLSConfig: c.TLSConfig, AllowPlaintext: s.AllowPlaintext, Dial: c.Guard.DialContext}
}

// Seal encrypts a password bound to its credential id.
func (c *Connector) Seal(credentialID string, password []byte) ([]byte, error) {
	return c.Keys.Seal(password, secret.CredentialAD(credentialID))
}

// password opens an account's credential credID (the mailbox's, or its
// SMTP server's own).
func (c *Connector) password(ctx context.Context, a crm.MailAccount, credID string) (string, error) {
	if credID == "" {
		return "", &connerr.Error{Kind: connerr.Auth, Message: "No password is stored for this mailbox. Enter it again to reconnect."}
	}
	cred, err := c.Credentials.GetCredential(ctx, a.OrgID, credID)
	if err != nil {
		return "", fmt.Errorf("mailconn: reading credential of account %d: %w", a.ID, err)
	}
	pt, err := c.Keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		// A key problem is the operator's to fix, not the user's: say so.
		return "", &connerr.Error{Kind: connerr.Protocol, Err: err,
			Message: "The stored password cannot be decrypted with this server's keys. An administrator must restore the secret key (CRMSYNC_SECRET_KEY or the key file)."}
	}
	return string(pt), nil
}

// Dial connects to an account's mailbox: its IMAP server, Microsoft Graph
// for an account signed in with Microsoft, Gmail for one signed in with
// Google.
func (c *Connector) Dial(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error) {
	switch a.Provider {
	case microsoft:
		return c.dialGraph(ctx, a)
	case google:
		return c.dialGoogle(ctx, a)
	}
	if a.Settings.IMAP == nil {
		return nil, &connerr.Error{Kind: connerr.Protocol, Message: "No IMAP server is set for this mailbox. Add its settings."}
	}
	pw, err := c.password(ctx, a, a.CredentialID)
	if err != nil {
		return nil, err
	}
	conn, err := imapsync.Dial(ctx, c.imapConfig(a.Settings.IMAP, pw, a.Settings.AllowPlaintext))
	if err != nil {
		return nil, err
	}
	return imapsync.NewMailbox(conn), nil
}

// Parse parses one raw message into the mail model.
func (c *Connector) Parse(r io.Reader) (*mail.Message, error) {
	m, _, err := mimeparse.Parse(r, c.ParseOptions)
	return m, err
}

// MaxAttachmentBytes bounds one attachment fetched on demand from a
// provider that serves attachments alone: Graph takes attachments up to
// 150 MB (reference §6.5).
const MaxAttachmentBytes = 150 << 20

// Attachment streams one attachment of an email, fetched again from the
// server, into w: alone when the connector can (mail.AttachmentFetcher),
// else cut from the whole message. Nothing is written to w unless the
// message was found.
func (c *Connector) Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error {
	if a.Mode == crm.ModeForward {
		// A forwarded message has no server copy to fetch again.
		return &connerr.Error{Kind: connerr.Protocol, Message: "The attachments of forwarded messages are listed but not kept by this server; open the message in your mailbox to get them."}
	}
	if e.Folder == "" {
		return &connerr.Error{Kind: connerr.Protocol, Message: "This message is no longer in a folder on the server, so its attachment cannot be fetched."}
	}
	mb, err := c.Dial(ctx, a)
	if err != nil {
		return err
	}
	defer mb.Close()
	if af, ok := mb.(mail.AttachmentFetcher); ok {
		// The provider serves attachments alone: no need for the whole
		// message (which may have been cut at its size limit).
		found, err := af.FetchAttachment(ctx, e.Folder, mail.ID(e.RemoteID), e.Attachments, index, MaxAttachmentBytes, w)
		if found || err != nil {
			return err
		}
	}
	found := false
	err = mb.Fetch(ctx, e.Folder, []mail.ID{mail.ID(e.RemoteID)}, func(m *mail.Fetched) error {
		found = true
		_, err := mimeparse.Attachment(m.Body, index, w)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		srv := ""
		if a.Settings.IMAP != nil {
			srv = server(a.Settings.IMAP)
		}
		return &connerr.Error{Kind: connerr.Gone, Server: srv,
			Message: "The message is no longer on the server under the number crmsync knows (it was moved, deleted, or its folder renumbered); try again after the next sync."}
	}
	return nil
}

// server names a server in failures: "host:port".
func server(s *crm.ServerSettings) string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Discover finds server settings for an address.
func (c *Connector) Discover(ctx context.Context, email string) (autoconfig.Result, error) {
	d := c.Discoverer
	if d == nil {
		d = &autoconfig.Discoverer{Guard: c.Guard}
	}
	return d.Discover(ctx, email)
}

// Settings converts an autoconfig server to stored settings.
func Settings(s *autoconfig.Server) *crm.ServerSettings {
	if s == nil {
		return nil
	}
	return &crm.ServerSettings{Host: s.Host, Port: s.Port, Security: string(s.Security), Username: s.Username}
}
