package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Disconnect, retention and reconnect (DESIGN §8). Disconnecting needs an
// explicit confirmation of what will be lost. The account then stays, in
// state disconnected, with its folders and their cursors, its messages,
// their links and its credential, until retained_until (Retention after
// the disconnection). Connecting the same address for the same user
// before then reattaches that account; after it, the maintenance job
// (store.PurgeExpiredAccounts, run by one process under a lease) deletes
// it with everything it held.

// day formats a retention date for people.
func day(t time.Time) string { return t.UTC().Format("2 January 2006") }

// messagesAndLinks says "3 retained messages and their links" (adj
// "retained"), in the singular for one.
func messagesAndLinks(n int64, adj string) string {
	if adj != "" {
		adj += " "
	}
	if n == 1 {
		return "1 " + adj + "message and its links"
	}
	return fmt.Sprintf("%d %smessages and their links", n, adj)
}

// storedMessages counts an account's stored messages.
func (s *Service) storedMessages(ctx context.Context, accountID int64) (int64, error) {
	counts, err := s.st.FolderCounts(ctx, accountID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// DisconnectRequest asks to disconnect a mailbox.
type DisconnectRequest struct {
	// ConfirmDataLoss is the user's yes to what DisconnectMail refuses
	// with otherwise: the messages and links will be deleted once the
	// retention ends.
	ConfirmDataLoss bool
	// By names who disconnects, for the account's history.
	By string
}

// DisconnectMail stops a mailbox's sync and starts its retention. Without
// ConfirmDataLoss it changes nothing and returns an ErrConfirmationRequired
// *Error that says what would be lost and until when it can be restored.
// A mailbox already disconnected is returned as it is, its retention date
// the one set at the disconnection.
func (s *Service) DisconnectMail(ctx context.Context, v crm.Viewer, id int64, req DisconnectRequest) (crm.MailAccount, error) {
	a, err := s.disconnectMail(ctx, v, id, req)
	if err == nil && a.DisconnectedAt != nil {
		s.unwatch(ctx, a)
	}
	return a, err
}

// mailUnwatcher is a MailConnector that deletes a mailbox's push
// subscription or stops its watch (mailconn's, for Graph and Gmail).
type mailUnwatcher interface {
	Unwatch(ctx context.Context, a crm.MailAccount) error
}

// unwatchTimeout bounds deleting a subscription at the provider.
const unwatchTimeout = 15 * time.Second

// unwatch deletes a disconnected mailbox's subscription, so that its
// provider notifies crmsync no more. A failure is only logged: the
// subscription lapses by itself within days, and its notifications, for
// an account that no longer syncs, are ignored meanwhile. Asked again for
// a mailbox already disconnected, it tries again.
func (s *Service) unwatch(ctx context.Context, a crm.MailAccount) {
	u, ok := s.mail.(mailUnwatcher)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unwatchTimeout)
	defer cancel()
	if err := u.Unwatch(ctx, a); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "deleting a disconnected mailbox's notification subscription failed; it lapses by itself",
			slog.Int64("account", a.ID), slog.Any("err", err))
	}
}

func (s *Service) disconnectMail(ctx context.Context, v crm.Viewer, id int64, req DisconnectRequest) (crm.MailAccount, error) {
	a, err := s.st.GetMailAccount(ctx, v, id)
	if err != nil {
		return a, err
	}
	if err := mayAct(v, a.UserID, "disconnect", a.Email); err != nil {
		return a, err
	}
	if a.DisconnectedAt != nil {
		return a, nil
	}
	n, err := s.storedMessages(ctx, a.ID)
	if err != nil {
		return a, err
	}
	until := s.now().Add(s.retention)
	if !req.ConfirmDataLoss {
		what := "the sync of " + a.Email
		if a.Mode == crm.ModeForward {
			what = "the dropbox of " + a.Email + " (forwarded mail is no longer received)"
		}
		return a, &Error{Kind: ErrConfirmationRequired, Field: "confirm_data_loss", Message: fmt.Sprintf(
			"Disconnecting stops %s. Its %s stay visible until %s, then are deleted for good; reconnecting the same address before then restores everything. To disconnect, confirm that you accept losing them after that date.",
			what, messagesAndLinks(n, ""), day(until))}
	}
	disconnected := false
	a, err = s.st.UpdateMailAccount(ctx, v, id, func(x *crm.MailAccount) error {
		if x.DisconnectedAt != nil {
			return nil // disconnected meanwhile: keep that date
		}
		now := s.now()
		until = now.Add(s.retention)
		x.State, x.DisconnectedAt, x.RetainedUntil = crm.StateDisconnected, &now, &until
		x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
		disconnected = true
		return nil
	})
	if err != nil {
		return a, err
	}
	if disconnected {
		_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "disconnected", Message: fmt.Sprintf(
			"Disconnected by %s. The %s are kept until %s, then deleted; connecting %s again before then restores them.",
			req.By, messagesAndLinks(n, ""), day(until), a.Email)})
	}
	return a, nil
}

// findMailAccount returns the owner's account for an address, if v may
// see it (nil if there is none).
func (s *Service) findMailAccount(ctx context.Context, v crm.Viewer, owner int64, email string) (*crm.MailAccount, error) {
	f := store.MailAccountFilter{ListParams: store.ListParams{Q: email, Limit: store.MaxLimit}, UserID: &owner}
	for {
		page, err := s.st.ListMailAccounts(ctx, v, f)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Items {
			if a.Email == email {
				return &a, nil
			}
		}
		if page.NextCursor == "" {
			return nil, nil
		}
		f.Cursor = page.NextCursor
	}
}

// reconnectable looks for the owner's account for this address. None: nil,
// connect a new one. A disconnected one still retained, in either mode:
// that account, to reattach (in the mode asked). Anything else is refused
// (ErrConflict).
func (s *Service) reconnectable(ctx context.Context, v crm.Viewer, owner int64, email string) (*crm.MailAccount, error) {
	a, err := s.findMailAccount(ctx, v, owner, email)
	if err != nil || a == nil {
		return nil, err
	}
	if err := s.checkReattach(a); err != nil {
		return nil, err
	}
	return a, nil
}

// checkReattach says whether an existing account may be reattached. Its
// mode does not matter: a mailbox disconnected in one mode may come back
// in the other with its messages and links (DESIGN §8).
func (s *Service) checkReattach(a *crm.MailAccount) error {
	switch {
	case a.DisconnectedAt == nil:
		return alreadyConnected(a.Email, a.Mode)
	case a.RetainedUntil != nil && !a.RetainedUntil.After(s.now()):
		return conflict("email", "%s was disconnected and its retention ended on %s: its messages and links are being deleted. Connect it again once that deletion has run.",
			a.Email, day(*a.RetainedUntil))
	}
	return nil
}

// reattach brings a disconnected account back: the retention is cancelled
// and apply sets the new connection. The folders and their cursors, the
// messages and every link, manual ones included, are the account's still.
func (s *Service) reattach(ctx context.Context, v crm.Viewer, a crm.MailAccount, apply func(*crm.MailAccount)) (crm.MailAccount, error) {
	out, err := s.st.UpdateMailAccount(ctx, v, a.ID, func(x *crm.MailAccount) error {
		if err := s.checkReattach(x); err != nil { // changed meanwhile
			return err
		}
		x.DisconnectedAt, x.RetainedUntil = nil, nil
		x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
		apply(x)
		return nil
	})
	if err != nil {
		return out, err
	}
	n, err := s.storedMessages(ctx, a.ID)
	if err != nil {
		return out, err
	}
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "reconnected",
		Message: fmt.Sprintf("Reconnected; the %s are kept.", messagesAndLinks(n, "retained"))})
	return out, nil
}

// reattachSync reattaches an account in sync mode once the new passwords
// have been verified: they are sealed into the account's credentials and
// the sync resumes from the stored cursors (a mailbox disconnected in
// forwarding mode starts syncing, its forwarded mail kept).
func (s *Service) reattachSync(ctx context.Context, v crm.Viewer, a crm.MailAccount, settings crm.MailSettings, p mailPasswords) (crm.MailAccount, error) {
	credID, fresh := a.CredentialID, a.CredentialID == ""
	if fresh {
		credID = newCredentialID()
	}
	if err := s.sealMail(ctx, v.OrgID, credID, p); err != nil {
		return a, err
	}
	out, err := s.reattach(ctx, v, a, func(x *crm.MailAccount) {
		toSync(x)
		x.Settings, x.CredentialID, x.State = settings, credID, crm.StateConnecting
	})
	if err != nil {
		if fresh {
			s.forgetMail(ctx, v.OrgID, credID)
		}
		return out, err
	}
	s.dropOwnSMTP(ctx, v.OrgID, a, out)
	return out, nil
}

// connectionSettings are the servers of a mailbox being connected: a
// retained account's stored ones when it has them, so that reconnecting
// with only a new password keeps what worked (the organisation's mail
// service or autoconfiguration may say otherwise, or nothing of SMTP);
// servers the request gives replace them. A mailbox that never synced (it
// was in forwarding mode) gets its servers as a new one does.
func (s *Service) connectionSettings(ctx context.Context, v crm.Viewer, req MailConnectionRequest, email string, retained *crm.MailAccount) (crm.MailSettings, error) {
	if retained == nil || retained.Settings.IMAP == nil || req.IMAP != nil {
		return s.mailSettings(ctx, v, req, email)
	}
	st := retained.Settings
	if st.SMTP != nil && st.SMTP.OwnPassword && retained.CredentialID == "" {
		// Nothing is stored to log in with: it shares the new password.
		c := *st.SMTP
		c.OwnPassword = false
		st.SMTP = &c
	}
	switch {
	case passwordOnly(req.SMTP):
		if st.SMTP == nil {
			return st, required("smtp.host", "smtp.host is required with smtp.password: %s has no SMTP server stored.", email)
		}
		st.SMTP = withOwnPassword(st.SMTP)
	case req.SMTP != nil:
		smtp, err := SMTPSettings("smtp", req.SMTP, email)
		if err != nil {
			return st, err
		}
		st.SMTP = smtp
	}
	st.AllowPlaintext = st.AllowPlaintext || req.AllowPlaintext
	return st, nil
}
