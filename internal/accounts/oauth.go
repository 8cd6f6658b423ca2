package accounts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// OAuthConnectionRequest is a finished sign-in with a provider (package
// oauth): the address signed in with, the services asked for, and the
// credential now holding the sealed token set.
type OAuthConnectionRequest struct {
	Provider     string // "microsoft"
	Email        string
	CredentialID string
	Services     []string
}

// OAuthConnection is what a sign-in connected. MailAccount is nil when mail
// was not asked for; Notes say what was not connected and why.
type OAuthConnection struct {
	MailAccount *crm.MailAccount
	Reattached  bool
	Notes       []string
}

// ConnectOAuth connects what a sign-in was for, as the viewer (the user
// who signed in). For mail: a new sync-mode account of the provider whose
// credential is the token set; a mailbox of the same address the user
// disconnected and that is still retained is reattached (same id, folders
// and cursors, messages and links) with the new token set; a connected
// mailbox of the provider gets the new token set and, if it was failing
// (auth_failed after a revoked grant), starts again. The credential a
// mailbox had before is deleted. On any refusal the new token set is
// deleted, so that nothing is left that no account uses.
//
// Address books, calendars and tasks signed in for are not connected yet:
// a note says so.
func (s *Service) ConnectOAuth(ctx context.Context, v crm.Viewer, req OAuthConnectionRequest) (out OAuthConnection, err error) {
	keep := false
	defer func() {
		if !keep {
			_ = s.forgetPassword(ctx, v.OrgID, req.CredentialID)
		}
	}()
	email, err := crm.NormalizeEmail(req.Email)
	if err != nil {
		return out, invalid("email", "The address signed in with (%s) %s.", req.Email, err)
	}
	if req.CredentialID == "" {
		return out, fmt.Errorf("accounts: sign-in without a credential")
	}
	var pim []string
	for _, svc := range req.Services {
		if svc != "mail" {
			pim = append(pim, svc)
		}
	}
	if len(pim) > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("Signing in with %s does not connect %s yet: connect them with their server address and a password meanwhile.",
			req.Provider, strings.Join(pim, ", ")))
	}
	if !slices.Contains(req.Services, "mail") {
		return out, nil
	}
	a, reattached, err := s.connectOAuthMail(ctx, v, req.Provider, email, req.CredentialID)
	if err != nil {
		return out, err
	}
	keep = true
	out.MailAccount, out.Reattached = &a, reattached
	s.waker.WakeMail(a.ID)
	return out, nil
}

func (s *Service) connectOAuthMail(ctx context.Context, v crm.Viewer, provider, email, credID string) (a crm.MailAccount, reattached bool, err error) {
	old, err := s.findMailAccount(ctx, v, v.UserID, email)
	if err != nil {
		return a, false, err
	}
	if old == nil {
		a, err = s.st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: v.UserID, Email: email, Provider: provider, Mode: crm.ModeSync,
			CredentialID: credID, State: crm.StateConnecting})
		if err != nil {
			if isDuplicate(err) {
				return a, false, alreadyConnected(email, crm.ModeSync)
			}
			return a, false, err
		}
		_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "connected",
			Message: fmt.Sprintf("Connected %s by signing in with %s.", email, provider)})
		return a, false, nil
	}
	toOAuth := func(x *crm.MailAccount) {
		x.Mode, x.Provider, x.Settings, x.CredentialID, x.State = crm.ModeSync, provider, crm.MailSettings{}, credID, crm.StateConnecting
	}
	if old.DisconnectedAt != nil {
		if err := s.checkReattach(old); err != nil {
			return a, false, err
		}
		a, err = s.reattach(ctx, v, *old, toOAuth)
		if err != nil {
			return a, false, err
		}
	} else {
		if old.Provider != provider {
			return a, false, conflict("email", "%s is already connected for this user with a password or by forwarding. To sign in with %s instead, disconnect it first (its messages and links are kept and come back).", email, provider)
		}
		a, err = s.st.UpdateMailAccount(ctx, v, old.ID, func(x *crm.MailAccount) error {
			if x.DisconnectedAt != nil || x.Provider != provider {
				return alreadyConnected(email, x.Mode) // changed meanwhile
			}
			x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
			x.CredentialID = credID
			switch x.State {
			case crm.StateInitialSync, crm.StateSynced, crm.StateSyncing:
			default: // failing (auth_failed after a revoked grant, …): start again
				x.State = crm.StateConnecting
			}
			return nil
		})
		if err != nil {
			return a, false, err
		}
		_ = s.st.AddAccountEvent(ctx, a.ID, store.AccountEvent{At: s.now(), Kind: "signed_in",
			Message: fmt.Sprintf("Signed in again with %s.", provider)})
	}
	if old.CredentialID != "" && old.CredentialID != credID {
		s.forgetMail(ctx, v.OrgID, old.CredentialID)
	}
	return a, old.DisconnectedAt != nil, nil
}
