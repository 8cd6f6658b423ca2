package accounts

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Switching modes (DESIGN §8). A mailbox is one account whatever its mode:
// switching keeps its id, its messages (synced ones and the Dropbox
// folder's forwarded ones) and every link. Going to forwarding mode stops
// the sync loop (crm.MailAccount.Reconnects sees the mode change) and
// keeps the servers and credentials, so that switching back needs only
// the password; going back to sync mode logs in first, like a connection.

// toForward puts an account in forwarding mode: the dropbox address it had
// before, else a new one.
func toForward(x *crm.MailAccount) {
	if x.DropboxToken == "" {
		x.DropboxToken = newDropboxToken()
	}
	x.Mode, x.State = crm.ModeForward, crm.StateSynced
	if x.Provider == "imap" || x.Provider == "" {
		x.Provider = dropboxProvider
	}
}

// toSync puts an account in sync mode; the caller sets its servers,
// credential and state.
func toSync(x *crm.MailAccount) {
	x.Mode = crm.ModeSync
	if x.Provider == dropboxProvider || x.Provider == "" {
		x.Provider = "imap"
	}
}

// switchMode switches the connected mailbox a to req.Mode.
func (s *Service) switchMode(ctx context.Context, v crm.Viewer, a crm.MailAccount, req MailAccountModificationRequest) (crm.MailAccount, error) {
	if err := req.Validate(); err != nil {
		return a, err
	}
	if *req.Mode == crm.ModeForward {
		return s.switchToForward(ctx, v, a, req)
	}
	return s.switchToSync(ctx, v, a, req)
}

func (s *Service) switchToForward(ctx context.Context, v crm.Viewer, a crm.MailAccount, req MailAccountModificationRequest) (crm.MailAccount, error) {
	if s.dropbox == "" {
		return a, &FieldError{Code: CodeForwardingDisabled, Field: "mode",
			Message: "Forwarding mode is not enabled on this server: an administrator must run the inbound mail server. The mailbox stays in sync mode."}
	}
	for _, f := range []struct {
		field string
		given bool
	}{{"password", req.Password != nil}, {"imap", req.IMAP != nil}, {"smtp", req.SMTP != nil || req.RemoveSMTP}, {"allow_plaintext", req.AllowPlaintext != nil}} {
		if f.given {
			return a, invalid(f.field, "A forwarding-mode mailbox has no %s: crmsync stops logging in to it and receives the mail you forward. Leave %s out to switch; its servers are kept for switching back.", f.field, f.field)
		}
	}
	out, err := s.st.UpdateMailAccount(ctx, v, a.ID, func(x *crm.MailAccount) error {
		if x.DisconnectedAt != nil {
			return conflict("", "%s was disconnected meanwhile. Connect it again in forwarding mode instead.", x.Email)
		}
		toForward(x)
		x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
		return nil
	})
	if err != nil {
		return out, err
	}
	n, err := s.storedMessages(ctx, a.ID)
	if err != nil {
		return out, err
	}
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "mode", Message: fmt.Sprintf(
		"Switched to forwarding mode: the sync stopped and mail forwarded to the dropbox address is stored here. The %s are kept; switching back to sync needs only the password.",
		messagesAndLinks(n, ""))})
	return out, nil
}

func (s *Service) switchToSync(ctx context.Context, v crm.Viewer, a crm.MailAccount, req MailAccountModificationRequest) (crm.MailAccount, error) {
	if err := s.MailEnabled(); err != nil {
		return a, err
	}
	if req.Password == nil {
		return a, required("password", "password is required to switch to sync mode: crmsync logs in to the mailbox before syncing it.")
	}
	if a.Settings.IMAP == nil {
		// Never synced: its servers are found as for a new mailbox.
		allow := req.AllowPlaintext != nil && *req.AllowPlaintext
		if allow && !v.CanAdminister() {
			return a, forbidden("Only an admin can allow a plain-text login (allow_plaintext).")
		}
		st, err := s.mailSettings(ctx, v, MailConnectionRequest{IMAP: req.IMAP, SMTP: req.SMTP, AllowPlaintext: allow}, a.Email)
		if err != nil {
			return a, err
		}
		a.Settings = st
		smtpPW := SMTPPassword(req.SMTP)
		req.IMAP, req.SMTP, req.AllowPlaintext = nil, nil, nil
		if smtpPW != "" { // the server found above, with its own password
			req.SMTP = &ServerSettingsRequest{Password: smtpPW}
		}
	}
	patched, p, err := s.patchMail(v, a, req)
	if err != nil {
		return a, err
	}
	credID := a.CredentialID
	if credID == "" {
		credID = newCredentialID()
	}
	if err := s.verifyMail(ctx, v, patched.Settings, p); err != nil {
		return a, err
	}
	if err := s.sealMail(ctx, v.OrgID, credID, p); err != nil {
		return a, err
	}
	before := a
	out, err := s.st.UpdateMailAccount(ctx, v, a.ID, func(x *crm.MailAccount) error {
		if x.DisconnectedAt != nil {
			return conflict("", "%s was disconnected meanwhile. Connect it again in sync mode instead.", x.Email)
		}
		toSync(x)
		x.Settings, x.CredentialID = patched.Settings, credID
		x.State, x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
		return nil
	})
	if err != nil {
		return out, err
	}
	s.dropOwnSMTP(ctx, v.OrgID, before, out)
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "mode", Message: fmt.Sprintf(
		"Switched to sync mode (%s:%d): the synced messages already here and their links are kept.",
		patched.Settings.IMAP.Host, patched.Settings.IMAP.Port)})
	s.waker.WakeMail(a.ID)
	return out, nil
}
