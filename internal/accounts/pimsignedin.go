package accounts

import (
	"context"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMSignIn is one of the user's sign-ins with Microsoft or Google (an
// address signed in with), and the services of it that have no account:
// removed since, or not asked for at the sign-in.
type PIMSignIn struct {
	Kind    crm.PIMKind
	Email   string
	Missing []crm.PIMService
}

// signInServices are the services a sign-in may sync, in the order they
// are shown.
var signInServices = []crm.PIMService{crm.ServiceContacts, crm.ServiceCalendar, crm.ServiceTasks}

// PIMSignIns lists the viewer's own sign-ins with a provider: those of
// their signed-in PIM accounts and mailboxes, each with the services not
// connected. Connecting one (ConnectSignedInPIM) needs no new sign-in.
func (s *Service) PIMSignIns(ctx context.Context, v crm.Viewer) ([]PIMSignIn, error) {
	var out []PIMSignIn
	add := func(kind crm.PIMKind, email string) *PIMSignIn {
		for i := range out {
			if out[i].Kind == kind && strings.EqualFold(out[i].Email, email) {
				return &out[i]
			}
		}
		out = append(out, PIMSignIn{Kind: kind, Email: email, Missing: slices.Clone(signInServices)})
		return &out[len(out)-1]
	}
	owner := v.UserID
	mails, err := s.st.ListMailAccounts(ctx, v, store.MailAccountFilter{UserID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		return nil, err
	}
	for _, m := range mails.Items {
		if k := crm.PIMKind(m.Provider); k.SignedIn() && m.DisconnectedAt == nil && m.CredentialID != "" {
			add(k, m.Email)
		}
	}
	pims, err := s.st.ListPIMAccounts(ctx, v, store.PIMAccountFilter{UserID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		return nil, err
	}
	for _, a := range pims.Items {
		if a.Kind.SignedIn() {
			add(a.Kind, a.Username)
		}
	}
	for _, a := range pims.Items {
		if a.Kind.SignedIn() {
			in := add(a.Kind, a.Username)
			in.Missing = slices.DeleteFunc(in.Missing, func(svc crm.PIMService) bool { return svc == a.Service })
		}
	}
	return out, nil
}

// ConnectSignedInPIM connects one more service (contacts, calendar or
// tasks) of a sign-in of the viewer's with Microsoft or Google, with the
// token set of that sign-in (its mailbox's or another service's), as a
// sign-in would have. If the sign-in did not grant the service, the
// account's first sync says so, and signing in again fixes it.
func (s *Service) ConnectSignedInPIM(ctx context.Context, v crm.Viewer, kind crm.PIMKind, email string, svc crm.PIMService) (crm.PIMAccount, error) {
	if !kind.SignedIn() {
		return crm.PIMAccount{}, invalid("kind", "kind must be microsoft or google: the provider signed in with.")
	}
	if !svc.Valid() {
		return crm.PIMAccount{}, invalid("service", "service must be contacts, calendar or tasks.")
	}
	if err := s.PIMEnabled(); err != nil {
		return crm.PIMAccount{}, err
	}
	credID, err := s.signInCredential(ctx, v, kind, email)
	if err != nil {
		return crm.PIMAccount{}, err
	}
	if old, err := s.findPIMAccount(ctx, v, kind, svc, email); err != nil {
		return crm.PIMAccount{}, err
	} else if old != nil {
		return *old, conflict("service", "%s %s of %s is connected already.", providerName(kind), svc, email)
	}
	a, err := s.connectOAuthPIM(ctx, v, kind, svc, email, credID)
	if err != nil {
		return a, err
	}
	s.waker.WakePIM(a.ID)
	return a, nil
}

// signInCredential is the token set of the viewer's sign-in with kind as
// email: that of a signed-in PIM account, or of the mailbox signed in.
func (s *Service) signInCredential(ctx context.Context, v crm.Viewer, kind crm.PIMKind, email string) (string, error) {
	for _, svc := range signInServices {
		a, err := s.findPIMAccount(ctx, v, kind, svc, email)
		if err != nil {
			return "", err
		}
		if a != nil && a.CredentialID != "" {
			return a.CredentialID, nil
		}
	}
	m, err := s.findMailAccount(ctx, v, v.UserID, email)
	if err != nil {
		return "", err
	}
	if m != nil && m.Provider == string(kind) && m.DisconnectedAt == nil && m.CredentialID != "" {
		return m.CredentialID, nil
	}
	return "", conflict("email", "%s has not signed in with %s: sign in with %s first (it connects mail, contacts, calendar and tasks at once).", email, providerName(kind), providerName(kind))
}
