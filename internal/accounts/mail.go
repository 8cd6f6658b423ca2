package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// MailConnectionRequest asks to connect a mailbox.
type MailConnectionRequest struct {
	Email    string
	Password string       // sync mode only
	Mode     crm.MailMode // default sync
	UserID   *int64       // the owner; default the viewer
	// IMAP and SMTP are servers given by hand; without IMAP they come
	// from the organisation's mail service, else from autoconfiguration
	// (and SMTP given alone replaces the one discovered). Reconnecting a
	// retained mailbox keeps its stored servers unless new ones are
	// given. An SMTP server with a password of its own has it in
	// SMTP.Password (alone, for the stored server of a retained mailbox).
	IMAP, SMTP *ServerSettingsRequest
	// AllowPlaintext lets the password travel unencrypted to a non-local
	// server; admins only.
	AllowPlaintext bool
}

// dropboxProvider is the provider of forwarding-mode accounts.
const dropboxProvider = "dropbox"

// ConnectMail connects a mailbox. In sync mode it logs in before saving
// anything, and the password is stored sealed; in forward mode there is
// nothing to log in to and the account gets a dropbox address. An address
// the owner disconnected and whose messages are still retained is
// reattached rather than created: reattached is true, the id is the same,
// every message and link is kept.
func (s *Service) ConnectMail(ctx context.Context, v crm.Viewer, req MailConnectionRequest) (a crm.MailAccount, reattached bool, err error) {
	email, err := crm.NormalizeEmail(req.Email)
	if err != nil {
		if strings.TrimSpace(req.Email) == "" {
			return a, false, required("email", "email is required: the address of the mailbox to connect.")
		}
		return a, false, invalid("email", "email %s.", err)
	}
	mode := req.Mode
	if mode == "" {
		mode = crm.ModeSync
	}
	switch mode {
	case crm.ModeSync, crm.ModeForward:
	default:
		return a, false, invalid("mode", "mode must be sync (two-way synchronisation) or forward.")
	}
	ownerID, err := owner(v, req.UserID, "mailbox")
	if err != nil {
		return a, false, err
	}
	if mode == crm.ModeForward {
		return s.connectForward(ctx, v, req, email, ownerID)
	}
	return s.connectSync(ctx, v, req, email, ownerID)
}

func (s *Service) connectSync(ctx context.Context, v crm.Viewer, req MailConnectionRequest, email string, ownerID int64) (a crm.MailAccount, reattached bool, err error) {
	if err := s.MailEnabled(); err != nil {
		return a, false, err
	}
	if req.AllowPlaintext && !v.CanAdminister() {
		return a, false, forbidden("Only an admin can allow a plain-text login (allow_plaintext).")
	}
	if req.Password == "" {
		return a, false, required("password", "password is required: the mailbox password (or an app password if your provider asks for one).")
	}
	retained, err := s.reconnectable(ctx, v, ownerID, email)
	if err != nil {
		return a, false, err
	}
	settings, err := s.connectionSettings(ctx, v, req, email, retained)
	if err != nil {
		return a, false, err
	}
	p := mailPasswords{mailbox: req.Password, smtp: SMTPPassword(req.SMTP)}
	if err := checkSMTPPassword(settings, p); err != nil {
		return a, false, err
	}
	if err := CheckPlaintext(settings); err != nil {
		return a, false, err
	}
	if err := s.verifyMail(ctx, v, settings, p); err != nil {
		return a, false, err // the connector's error, for the front end to show
	}
	if retained != nil {
		a, err = s.reattachSync(ctx, v, *retained, settings, p)
		return a, err == nil, err
	}
	credID := newCredentialID()
	if err := s.sealMail(ctx, v.OrgID, credID, p); err != nil {
		s.forgetMail(ctx, v.OrgID, credID)
		return a, false, err
	}
	a, err = s.st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: ownerID, Email: email, Provider: "imap", Mode: crm.ModeSync,
		Settings: settings, CredentialID: credID, State: crm.StateConnecting})
	if err != nil {
		s.forgetMail(ctx, v.OrgID, credID)
		if isDuplicate(err) {
			return a, false, alreadyConnected(email, crm.ModeSync)
		}
		return a, false, err
	}
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "connected",
		Message: fmt.Sprintf("Connected %s (%s:%d, settings from %s).", email, settings.IMAP.Host, settings.IMAP.Port, settings.Source)})
	return a, false, nil
}

// mailSettings are the servers of a new mailbox: given by hand, else the
// organisation's mail service, else what autoconfiguration finds.
func (s *Service) mailSettings(ctx context.Context, v crm.Viewer, req MailConnectionRequest, email string) (crm.MailSettings, error) {
	settings := crm.MailSettings{AllowPlaintext: req.AllowPlaintext}
	svc, err := s.st.MailService(ctx, v.OrgID)
	if err != nil {
		return settings, err
	}
	switch {
	case passwordOnly(req.SMTP):
		return settings, required("smtp.host", "smtp.host is required with smtp.password: the SMTP server that password logs in to.")
	case req.IMAP != nil:
		settings.Source = "manual"
		if settings.IMAP, err = IMAPSettings("imap", req.IMAP, email); err != nil {
			return settings, err
		}
		if settings.SMTP, err = SMTPSettings("smtp", req.SMTP, email); err != nil {
			return settings, err
		}
	case svc != nil:
		settings.Source = "org"
		settings.IMAP, settings.SMTP = WithUser(svc.IMAP, email), WithUser(svc.SMTP, email)
		settings.AllowPlaintext = settings.AllowPlaintext || svc.AllowPlaintext
		if req.SMTP != nil {
			if settings.SMTP, err = SMTPSettings("smtp", req.SMTP, email); err != nil {
				return settings, err
			}
		}
	default:
		d, err := s.mail.Discover(ctx, email)
		if errors.Is(err, ErrSettingsNotFound) {
			return settings, &FieldError{Code: CodeSettingsNotFound, Field: "imap",
				Message: "No server settings could be found for " + email + ". Enter them by hand: imap.host, imap.port, imap.security (and smtp to send)."}
		}
		if err != nil {
			return settings, err
		}
		settings.Source, settings.IMAP, settings.SMTP = d.Source, d.IMAP, d.SMTP
		if req.SMTP != nil {
			if settings.SMTP, err = SMTPSettings("smtp", req.SMTP, email); err != nil {
				return settings, err
			}
		}
	}
	if settings.IMAP == nil {
		return settings, &FieldError{Code: CodeSettingsNotFound, Field: "imap", Message: "No IMAP server is known for " + email + ". Enter imap.host, imap.port and imap.security."}
	}
	return settings, nil
}

// alreadyConnected refuses an address the user has connected.
func alreadyConnected(email string, mode crm.MailMode) *Error {
	if mode == crm.ModeForward {
		return conflict("email", "%s is already connected for this user.", email)
	}
	return conflict("email", "%s is already connected for this user. To change its password or settings, edit that mailbox instead.", email)
}

// Forwarding mode (DESIGN §7): the user forwards or BCCs mail to a
// personal dropbox address, <token>@DropboxDomain, received by the
// inbound SMTP server.

// newDropboxToken returns the local part of a dropbox address: 160 random
// bits, base32 in lower case (32 characters), so that the address cannot
// be guessed and survives mail systems that fold case.
func newDropboxToken() string {
	var b [20]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// connectForward connects a mailbox in forwarding mode: no password, no
// servers, nothing to sync; the account waits for forwarded mail.
func (s *Service) connectForward(ctx context.Context, v crm.Viewer, req MailConnectionRequest, email string, ownerID int64) (a crm.MailAccount, reattached bool, err error) {
	if s.dropbox == "" {
		return a, false, &FieldError{Code: CodeForwardingDisabled, Field: "mode",
			Message: "Forwarding mode is not enabled on this server: an administrator must run the inbound mail server (crmsync serve --smtp … --dropbox-domain …). Connect the mailbox in sync mode meanwhile."}
	}
	for _, f := range []struct {
		field string
		given bool
	}{{"password", req.Password != ""}, {"imap", req.IMAP != nil}, {"smtp", req.SMTP != nil}, {"allow_plaintext", req.AllowPlaintext}} {
		if f.given {
			return a, false, invalid(f.field, "A forwarding-mode mailbox has no %s: crmsync never logs in to it, it receives the mail you forward. Leave %s out, or use mode sync.", f.field, f.field)
		}
	}
	retained, err := s.reconnectable(ctx, v, ownerID, email)
	if err != nil {
		return a, false, err
	}
	if retained != nil {
		// The dropbox address stays the same, so that the user's
		// forwarding rules work again as they are. A mailbox disconnected
		// in sync mode comes back in forwarding mode with its messages,
		// links and servers (to switch back).
		a, err = s.reattach(ctx, v, *retained, toForward)
		return a, err == nil, err
	}
	a, err = s.st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: ownerID, Email: email, Provider: dropboxProvider, Mode: crm.ModeForward,
		State: crm.StateSynced, DropboxToken: newDropboxToken()})
	if err != nil {
		if isDuplicate(err) {
			return a, false, alreadyConnected(email, crm.ModeForward)
		}
		return a, false, err
	}
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "connected",
		Message: fmt.Sprintf("Connected %s in forwarding mode: mail forwarded or BCC'd from it to its dropbox address is stored here.", email)})
	return a, false, nil
}

// MailAccountModificationRequest changes a sync-mode mailbox's password
// or servers ("reconnect after incorrect password"). Nil fields stay as
// they are.
type MailAccountModificationRequest struct {
	Password *string
	IMAP     *ServerSettingsRequest
	// SMTP is a new SMTP server, with its own password in SMTP.Password
	// (without one it shares the mailbox's); an SMTP given with only a
	// password keeps the stored server and gives it that password.
	SMTP           *ServerSettingsRequest
	RemoveSMTP     bool // no SMTP server any more: the mailbox syncs but cannot send
	AllowPlaintext *bool
	// Mode switches the mailbox between sync and forward (ModeSwitch);
	// nil or its current mode changes nothing.
	Mode *crm.MailMode
}

// servers returns the servers the request sets, validated for an account
// of address email.
func (r *MailAccountModificationRequest) servers(email string) (imap, smtp *crm.ServerSettings, err error) {
	if imap, err = IMAPSettings("imap", r.IMAP, email); err != nil {
		return nil, nil, err
	}
	if passwordOnly(r.SMTP) {
		return imap, nil, nil
	}
	if smtp, err = SMTPSettings("smtp", r.SMTP, email); err != nil {
		return nil, nil, err
	}
	return imap, smtp, nil
}

// Validate checks the values of the request; the errors name the field.
// It does not look at the account (whether a password is needed, whether
// the caller may allow plain text): UpdateMail does.
func (r *MailAccountModificationRequest) Validate() error {
	if _, _, err := r.servers(""); err != nil {
		return err
	}
	if r.Password != nil && *r.Password == "" {
		return required("password", "password cannot be empty.")
	}
	if r.Mode != nil && *r.Mode != crm.ModeSync && *r.Mode != crm.ModeForward {
		return invalid("mode", "mode must be sync (two-way synchronisation) or forward.")
	}
	return nil
}

// Patch applies the request's settings to a: only the fields given
// change. Call it on a valid request (Validate); an invalid server is
// left out.
func (r *MailAccountModificationRequest) Patch(a *crm.MailAccount) {
	imap, smtp, _ := r.servers(a.Email)
	if imap != nil {
		a.Settings.IMAP, a.Settings.Source = imap, "manual"
	}
	switch {
	case r.RemoveSMTP:
		a.Settings.SMTP = nil
	case smtp != nil:
		a.Settings.SMTP = smtp
	case passwordOnly(r.SMTP):
		a.Settings.SMTP = withOwnPassword(a.Settings.SMTP)
	}
	if r.AllowPlaintext != nil {
		a.Settings.AllowPlaintext = *r.AllowPlaintext
	}
}

// passwords are the request's new passwords.
func (r *MailAccountModificationRequest) passwords() mailPasswords {
	var p mailPasswords
	if r.Password != nil {
		p.mailbox = *r.Password
	}
	p.smtp = SMTPPassword(r.SMTP)
	return p
}

// needsPassword reports whether the request changes a server that logs
// in with the mailbox's password, which is then needed to log in with
// before saving. An SMTP server with its own password needs only that.
func (r *MailAccountModificationRequest) needsPassword() bool {
	return r.IMAP != nil || r.RemoveSMTP || (r.SMTP != nil && r.SMTP.Password == "")
}

// UpdateMail changes a mailbox's passwords, servers or mode. A new
// password is verified by logging in with the new settings before
// anything is saved (only the servers it opens: a new SMTP password
// alone logs in to SMTP); the account then reconnects at once. A new
// password alone keeps the stored servers. A mode change is ModeSwitch's.
func (s *Service) UpdateMail(ctx context.Context, v crm.Viewer, id int64, req MailAccountModificationRequest) (crm.MailAccount, error) {
	a, err := s.st.GetMailAccount(ctx, v, id)
	if err != nil {
		return a, err
	}
	if err := mayAct(v, a.UserID, "change the settings of", a.Email); err != nil {
		return a, err
	}
	if a.DisconnectedAt != nil {
		return a, conflict("", "%s is disconnected. Connect it again with the same address (and its password, in sync mode) to resume with every message and link kept.", a.Email)
	}
	if k := crm.PIMKind(a.Provider); k.SignedIn() {
		return a, signedInMailPatch(a, k, req)
	}
	if req.Mode != nil && *req.Mode != a.Mode {
		return s.switchMode(ctx, v, a, req)
	}
	if a.Mode == crm.ModeForward {
		return a, conflict("", "%s is in forwarding mode: it has no password or servers to change. Mail reaches it by forwarding to its dropbox address; to sync it instead, switch its mode to sync with its password.", a.Email)
	}
	if err := s.MailEnabled(); err != nil {
		return a, err
	}
	patched, p, err := s.patchMail(v, a, req)
	if err != nil {
		return a, err
	}
	if p.mailbox == "" && req.needsPassword() {
		return a, required("password", "Give the password with new server settings: crmsync logs in with them before saving.")
	}
	credID := a.CredentialID
	if credID == "" {
		credID = newCredentialID()
	}
	if p != (mailPasswords{}) {
		if err := s.verifyMail(ctx, v, patched.Settings, p); err != nil {
			return a, err
		}
		if err := s.sealMail(ctx, v.OrgID, credID, p); err != nil {
			return a, err
		}
	}
	before := a
	a, err = s.st.UpdateMailAccount(ctx, v, id, func(x *crm.MailAccount) error {
		if x.DisconnectedAt != nil { // disconnected meanwhile
			return conflict("", "%s was disconnected meanwhile. Connect it again to resume its sync.", x.Email)
		}
		x.Settings, x.CredentialID = patched.Settings, credID
		// Try again now: the user has acted.
		x.State, x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
		return nil
	})
	if err != nil {
		return a, err
	}
	s.dropOwnSMTP(ctx, v.OrgID, before, a)
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "settings", Message: "Credentials or settings updated; reconnecting."})
	return a, nil
}

// signedInMailPatch refuses what cannot change on a mailbox signed in
// with a provider: it has no password or servers (the provider's API is
// reached with its token set), and its mode is sync. It names the field
// and says what to do instead; a request that changes nothing is nil.
func signedInMailPatch(a crm.MailAccount, k crm.PIMKind, req MailAccountModificationRequest) error {
	name := providerName(k)
	for _, f := range []struct {
		field string
		given bool
	}{{"password", req.Password != nil}, {"imap", req.IMAP != nil}, {"smtp", req.SMTP != nil || req.RemoveSMTP}, {"allow_plaintext", req.AllowPlaintext != nil}} {
		if f.given {
			return invalid(f.field, "%s was connected by signing in with %s: it has no %s to change. If %s no longer lets crmsync in, sign in with %s again; the mailbox keeps its messages and links.", a.Email, name, f.field, name, name)
		}
	}
	if req.Mode != nil && *req.Mode != a.Mode {
		return invalid("mode", "%s syncs through %s. To receive it by forwarding instead, disconnect it (its messages and links are kept for the retention period), then connect the address in forwarding mode.", a.Email, name)
	}
	return nil
}

// patchMail validates req for the sync-mode account a and returns a with
// the request applied, and the request's new passwords.
func (s *Service) patchMail(v crm.Viewer, a crm.MailAccount, req MailAccountModificationRequest) (crm.MailAccount, mailPasswords, error) {
	p := req.passwords()
	if _, _, err := req.servers(a.Email); err != nil {
		return a, p, err
	}
	if req.AllowPlaintext != nil && !v.CanAdminister() {
		return a, p, forbidden("Only an admin can allow a plain-text login (allow_plaintext).")
	}
	patched := a
	req.Patch(&patched)
	if err := CheckPlaintext(patched.Settings); err != nil {
		return a, p, err
	}
	if err := req.Validate(); err != nil {
		return a, p, err
	}
	if err := checkSMTPPassword(patched.Settings, p); err != nil {
		return a, p, err
	}
	return patched, p, nil
}

// SyncMailNow asks for a sync of a connected mailbox now: this process's
// loop of the account, if it runs one, starts at once.
func (s *Service) SyncMailNow(ctx context.Context, v crm.Viewer, id int64) (crm.MailAccount, error) {
	a, err := s.st.GetMailAccount(ctx, v, id)
	if err != nil {
		return a, err
	}
	if err := mayAct(v, a.UserID, "sync", a.Email); err != nil {
		return a, err
	}
	if a.DisconnectedAt != nil {
		return a, conflict("", "%s is disconnected: nothing is synced. Connect it again to resume its sync.", a.Email)
	}
	if a.Mode == crm.ModeForward {
		return a, conflict("", "%s is in forwarding mode: its mail arrives when it is forwarded, there is nothing to fetch.", a.Email)
	}
	// An account waiting out a failure is due at once: the next scan of any
	// process starts its loop. A loop already running (waiting for news)
	// in this process is woken; in another, it looks at its next poll.
	if now := s.now(); a.NextAttemptAt != nil && a.NextAttemptAt.After(now) {
		if a, err = s.st.UpdateMailAccount(ctx, v, id, func(m *crm.MailAccount) error { m.NextAttemptAt = &now; return nil }); err != nil {
			return a, err
		}
	}
	s.waker.WakeMail(a.ID)
	return a, nil
}
