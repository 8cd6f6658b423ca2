package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Disconnect, retention and reconnect (DESIGN §8). Disconnecting needs an
// explicit confirmation of what will be lost. The account then stays, in
// state disconnected, with its folders and their cursors, its messages,
// their links and its credential, until retained_until (Config.Retention
// after the disconnection). Connecting the same address for the same user
// before then reattaches that account; after it, the maintenance job
// (store.PurgeExpiredAccounts, run by one process under a lease) deletes
// it with everything it held.

// codeConfirmationRequired refuses a destructive request sent without its
// confirmation parameter.
const codeConfirmationRequired = "confirmation_required"

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
func (s *Server) storedMessages(ctx context.Context, accountID int64) (int64, error) {
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

// boolParam reads an optional true/false query parameter.
func boolParam(q query, name string) (bool, error) {
	if !q.has(name) {
		return false, nil
	}
	switch q.str(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest(codeInvalidParameter, name, "%s=%q is not accepted: give true or false.", name, q.str(name))
}

// disconnectMailAccount stops a mailbox's sync and starts its retention.
// Without ?confirm_data_loss=true it only says what would happen (409).
// On a mailbox already disconnected it changes nothing and answers its
// status, with the retention date set at the disconnection.
func (s *Server) disconnectMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	confirmed, err := boolParam(q, "confirm_data_loss")
	if err != nil {
		return err
	}
	a, err := s.st.GetMailAccount(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "mail account")
	}
	if a.DisconnectedAt == nil {
		n, err := s.storedMessages(r.Context(), a.ID)
		if err != nil {
			return err
		}
		until := s.cfg.Now().Add(s.cfg.Retention)
		if !confirmed {
			what := "the sync of " + a.Email
			if a.Mode == crm.ModeForward {
				what = "the dropbox of " + a.Email + " (forwarded mail is no longer received)"
			}
			return &Error{Status: http.StatusConflict, Code: codeConfirmationRequired, Field: "confirm_data_loss", Message: fmt.Sprintf(
				"Disconnecting stops %s. Its %s stay visible until %s, then are deleted for good; reconnecting the same address before then restores everything. Repeat with ?confirm_data_loss=true to disconnect.",
				what, messagesAndLinks(n, ""), day(until))}
		}
		disconnected := false
		a, err = s.st.UpdateMailAccount(r.Context(), c.Viewer, id, func(x *crm.MailAccount) error {
			if x.DisconnectedAt != nil {
				return nil // disconnected meanwhile: keep that date
			}
			now := s.cfg.Now()
			until = now.Add(s.cfg.Retention)
			x.State, x.DisconnectedAt, x.RetainedUntil = crm.StateDisconnected, &now, &until
			x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
			disconnected = true
			return nil
		})
		if err != nil {
			return storeError(err, "mail account")
		}
		if disconnected {
			_ = s.st.AddAccountEvent(r.Context(), a.ID, store.AccountEvent{At: s.cfg.Now(), Kind: "disconnected", Message: fmt.Sprintf(
				"Disconnected by %s. The %s are kept until %s, then deleted; connecting %s again before then restores them.",
				c.User.Email, messagesAndLinks(n, ""), day(until), a.Email)})
		}
	}
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// findMailAccount returns the owner's account for an address, if v may
// see it (nil if there is none).
func (s *Server) findMailAccount(ctx context.Context, v crm.Viewer, owner int64, email string) (*crm.MailAccount, error) {
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
// connect a new one. A disconnected one still retained, in the same mode:
// that account, to reattach. Anything else is a 409.
func (s *Server) reconnectable(ctx context.Context, v crm.Viewer, owner int64, email string, mode crm.MailMode) (*crm.MailAccount, error) {
	a, err := s.findMailAccount(ctx, v, owner, email)
	if err != nil || a == nil {
		return nil, err
	}
	if err := s.checkReattach(a, mode); err != nil {
		return nil, err
	}
	return a, nil
}

// checkReattach says whether an existing account may be reattached by a
// connection in mode.
func (s *Server) checkReattach(a *crm.MailAccount, mode crm.MailMode) error {
	switch {
	case a.DisconnectedAt == nil:
		return alreadyConnected(a.Email, a.Mode)
	case a.RetainedUntil != nil && !a.RetainedUntil.After(s.cfg.Now()):
		return conflict("email", "%s was disconnected and its retention ended on %s: its messages and links are being deleted. Connect it again once that deletion has run.",
			a.Email, day(*a.RetainedUntil))
	case a.Mode != mode:
		return conflict("mode", "%s was disconnected in %s mode; its messages and links are kept until %s. Reconnect it in %s mode to keep them (you can switch modes once they are deleted).",
			a.Email, a.Mode, day(deref(a.RetainedUntil)), a.Mode)
	}
	return nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// reattach brings a disconnected account back: the retention is cancelled
// and apply sets the new connection. The folders and their cursors, the
// messages and every link, manual ones included, are the account's still.
func (s *Server) reattach(ctx context.Context, c *caller, a crm.MailAccount, apply func(*crm.MailAccount)) (crm.MailAccount, error) {
	out, err := s.st.UpdateMailAccount(ctx, c.Viewer, a.ID, func(x *crm.MailAccount) error {
		if err := s.checkReattach(x, a.Mode); err != nil { // changed meanwhile
			return err
		}
		x.DisconnectedAt, x.RetainedUntil = nil, nil
		x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
		apply(x)
		return nil
	})
	if err != nil {
		return out, storeError(err, "mail account")
	}
	n, err := s.storedMessages(ctx, a.ID)
	if err != nil {
		return out, err
	}
	_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.cfg.Now(), Kind: "reconnected",
		Message: fmt.Sprintf("Reconnected; the %s are kept.", messagesAndLinks(n, "retained"))})
	return out, nil
}

// reattachSync reattaches a sync-mode account once the new password has
// been verified: the password is sealed into the account's credential and
// the sync resumes from the stored cursors.
func (s *Server) reattachSync(w http.ResponseWriter, r *http.Request, c *caller, mc MailConnector, a crm.MailAccount, settings crm.MailSettings, password string) error {
	credID, fresh := a.CredentialID, a.CredentialID == ""
	if fresh {
		credID = newCredentialID()
	}
	sealed, err := mc.Seal(credID, []byte(password))
	if err != nil {
		return err
	}
	if err := s.st.PutCredential(r.Context(), store.Credential{ID: credID, OrgID: c.Viewer.OrgID, Purpose: "mail_password", Ciphertext: sealed}); err != nil {
		return err
	}
	a, err = s.reattach(r.Context(), c, a, func(x *crm.MailAccount) {
		x.Settings, x.CredentialID, x.State = settings, credID, crm.StateConnecting
	})
	if err != nil {
		if fresh {
			_ = s.st.DeleteCredential(context.WithoutCancel(r.Context()), c.Viewer.OrgID, credID)
		}
		return err
	}
	return s.writeAccount(w, r, a)
}

// reattachForward reattaches a forwarding-mode account, with its dropbox
// address unchanged so that the user's forwarding rules work again as
// they are.
func (s *Server) reattachForward(w http.ResponseWriter, r *http.Request, c *caller, a crm.MailAccount) error {
	a, err := s.reattach(r.Context(), c, a, func(x *crm.MailAccount) {
		if x.DropboxToken == "" {
			x.DropboxToken = newDropboxToken()
		}
		x.State = crm.StateSynced
	})
	if err != nil {
		return err
	}
	return s.writeAccount(w, r, a)
}

func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, a crm.MailAccount) error {
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
