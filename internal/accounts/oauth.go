package accounts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
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
// was not asked for; PIMAccounts are the accounts of the other services
// (contacts, calendar, tasks), new or signed in again; Notes say what was
// not connected and why.
type OAuthConnection struct {
	MailAccount *crm.MailAccount
	Reattached  bool
	PIMAccounts []crm.PIMAccount
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
// For contacts, calendar and tasks: one PIM account of the provider's
// kind per service, sharing the token set with the mailbox (so that they
// share the provider's per-user limits, and a sign-in again renews them
// all). An account of the service the user already has for this address
// gets the new token set and starts again if it was failing; its
// mappings, cursors and options are kept.
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
	var services []crm.PIMService
	for _, svc := range req.Services {
		if svc == "mail" {
			continue
		}
		ps := crm.PIMService(svc)
		if !ps.Valid() {
			return out, invalid("services", "services may hold mail, contacts, calendar and tasks (got %q).", svc)
		}
		if !slices.Contains(services, ps) {
			services = append(services, ps)
		}
	}
	// Always in the same order, whatever the request's.
	order := []crm.PIMService{crm.ServiceContacts, crm.ServiceCalendar, crm.ServiceTasks}
	slices.SortFunc(services, func(a, b crm.PIMService) int { return slices.Index(order, a) - slices.Index(order, b) })
	kind := crm.PIMKind(req.Provider)
	if len(services) > 0 && !kind.SignedIn() {
		return out, fmt.Errorf("accounts: no PIM kind for provider %q", req.Provider)
	}
	if slices.Contains(req.Services, "mail") {
		a, reattached, err := s.connectOAuthMail(ctx, v, req.Provider, email, req.CredentialID)
		if err != nil {
			return out, err
		}
		keep = true
		out.MailAccount, out.Reattached = &a, reattached
		s.waker.WakeMail(a.ID)
	}
	for _, svc := range services {
		a, err := s.connectOAuthPIM(ctx, v, kind, svc, email, req.CredentialID)
		if err != nil {
			return out, err
		}
		keep = true
		out.PIMAccounts = append(out.PIMAccounts, a)
		s.waker.WakePIM(a.ID)
	}
	return out, nil
}

// connectOAuthPIM connects one service of a sign-in: a new account, or the
// user's account of that service and address with the new token set.
func (s *Service) connectOAuthPIM(ctx context.Context, v crm.Viewer, kind crm.PIMKind, svc crm.PIMService, email, credID string) (crm.PIMAccount, error) {
	old, err := s.findPIMAccount(ctx, v, kind, svc, email)
	if err != nil {
		return crm.PIMAccount{}, err
	}
	if old == nil {
		a, err := s.st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: v.UserID, Kind: kind, Service: svc, Username: email,
			CredentialID: credID, Options: crm.PIMOptions{ConflictPolicy: string(pim.Policies[0])}, State: crm.StateConnecting})
		return a, err
	}
	a, err := s.st.UpdatePIMAccount(ctx, v, old.ID, func(x *crm.PIMAccount) error {
		x.CredentialID = credID
		x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = "", "", 0, nil
		switch x.State {
		case crm.StateInitialSync, crm.StateSynced, crm.StateSyncing:
		default: // failing (auth_failed after a revoked grant, …): start again
			x.State = crm.StateConnecting
		}
		return nil
	})
	if err != nil {
		return a, err
	}
	if old.CredentialID != "" && old.CredentialID != credID {
		_ = s.forgetPassword(ctx, v.OrgID, old.CredentialID) // kept while another account uses it
	}
	return a, nil
}

// findPIMAccount returns the viewer's account of kind and service for
// email, or nil.
func (s *Service) findPIMAccount(ctx context.Context, v crm.Viewer, kind crm.PIMKind, svc crm.PIMService, email string) (*crm.PIMAccount, error) {
	owner := v.UserID
	f := store.PIMAccountFilter{ListParams: store.ListParams{Limit: store.MaxLimit}, UserID: &owner}
	for {
		page, err := s.st.ListPIMAccounts(ctx, v, f)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Items {
			if a.Kind == kind && a.Service == svc && strings.EqualFold(a.Username, email) {
				return &a, nil
			}
		}
		if page.NextCursor == "" {
			return nil, nil
		}
		f.Cursor = page.NextCursor
	}
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
