// Package accounts is the life of mail and PIM (address book, calendar)
// accounts: connecting one (a real login before anything is saved, the
// password sealed, an account disconnected but still retained reattached
// rather than created again), changing its credentials, settings or
// options, asking for a sync now, and disconnecting it.
//
// It is the one place these workflows live, so that every front end (the
// REST API today, the web UI tomorrow) only decodes a request, calls the
// Service and shows the answer. Its errors are typed: *FieldError for a
// value refused, *Error (ErrConflict, ErrConfirmationRequired,
// ErrForbidden, ErrUnavailable) for a request refused, the store's
// ErrNotFound, and a connector's own error, unchanged, when the server
// refused the login. Purging expired accounts is the maintenance job's
// (store.PurgeExpiredAccounts), not this package's.
package accounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// MailConnector is what connecting a mailbox needs of the outside world:
// server discovery, a real login and sealing the password.
type MailConnector interface {
	// Discover finds server settings for an address; ErrSettingsNotFound
	// when there are none.
	Discover(ctx context.Context, email string) (Discovery, error)
	// Verify logs in to IMAP with imapPassword and to SMTP (when set)
	// with smtpPassword; an empty password skips its server (its
	// password does not change). Failures are *connerr.Error with a kind.
	Verify(ctx context.Context, s crm.MailSettings, imapPassword, smtpPassword string) error
	// Probe checks servers without logging in (reachable, TLS, speaks
	// IMAP or SMTP): for settings no password goes with yet, such as the
	// organisation's mail service. Failures are *connerr.Error.
	Probe(ctx context.Context, s crm.MailSettings) error
	// Seal encrypts a password bound to the credential id.
	Seal(credentialID string, password []byte) ([]byte, error)
}

// Discovery is what autoconfiguration found for an address.
type Discovery struct {
	IMAP     *crm.ServerSettings `json:"imap"`
	SMTP     *crm.ServerSettings `json:"smtp"`
	Source   string              `json:"source"`
	Provider string              `json:"provider,omitempty"`
	Detail   string              `json:"detail,omitempty"`
	// Auth is what the servers accept: password, app_password or oauth.
	Auth string `json:"auth,omitempty"`
	// SignIn is the provider whose sign-in connects this mailbox instead
	// of IMAP ("google", "microsoft"); the API keeps it only when the
	// organisation has registered that provider's app.
	SignIn string `json:"sign_in,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// ErrSettingsNotFound is what Discover returns when nothing is found.
var ErrSettingsNotFound = errors.New("api: no mail server settings found")

// PIMConnector is what connecting an address book or calendar server
// needs: a real login, with discovery of the address books and calendars,
// and sealing the password.
type PIMConnector interface {
	// Verify logs in to the server and returns the collections an account
	// of kind can sync (Kind "contacts", "events" or "tasks"). Failures are
	// *dav.Error: auth_failed, unreachable, throttled, tls_error, protocol,
	// or no_collections when the server has nothing to sync.
	Verify(ctx context.Context, kind crm.PIMKind, url, username, password string) ([]store.PIMCollection, error)
	// Seal encrypts a password bound to the credential id.
	Seal(credentialID string, password []byte) ([]byte, error)
}

// Waker tells this process's sync loops that an account has work now (it
// was connected, changed or asked to sync), so it runs at once rather
// than at its next poll. Loops in other processes see it at their next
// poll.
type Waker interface {
	WakeMail(accountID int64)
	WakePIM(accountID int64)
}

// Config is what a Service needs. Only Store is required.
type Config struct {
	Store store.Store
	// Mail connects mailboxes in sync mode; without it they cannot be
	// connected or changed (forwarding mode needs none).
	Mail MailConnector
	// PIM connects CardDAV and CalDAV servers; without it PIM accounts
	// cannot be connected, changed or synced now.
	PIM   PIMConnector
	Waker Waker            // default: wakes nothing
	Now   func() time.Time // default time.Now
	// Retention is how long a disconnected mailbox's messages and links
	// are kept (and it may be reconnected with all of them). Default
	// DefaultRetention.
	Retention time.Duration
	// DropboxDomain is the domain of forwarding-mode dropboxes; empty,
	// no forwarding-mode mailbox can be connected.
	DropboxDomain string
	Logger        *slog.Logger // default slog.Default()
	// Attempts limits the logins crmsync makes for a caller (connecting
	// an account, changing its password), so that it cannot be used to
	// guess passwords. Share the front end's limiter; default: one of
	// the service's own with limit.DefaultPolicy.
	Attempts *limit.Limiter
}

// DefaultRetention is Config.Retention's default.
const DefaultRetention = 30 * 24 * time.Hour

// Service runs the workflows of accounts. It is safe for concurrent use.
type Service struct {
	st        store.Store
	mail      MailConnector
	pim       PIMConnector
	waker     Waker
	now       func() time.Time
	retention time.Duration
	dropbox   string
	log       *slog.Logger
	attempts  *limit.Limiter
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, mail: cfg.Mail, pim: cfg.PIM, waker: cfg.Waker, now: cfg.Now,
		retention: cfg.Retention, dropbox: cfg.DropboxDomain, log: cfg.Logger, attempts: cfg.Attempts}
	if s.waker == nil {
		s.waker = noWaker{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.attempts == nil {
		s.attempts = limit.New(limit.DefaultPolicy, s.now)
	}
	return s
}

type noWaker struct{}

func (noWaker) WakeMail(int64) {}
func (noWaker) WakePIM(int64)  {}

// MailEnabled returns ErrUnavailable when the server cannot connect
// mailboxes in sync mode; front ends ask before reading a request.
func (s *Service) MailEnabled() error {
	if s.mail == nil {
		return &Error{Kind: ErrUnavailable, Message: "Mail is not enabled on this server."}
	}
	return nil
}

// PIMEnabled returns ErrUnavailable when the server cannot connect
// address books and calendars.
func (s *Service) PIMEnabled() error {
	if s.pim == nil {
		return &Error{Kind: ErrUnavailable, Message: "Contact and calendar sync (CardDAV, CalDAV) is not enabled on this server."}
	}
	return nil
}

// Credential purposes.
const (
	purposeMail = "mail_password"
	purposeSMTP = "smtp_password" // an SMTP server's own (crm.SMTPCredentialOf)
	purposePIM  = "pim_password"
)

func newCredentialID() string {
	var b [16]byte
	rand.Read(b[:])
	return "cred_" + hex.EncodeToString(b[:])
}

// storePassword seals password with seal, bound to credID, and stores it
// as the organisation's credential of purpose.
func (s *Service) storePassword(ctx context.Context, orgID int64, credID, purpose, password string, seal func(string, []byte) ([]byte, error)) error {
	sealed, err := seal(credID, []byte(password))
	if err != nil {
		return err
	}
	return s.st.PutCredential(ctx, store.Credential{ID: credID, OrgID: orgID, Purpose: purpose, Ciphertext: sealed})
}

// forgetPassword deletes a credential nothing refers to any more (an
// account whose creation failed after it was stored, or one deleted).
func (s *Service) forgetPassword(ctx context.Context, orgID int64, credID string) error {
	err := s.st.DeleteCredential(context.WithoutCancel(ctx), orgID, credID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// owner is the user an account is connected for: the viewer, or another
// user when an admin asks. what ends the refusal ("mailbox").
func owner(v crm.Viewer, userID *int64, what string) (int64, error) {
	if userID == nil {
		return v.UserID, nil
	}
	if *userID <= 0 {
		return 0, invalid("user_id", "user_id must be a positive id, as returned in the id field of a record.")
	}
	if *userID != v.UserID && !v.CanAdminister() {
		return 0, forbidden("You can connect only your own %s. An admin can connect one for another user.", what)
	}
	return *userID, nil
}
