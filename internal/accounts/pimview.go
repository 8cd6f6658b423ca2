package accounts

import (
	"context"
	"log/slog"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMSummary is a PIM account as a list shows it: its true state.
type PIMSummary struct {
	Account  crm.PIMAccount
	Failure  *Failure
	Progress *Progress
}

// SummarizePIM is a's summary: no store access, so a list of accounts
// costs one query.
func SummarizePIM(a crm.PIMAccount) PIMSummary {
	v := PIMSummary{Account: a}
	if v.Account.Options.ImportCategories == nil {
		v.Account.Options.ImportCategories = []string{}
	}
	if v.Account.Options.EventCategories == nil {
		v.Account.Options.EventCategories = []string{}
	}
	if a.State == crm.StateInitialSync || a.ProgressTotal > 0 {
		v.Progress = &Progress{Done: a.ProgressDone, Total: a.ProgressTotal}
	}
	v.Failure = FailureOf(a.State, a.ErrorCode, a.ErrorMessage)
	return v
}

// PIMCounts counts an account's items: synced ones per kind (contacts for
// an address book, events and tasks for a calendar; nil for a kind the
// account does not sync), those deleted on one side and no longer synced,
// and those whose last sync failed.
type PIMCounts struct {
	Contacts   *int64 `json:"contacts,omitempty"`
	Events     *int64 `json:"events,omitempty"`
	Tasks      *int64 `json:"tasks,omitempty"`
	Tombstoned int64  `json:"tombstoned"`
	// NotImported counts server items left out of the CRM (categories not
	// chosen, or unreadable).
	NotImported int64 `json:"not_imported"`
	Errors      int64 `json:"errors"`
}

// PIMItemError is an item whose last sync failed, and why.
type PIMItemError struct {
	Href       string         `json:"href"`
	RecordType pim.RecordType `json:"record_type"`
	CRMID      int64          `json:"crm_id,omitempty"`
	Error      string         `json:"error"`
}

// PIMView is a PIM account with what it syncs and how that went: what the
// REST API's account view and the web app's account page both show.
type PIMView struct {
	PIMSummary
	Collections []store.PIMCollection
	Counts      PIMCounts
	ItemErrors  []PIMItemError
	// Warnings are what the user should look at though nothing failed
	// (PIMWarnings).
	Warnings []string
	History  []store.AccountEvent
}

// Bounds of the account view.
const (
	PIMItemErrorsShown = 20
	PIMHistoryShown    = 50
)

// PIMView builds a's view (a as the caller read it, with their viewer).
func (s *Service) PIMView(ctx context.Context, a crm.PIMAccount) (PIMView, error) {
	v := PIMView{PIMSummary: SummarizePIM(a), ItemErrors: []PIMItemError{}}
	cols, err := s.st.PIMCollections(ctx, a.ID)
	if err != nil {
		return v, err
	}
	v.Collections = nonNil(cols)
	stats, err := s.st.PIMItemStats(ctx, a.ID, PIMItemErrorsShown)
	if err != nil {
		return v, err
	}
	v.Counts.Errors, v.Counts.Tombstoned, v.Counts.NotImported = stats.Errors, stats.Tombstoned, stats.NotImported
	for _, it := range stats.ItemErrors {
		v.ItemErrors = append(v.ItemErrors, PIMItemError{Href: it.Href, RecordType: it.RecordType, CRMID: it.CRMID, Error: it.Error})
	}
	contacts, events, tasks := stats.Synced[pim.RecordContact], stats.Synced[pim.RecordEvent], stats.Synced[pim.RecordTask]
	switch a.Service {
	case crm.ServiceContacts:
		v.Counts.Contacts = &contacts
	case crm.ServiceTasks:
		v.Counts.Tasks = &tasks
	default: // a calendar: its events, and over CalDAV its tasks
		v.Counts.Events, v.Counts.Tasks = &events, &tasks
	}
	hist, err := s.st.PIMAccountEvents(ctx, a.ID, PIMHistoryShown)
	if err != nil {
		return v, err
	}
	v.History = nonNil(hist)
	if v.Warnings, err = s.PIMWarnings(ctx, a); err != nil {
		return v, err
	}
	return v, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// PIMCollectionChoices are the collections the user may choose among for
// account id: those of the server now, listed with the stored password
// (or the provider's sign-in) when the connector can, else those the
// sync has listed. A failure to list is logged and leaves the stored
// ones: the choice is then checked again when it is saved (UpdatePIM).
func (s *Service) PIMCollectionChoices(ctx context.Context, v crm.Viewer, id int64) ([]store.PIMCollection, error) {
	a, err := s.st.GetPIMAccount(ctx, v, id)
	if err != nil {
		return nil, err
	}
	known, err := s.st.PIMCollections(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	lister, ok := s.pim.(PIMCollectionLister)
	if !ok {
		return nonNil(known), nil
	}
	listed, err := lister.Collections(ctx, a)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "listing a PIM account's collections for its choice failed",
			slog.Int64("account_id", a.ID), slog.Any("err", err))
		return nonNil(known), nil
	}
	return nonNil(listed), nil
}
