// Package users is the life of a user after they join: offboarding (an
// admin deletes or deactivates someone and chooses who takes over what
// they held) and reactivation. Like internal/accounts, it is the one place
// this workflow lives, so that the REST API and the web UI only decode a
// request, call the Service and show the answer.
//
// Offboarding runs in three steps, each safe to repeat:
//  1. The store deactivates the user in one transaction: their records
//     and reports go to the successor if one is named, their tokens are
//     revoked, and from then on they cannot sign in.
//  2. Their mailboxes are disconnected through the accounts service, with
//     the usual retention (the messages and links are kept, then purged
//     by the maintenance job), and their PIM accounts are removed (the
//     records those brought in stay, with whoever owns them now).
//  3. On delete, the store hands the disconnected mailboxes with their
//     messages to the successor for the rest of their retention, and
//     deletes the user.
//
// A step that fails leaves the user deactivated, never half deleted;
// asking again finishes the job.
package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// The kinds of Error, for errors.Is. The REST API maps them to 409 in_use,
// 403 forbidden and 422 invalid_value.
var (
	// ErrInUse: the user still holds things and no one was named to take
	// them over; Error.Holdings counts them.
	ErrInUse = errors.New("users: still holds records")
	// ErrForbidden: only admins offboard people.
	ErrForbidden = errors.New("users: forbidden")
	// ErrInvalid: the request cannot be done as asked (removing oneself).
	ErrInvalid = errors.New("users: invalid")
)

// Error is a refused request; Message tells the admin what to do.
type Error struct {
	Kind    error
	Field   string
	Message string
	// Holdings, with ErrInUse, counts what the user still holds.
	Holdings *store.UserHoldings
}

func (e *Error) Error() string { return "users: " + e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Config is what a Service needs.
type Config struct {
	Store    store.Store
	Accounts *accounts.Service
	Now      func() time.Time // default time.Now
}

// Service runs the workflows of users. It is safe for concurrent use.
type Service struct {
	st  store.Store
	acc *accounts.Service
	now func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, acc: cfg.Accounts, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// OffboardRequest says how a user leaves.
type OffboardRequest struct {
	// Delete removes the user; otherwise they are deactivated (they
	// cannot sign in, what they keep stays theirs, an admin can
	// reactivate them).
	Delete bool
	// ReassignTo is the active user who takes over their companies,
	// contacts, opportunities, tasks, events and reports (and, on
	// delete, their retained mailboxes). Required to delete a user who
	// holds any; optional to deactivate.
	ReassignTo *int64
	// By names the admin, for the mailboxes' history.
	By string
}

// Offboarding is what an offboarding did.
type Offboarding struct {
	// User is the user now (deactivated) or as they were (deleted).
	User         crm.User `json:"user"`
	Deleted      bool     `json:"deleted"`
	ReassignedTo *int64   `json:"reassigned_to"`
	// Reassigned counts what went to ReassignedTo.
	Reassigned store.UserHoldings `json:"reassigned"`
	// MailAccountsDisconnected counts the mailboxes this offboarding
	// disconnected; RetainedUntil is when the last of the user's
	// mailboxes' messages will be purged (nil when there were none).
	MailAccountsDisconnected int        `json:"mail_accounts_disconnected"`
	RetainedUntil            *time.Time `json:"retained_until,omitempty"`
	PIMAccountsRemoved       int        `json:"pim_accounts_removed"`
	TokensRevoked            int64      `json:"tokens_revoked"`
}

// Offboard deletes or deactivates a user on an admin's behalf (v).
// Refusals: *Error (ErrForbidden, ErrInvalid, ErrInUse with the counts),
// store.ErrNotFound, and the store's *FieldError on reassign_to
// (not_found, inactive, same_user, cycle, duplicate) or role (last_admin).
func (s *Service) Offboard(ctx context.Context, v crm.Viewer, id int64, req OffboardRequest) (Offboarding, error) {
	var out Offboarding
	if !v.CanAdminister() {
		return out, &Error{Kind: ErrForbidden, Message: "Only an admin can delete or deactivate users. Ask an admin of your organisation."}
	}
	if id == v.UserID {
		return out, &Error{Kind: ErrInvalid, Field: "id", Message: "You cannot delete or deactivate your own account. Ask another admin to do it."}
	}
	u, err := s.st.GetUser(ctx, v.OrgID, id)
	if err != nil {
		return out, err
	}
	if req.Delete && req.ReassignTo == nil {
		h, err := s.st.UserHoldings(ctx, v.OrgID, id)
		if err != nil {
			return out, err
		}
		if err := inUse(u, h); err != nil {
			return out, err
		}
	}

	out.ReassignedTo = req.ReassignTo
	res, err := s.st.OffboardUser(ctx, v.OrgID, id, store.OffboardParams{ReassignTo: req.ReassignTo, By: v.UserID, At: s.now()})
	if err != nil {
		return out, err
	}
	out.User, out.Reassigned, out.TokensRevoked = res.User, res.Reassigned, res.TokensRevoked

	if err := s.disconnectAll(ctx, v, id, req.By, &out); err != nil {
		return out, err
	}
	if !req.Delete {
		return out, nil
	}
	res, err = s.st.OffboardUser(ctx, v.OrgID, id, store.OffboardParams{ReassignTo: req.ReassignTo, Delete: true, By: v.UserID, At: s.now()})
	if errors.Is(err, store.ErrInUse) {
		// Something was given to the user or connected for them since the
		// first step: say what, from a fresh count.
		h, herr := s.st.UserHoldings(ctx, v.OrgID, id)
		if herr != nil {
			return out, herr
		}
		if e := inUse(u, h); e != nil {
			return out, e
		}
	}
	if err != nil {
		return out, err
	}
	out.Deleted = true
	out.Reassigned = add(out.Reassigned, res.Reassigned)
	out.TokensRevoked += res.TokensRevoked
	return out, nil
}

// disconnectAll disconnects every mailbox of the user that is still
// connected (retention starts) and removes their PIM accounts.
func (s *Service) disconnectAll(ctx context.Context, v crm.Viewer, id int64, by string, out *Offboarding) error {
	mf := store.MailAccountFilter{ListParams: store.ListParams{Limit: store.MaxLimit}, UserID: &id}
	for {
		page, err := s.st.ListMailAccounts(ctx, v, mf)
		if err != nil {
			return err
		}
		for _, a := range page.Items {
			if a.DisconnectedAt == nil {
				if a, err = s.acc.DisconnectMail(ctx, v, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true, By: by}); err != nil {
					return err
				}
				out.MailAccountsDisconnected++
			}
			if a.RetainedUntil != nil && (out.RetainedUntil == nil || a.RetainedUntil.After(*out.RetainedUntil)) {
				out.RetainedUntil = a.RetainedUntil
			}
		}
		if page.NextCursor == "" {
			break
		}
		mf.Cursor = page.NextCursor
	}
	// PIM accounts are deleted as they are read, so the first page is
	// read again until it is empty.
	pf := store.PIMAccountFilter{ListParams: store.ListParams{Limit: store.MaxLimit}, UserID: &id}
	for {
		page, err := s.st.ListPIMAccounts(ctx, v, pf)
		if err != nil || len(page.Items) == 0 {
			return err
		}
		for _, a := range page.Items {
			if err := s.acc.DeletePIM(ctx, v, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			out.PIMAccountsRemoved++
		}
	}
}

// Reactivate lets a deactivated user sign in again. Their records and
// mailboxes are as the deactivation left them: a mailbox still within its
// retention comes back, with its messages, when they connect it again.
func (s *Service) Reactivate(ctx context.Context, v crm.Viewer, id int64) (crm.User, error) {
	if !v.CanAdminister() {
		return crm.User{}, &Error{Kind: ErrForbidden, Message: "Only an admin can reactivate users. Ask an admin of your organisation."}
	}
	return s.st.ReactivateUser(ctx, v.OrgID, id)
}

// inUse is the refusal to delete u, who holds h, without a successor; nil
// when they hold nothing that needs one (PIM accounts are simply removed).
func inUse(u crm.User, h store.UserHoldings) error {
	var owns, other []string
	for _, c := range []struct {
		n        int64
		one, few string
	}{
		{h.Companies, "company", "companies"},
		{h.Contacts, "contact", "contacts"},
		{h.Opportunities, "opportunity", "opportunities"},
		{h.Tasks, "task", "tasks"},
		{h.Events, "event", "events"},
	} {
		if c.n > 0 {
			owns = append(owns, count(c.n, c.one, c.few))
		}
	}
	if len(owns) > 0 {
		other = append(other, "still owns "+list(owns))
	}
	if h.Reports > 0 {
		other = append(other, "manages "+count(h.Reports, "person", "people"))
	}
	if h.MailAccounts > 0 {
		other = append(other, "has "+count(h.MailAccounts, "mailbox", "mailboxes")+" whose messages are kept until their retention ends")
	}
	if len(other) == 0 {
		return nil
	}
	return &Error{Kind: ErrInUse, Field: "reassign_to", Holdings: &h, Message: fmt.Sprintf(
		"%s %s: choose the active user who takes them over (reassign_to), or deactivate %s instead to keep everything with them.",
		u.Name, list(other), u.Name)}
}

func count(n int64, one, few string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, few)
}

// list joins "a", "b" and "c" as "a, b and c".
func list(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func add(a, b store.UserHoldings) store.UserHoldings {
	return store.UserHoldings{
		Companies: a.Companies + b.Companies, Contacts: a.Contacts + b.Contacts, Opportunities: a.Opportunities + b.Opportunities,
		Tasks: a.Tasks + b.Tasks, Events: a.Events + b.Events, Reports: a.Reports + b.Reports,
		MailAccounts: a.MailAccounts + b.MailAccounts, PIMAccounts: a.PIMAccounts + b.PIMAccounts,
	}
}
