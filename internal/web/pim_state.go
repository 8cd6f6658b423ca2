package web

import (
	"net/url"
	"strconv"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
)

// pimState is an account's live state in words of the user's language,
// built from the service's view (accounts.PIMView): the fragment
// (_pim_state.html) shown in the list and on the account's page, and
// answered alone every few seconds (pimLive).
type pimState struct {
	ID    int64
	Title string
	Kind  string // "Address book (CardDAV)", "Microsoft — Calendar"
	// Live is where the fragment asks for its next state.
	Live     string
	State    string
	Tone     string // ok, warn, bad: the state's colour
	Failure  string
	Progress *accounts.Progress
	// ProgressText says the progress in words (the bar's label).
	ProgressText string
	Counts       []string
	LastSync     string
	Warnings     []string
	// Full: with item errors and history (the account's page).
	Full       bool
	ItemErrors []pimItemErrorView
	History    []pimEventView
}

type pimItemErrorView struct {
	What, Href, Error string
}

type pimEventView struct {
	At, Kind, Message string
	Conflict          bool
}

func pimStateOf(p *Page, v accounts.PIMView, full bool) pimState {
	a := v.Account
	st := pimState{ID: a.ID, Title: pimTitle(a), Kind: pimKindWords(p, a), Full: full,
		Live: "/settings/pim/" + strconv.FormatInt(a.ID, 10) + "/live", State: p.P.T("pim.state." + string(a.State))}
	if full {
		st.Live += "?full=1"
	}
	switch a.State {
	case crm.StateSynced, crm.StateSyncing:
		st.Tone = "ok"
	case crm.StateConnecting, crm.StateInitialSync, crm.StateThrottled, crm.StateUnreachable:
		st.Tone = "warn"
	default:
		st.Tone = "bad"
	}
	if f := v.Failure; f != nil {
		st.Failure = p.P.Coded(f.Code, f.Message)
	}
	// A pass that ended leaves its count ("1 of 1"): a bar only while
	// there is something to wait for.
	if pr := v.Progress; pr != nil && pr.Total > 0 && (pr.Done < pr.Total || a.State == crm.StateInitialSync) {
		st.Progress = pr
		st.ProgressText = p.P.T("pim.progress", "Done", p.P.Number(int(min(pr.Done, pr.Total))), "Total", p.P.Number(int(pr.Total)))
	}
	c := v.Counts
	for _, n := range []struct {
		id string
		v  *int64
	}{{"pim.count.contacts", c.Contacts}, {"pim.count.events", c.Events}, {"pim.count.tasks", c.Tasks}} {
		if n.v != nil {
			st.Counts = append(st.Counts, p.P.N(n.id, int(*n.v)))
		}
	}
	if c.NotImported > 0 {
		st.Counts = append(st.Counts, p.P.N("pim.count.not_imported", int(c.NotImported)))
	}
	if c.Tombstoned > 0 {
		st.Counts = append(st.Counts, p.P.N("pim.count.tombstoned", int(c.Tombstoned)))
	}
	if c.Errors > 0 {
		st.Counts = append(st.Counts, p.P.N("pim.count.errors", int(c.Errors)))
	}
	if a.LastSyncAt != nil {
		st.LastSync = p.P.T("pim.last_sync", "When", p.P.DateTime(*a.LastSyncAt))
	} else {
		st.LastSync = p.P.T("pim.never_synced")
	}
	st.Warnings = v.Warnings
	if !full {
		return st
	}
	for _, e := range v.ItemErrors {
		st.ItemErrors = append(st.ItemErrors, pimItemErrorView{What: p.P.T("pim.record." + string(e.RecordType)), Href: e.Href, Error: e.Error})
	}
	for _, e := range v.History {
		kind := e.Kind
		if id := "pim.event." + e.Kind; i18n.Has(id) {
			kind = p.P.T(id)
		}
		st.History = append(st.History, pimEventView{At: p.P.DateTime(e.At), Kind: kind, Message: e.Message, Conflict: e.Kind == "conflict"})
	}
	return st
}

// pimTitle names an account: its login on its server (the host), or,
// signed in with a provider, the address it was signed in with.
func pimTitle(a crm.PIMAccount) string {
	if a.Kind.SignedIn() {
		return a.Username
	}
	if u, err := url.Parse(a.URL); err == nil && u.Host != "" {
		return a.Username + " @ " + u.Host
	}
	return a.Username
}

// pimKindWords says what an account is: an address book or a calendar
// over DAV, or a provider's service.
func pimKindWords(p *Page, a crm.PIMAccount) string {
	if a.Kind.SignedIn() {
		return p.P.T("pim.kind."+string(a.Kind)) + " — " + p.P.T("pim.service."+string(a.Service))
	}
	return p.P.T("pim.kind." + string(a.Kind))
}
