package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMConnector is what the PIM account endpoints need of the outside
// world: a real login, with discovery of the address books and calendars,
// before anything is saved, and sealing the password. cmd/crmsync wires
// the real one (pimconn); tests may wire fakes or the real one against
// Radicale.
type PIMConnector interface {
	// Verify logs in to the server and returns the collections an account
	// of kind can sync (Kind "contacts", "events" or "tasks"). Failures are
	// *connerr.Error: auth_failed, unreachable, throttled, tls_error,
	// protocol, or no_collections when the server has nothing to sync.
	Verify(ctx context.Context, kind crm.PIMKind, url, username, password string) ([]store.PIMCollection, error)
	// Seal encrypts a password bound to the credential id.
	Seal(credentialID string, password []byte) ([]byte, error)
}

// PIMOptionsRequest is the options of a new PIM account.
type PIMOptionsRequest struct {
	ConflictPolicy   string   `json:"conflict_policy"`
	ImportCategories []string `json:"import_categories"`
	Collection       string   `json:"collection"`
	TaskCollection   string   `json:"task_collection"`
	EventCategories  []string `json:"event_categories"`
}

// UnmarshalJSON decodes the options strictly.
func (o *PIMOptionsRequest) UnmarshalJSON(b []byte) error {
	type plain PIMOptionsRequest
	return strictJSON(b, (*plain)(o), "options")
}

// PIMAccountCreationRequest is the body of POST /api/v1/pim-accounts.
type PIMAccountCreationRequest struct {
	Kind     string             `json:"kind"`
	URL      string             `json:"url"`
	Username string             `json:"username"`
	Password string             `json:"password"`
	UserID   *int64             `json:"user_id"` // default: the caller
	Options  *PIMOptionsRequest `json:"options"`
}

// PIMOptionsUpdateRequest changes some options: only the fields present
// change.
type PIMOptionsUpdateRequest struct {
	ConflictPolicy   Opt[string]   `json:"conflict_policy"`
	ImportCategories Opt[[]string] `json:"import_categories"`
	Collection       Opt[string]   `json:"collection"`
	TaskCollection   Opt[string]   `json:"task_collection"`
	EventCategories  Opt[[]string] `json:"event_categories"`
}

// UnmarshalJSON decodes the options strictly, also inside an Opt.
func (o *PIMOptionsUpdateRequest) UnmarshalJSON(b []byte) error {
	type plain PIMOptionsUpdateRequest
	return strictJSON(b, (*plain)(o), "options")
}

// PIMAccountUpdateRequest is the body of PATCH /api/v1/pim-accounts/{id}.
type PIMAccountUpdateRequest struct {
	URL      Opt[string]                  `json:"url"`
	Username Opt[string]                  `json:"username"`
	Password Opt[string]                  `json:"password"`
	Options  Opt[PIMOptionsUpdateRequest] `json:"options"`
}

// pimAccountSummary is an account as lists show it: its true state.
type pimAccountSummary struct {
	crm.PIMAccount
	Status   *errorView    `json:"status,omitempty"`
	Progress *progressView `json:"progress,omitempty"`
}

// pimAccountView is an account with what it syncs and how that went.
type pimAccountView struct {
	pimAccountSummary
	Collections []store.PIMCollection `json:"collections"`
	Counts      pimCounts             `json:"counts"`
	ItemErrors  []pimItemError        `json:"item_errors"`
	History     []store.AccountEvent  `json:"history"`
}

// pimCounts counts an account's items: synced ones per kind (contacts for
// a CardDAV account, events and tasks for a CalDAV one), those deleted on
// one side and no longer synced, and those whose last sync failed.
type pimCounts struct {
	Contacts   *int64 `json:"contacts,omitempty"`
	Events     *int64 `json:"events,omitempty"`
	Tasks      *int64 `json:"tasks,omitempty"`
	Tombstoned int64  `json:"tombstoned"`
	// NotImported counts server items left out of the CRM (categories not
	// chosen, or unreadable).
	NotImported int64 `json:"not_imported"`
	Errors      int64 `json:"errors"`
}

type pimItemError struct {
	Href       string `json:"href"`
	RecordType string `json:"record_type"`
	CRMID      int64  `json:"crm_id,omitempty"`
	Error      string `json:"error"`
}

// Bounds of the account view.
const (
	pimItemErrorsShown = 20
	pimHistoryShown    = 50
	maxURL             = 2000
	maxUsername        = 320
)

func pimSummary(a crm.PIMAccount) pimAccountSummary {
	v := pimAccountSummary{PIMAccount: a}
	v.Options.ImportCategories = nonNil(v.Options.ImportCategories)
	v.Options.EventCategories = nonNil(v.Options.EventCategories)
	if a.State == crm.StateInitialSync || a.ProgressTotal > 0 {
		v.Progress = &progressView{Done: a.ProgressDone, Total: a.ProgressTotal}
	}
	if a.ErrorCode != "" && a.State != crm.StateSynced && a.State != crm.StateInitialSync && a.State != crm.StateSyncing {
		v.Status = &errorView{Code: a.ErrorCode, Message: a.ErrorMessage}
	}
	return v
}

func (s *Server) pimAccountView(ctx context.Context, a crm.PIMAccount) (pimAccountView, error) {
	v := pimAccountView{pimAccountSummary: pimSummary(a), ItemErrors: []pimItemError{}}
	cols, err := s.st.PIMCollections(ctx, a.ID)
	if err != nil {
		return v, err
	}
	v.Collections = nonNil(cols)
	stats, err := s.st.PIMItemStats(ctx, a.ID, pimItemErrorsShown)
	if err != nil {
		return v, err
	}
	v.Counts.Errors, v.Counts.Tombstoned, v.Counts.NotImported = stats.Errors, stats.Tombstoned, stats.NotImported
	for _, it := range stats.ItemErrors {
		v.ItemErrors = append(v.ItemErrors, pimItemError{Href: it.Href, RecordType: it.RecordType, CRMID: it.CRMID, Error: it.Error})
	}
	contacts, events, tasks := stats.Synced[store.PIMContact], stats.Synced[store.PIMEvent], stats.Synced[store.PIMTask]
	if a.Kind == crm.PIMCardDAV {
		v.Counts.Contacts = &contacts
	} else {
		v.Counts.Events, v.Counts.Tasks = &events, &tasks
	}
	hist, err := s.st.PIMAccountEvents(ctx, a.ID, pimHistoryShown)
	if err != nil {
		return v, err
	}
	v.History = nonNil(hist)
	return v, nil
}

func (s *Server) pimConnector() (PIMConnector, error) {
	if s.cfg.PIM == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Contact and calendar sync (CardDAV, CalDAV) is not enabled on this server."}
	}
	return s.cfg.PIM, nil
}

func (s *Server) wakePIM(id int64) {
	if s.cfg.WakePIM != nil {
		s.cfg.WakePIM(id)
	}
}

func checkPIMKind(raw string) (crm.PIMKind, error) {
	k := crm.PIMKind(strings.ToLower(strings.TrimSpace(raw)))
	switch {
	case k == "":
		return "", required("kind", "kind is required: carddav (an address book: contacts) or caldav (calendars: events and tasks).")
	case !k.Valid():
		return "", invalid("kind", "kind must be carddav (an address book: contacts) or caldav (calendars: events and tasks).")
	}
	return k, nil
}

// davURL checks the address of a CardDAV or CalDAV server.
func davURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", required("url", "url is required: the address of the server, like https://dav.example.com/ (your provider documents it).")
	}
	if len(s) > maxURL {
		return "", invalid("url", "url must be at most %d characters.", maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" || u.Opaque != "" {
		return "", invalid("url", "url must be an absolute http:// or https:// address, like https://dav.example.com/ (got %q).", s)
	}
	if u.User != nil {
		return "", invalid("url", "url must not hold a username or password: give them in username and password.")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return "", invalid("url", "url must not have a #fragment.")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		// Basic authentication sends the password with every request: in
		// clear over http://, readable by anyone on the way.
		return "", &Error{Status: http.StatusUnprocessableEntity, Code: "plaintext_refused", Field: "url",
			Message: "The password would cross the network unencrypted: use the server's https:// address. Only a server on this machine (localhost) may use http://."}
	}
	return u.String(), nil
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkPolicy(raw string) (string, error) {
	p, err := pim.ParsePolicy(strings.TrimSpace(raw))
	if err != nil {
		return "", invalid("options.conflict_policy", "options.conflict_policy must be one of %s: who wins when a field changed on both sides since the last sync.", joinQuoted(pim.Policies))
	}
	return string(p), nil
}

func checkEventCategories(kind crm.PIMKind, cats []string) ([]string, error) {
	if kind != crm.PIMCalDAV && len(cats) > 0 {
		return nil, invalid("options.event_categories", "options.event_categories is for caldav accounts: it chooses the events synced by their categories.")
	}
	return normCategories("options.event_categories", cats, fixedAllowed)
}

func checkTaskCollectionKind(kind crm.PIMKind, href string) error {
	if kind != crm.PIMCalDAV && strings.TrimSpace(href) != "" {
		return invalid("options.task_collection", "options.task_collection is for caldav accounts: the calendar whose tasks are synced.")
	}
	return nil
}

// collectionKind is the kind of the collection an account syncs as
// options.collection.
func collectionKind(kind crm.PIMKind) string {
	if kind == crm.PIMCardDAV {
		return "contacts"
	}
	return "events"
}

// hrefOf cleans a collection href given in a request: discovered hrefs
// end with "/".
func hrefOf(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

func hasCollection(avail []store.PIMCollection, kind, href string) bool {
	return slices.ContainsFunc(avail, func(c store.PIMCollection) bool { return c.Kind == kind && c.Href == href })
}

// collectionHref returns the href of the collection of kind at path (with
// or without its final slash), or "".
func collectionHref(avail []store.PIMCollection, kind, path string) string {
	p := strings.TrimSuffix(path, "/") + "/"
	for _, c := range avail {
		if c.Kind == kind && c.Href == p {
			return c.Href
		}
	}
	return ""
}

func firstCollection(avail []store.PIMCollection, kind string) string {
	for _, c := range avail {
		if c.Kind == kind {
			return c.Href
		}
	}
	return ""
}

// collectionChoice refuses a collection that is not among avail, listing
// those there are. hint ends the message when there are none to list.
func collectionChoice(field, kind, href string, avail []store.PIMCollection, hint string) error {
	if href == "" || hasCollection(avail, kind, href) {
		return nil
	}
	what := map[string]string{"contacts": "address books", "events": "calendars that hold events", "tasks": "calendars that hold tasks"}[kind]
	var list []string
	for _, c := range avail {
		if c.Kind == kind {
			if c.DisplayName != "" {
				list = append(list, fmt.Sprintf("%q (%s)", c.Href, c.DisplayName))
			} else {
				list = append(list, fmt.Sprintf("%q", c.Href))
			}
		}
	}
	if len(list) == 0 {
		return invalid(field, "%s (%q) is not one of the account's %s: there are none%s", field, href, what, hint)
	}
	return invalid(field, "%s (%q) is not one of the account's %s: %s.", field, href, what, strings.Join(list, ", "))
}

// pickCollections fills the empty collections of o from avail: for
// options.collection, the collection the account's address names when it
// names one (a user often copies an address book's own URL from their
// app), else the first of its kind; for the tasks of a CalDAV account, the
// calendar of the events when it holds tasks too, else the first that
// does.
func pickCollections(kind crm.PIMKind, o *crm.PIMOptions, avail []store.PIMCollection, accountURL string) {
	if o.Collection == "" {
		if u, err := url.Parse(accountURL); err == nil {
			o.Collection = collectionHref(avail, collectionKind(kind), u.Path)
		}
		if o.Collection == "" {
			o.Collection = firstCollection(avail, collectionKind(kind))
		}
	}
	if kind == crm.PIMCalDAV && o.TaskCollection == "" {
		if o.Collection != "" && hasCollection(avail, "tasks", o.Collection) {
			o.TaskCollection = o.Collection
		} else {
			o.TaskCollection = firstCollection(avail, "tasks")
		}
	}
}

// alreadyConnectedPIM is the 409 for an account the user has connected.
func alreadyConnectedPIM(kind crm.PIMKind, username, u string) *Error {
	return conflict("url", "%s on %s is already connected (%s) for this user. To change its password or options, use PATCH /api/v1/pim-accounts/{id}.", username, u, kind)
}

// createPIMAccount connects an address book or calendar server: it logs
// in and lists the collections before saving anything.
func (s *Server) createPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req PIMAccountCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	kind, err := checkPIMKind(req.Kind)
	if err != nil {
		return err
	}
	u, err := davURL(req.URL)
	if err != nil {
		return err
	}
	username, err := text("username", req.Username, true, maxUsername)
	if err != nil {
		return err
	}
	owner := c.User.ID
	if req.UserID != nil {
		if err := refID("user_id", *req.UserID); err != nil {
			return err
		}
		if *req.UserID != c.User.ID && !c.Viewer.CanAdminister() {
			return forbidden("You can connect only your own address book or calendar. An admin can connect one for another user.")
		}
		owner = *req.UserID
	}
	if req.Password == "" {
		return required("password", "password is required: the account's password (or an app password if your provider asks for one).")
	}
	var ro PIMOptionsRequest
	if req.Options != nil {
		ro = *req.Options
	}
	opts := crm.PIMOptions{Collection: hrefOf(ro.Collection), TaskCollection: hrefOf(ro.TaskCollection)}
	if opts.ConflictPolicy, err = checkPolicy(ro.ConflictPolicy); err != nil {
		return err
	}
	if opts.ImportCategories, err = normCategories("options.import_categories", ro.ImportCategories, fixedNotImports); err != nil {
		return err
	}
	if opts.EventCategories, err = checkEventCategories(kind, ro.EventCategories); err != nil {
		return err
	}
	if err := checkTaskCollectionKind(kind, opts.TaskCollection); err != nil {
		return err
	}
	pc, err := s.pimConnector()
	if err != nil {
		return err
	}
	avail, err := pc.Verify(r.Context(), kind, u, username, req.Password)
	if err != nil {
		return verifyError(err)
	}
	if err := collectionChoice("options.collection", collectionKind(kind), opts.Collection, avail, "."); err != nil {
		return err
	}
	if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, avail, "."); err != nil {
		return err
	}
	pickCollections(kind, &opts, avail, u)

	credID := newCredentialID()
	sealed, err := pc.Seal(credID, []byte(req.Password))
	if err != nil {
		return err
	}
	if err := s.st.PutCredential(r.Context(), store.Credential{ID: credID, OrgID: c.Viewer.OrgID, Purpose: "pim_password", Ciphertext: sealed}); err != nil {
		return err
	}
	a, err := s.st.CreatePIMAccount(r.Context(), c.Viewer, crm.PIMAccount{UserID: owner, Kind: kind, URL: u, Username: username,
		CredentialID: credID, Options: opts, State: crm.StateConnecting})
	if err != nil {
		_ = s.st.DeleteCredential(context.WithoutCancel(r.Context()), c.Viewer.OrgID, credID)
		var fe *store.FieldError
		if errors.As(err, &fe) && fe.Code == "duplicate" {
			return alreadyConnectedPIM(kind, username, u)
		}
		return storeError(err, "user")
	}
	s.wakePIM(a.ID)
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/pim-accounts/%d", a.ID), v)
}

func (s *Server) getPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "PIM account", s.st.GetPIMAccount, s.pimAccountView)
}

func (s *Server) listPIMAccounts(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.PIMAccountFilter{ListParams: lp}
	if f.UserID, err = q.id("user_id"); err != nil {
		return err
	}
	page, err := s.st.ListPIMAccounts(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "PIM account")
	}
	out := store.Page[pimAccountSummary]{NextCursor: page.NextCursor}
	for _, a := range page.Items {
		out.Items = append(out.Items, pimSummary(a))
	}
	return writeList(w, out, func(v pimAccountSummary) pimAccountSummary { return v })
}

// updatePIMAccount changes an account's server, login or options. A new
// url, username or password is verified by logging in before it is saved,
// and the account reconnects; options alone change without a login, a
// collection then being checked against those the sync has listed.
func (s *Server) updatePIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	pc, err := s.pimConnector()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req PIMAccountUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := s.st.GetPIMAccount(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "PIM account")
	}
	u, username := a.URL, a.Username
	if req.URL.Set {
		v, err := req.URL.value("url", "give the server's address.")
		if err != nil {
			return err
		}
		if u, err = davURL(v); err != nil {
			return err
		}
	}
	if req.Username.Set {
		v, err := req.Username.value("username", "give the username to log in with.")
		if err != nil {
			return err
		}
		if username, err = text("username", v, true, maxUsername); err != nil {
			return err
		}
	}
	var password string
	if req.Password.Set {
		if password, err = req.Password.value("password", "give the new password."); err != nil {
			return err
		}
		if password == "" {
			return required("password", "password cannot be empty.")
		}
	} else if u != a.URL || username != a.Username {
		return required("password", "Give the password with a new url or username: crmsync logs in with them before saving.")
	}

	opts := a.Options
	var setCollection, setTasks bool
	if req.Options.Set {
		o, err := req.Options.value("options", "send the options to change, as an object.")
		if err != nil {
			return err
		}
		if o.ConflictPolicy.Set {
			v, err := o.ConflictPolicy.value("options.conflict_policy", `send "newest_wins" for the default.`)
			if err != nil {
				return err
			}
			if opts.ConflictPolicy, err = checkPolicy(v); err != nil {
				return err
			}
		}
		if o.ImportCategories.Set {
			v, err := o.ImportCategories.value("options.import_categories", "send [] to import every category.")
			if err != nil {
				return err
			}
			if opts.ImportCategories, err = normCategories("options.import_categories", v, fixedNotImports); err != nil {
				return err
			}
		}
		if o.EventCategories.Set {
			v, err := o.EventCategories.value("options.event_categories", "send [] to sync events of every category.")
			if err != nil {
				return err
			}
			if opts.EventCategories, err = checkEventCategories(a.Kind, v); err != nil {
				return err
			}
		}
		if o.Collection.Set {
			v, err := o.Collection.value("options.collection", `send "" for the first one on the server.`)
			if err != nil {
				return err
			}
			opts.Collection, setCollection = hrefOf(v), true
		}
		if o.TaskCollection.Set {
			v, err := o.TaskCollection.value("options.task_collection", `send "" for one chosen by crmsync.`)
			if err != nil {
				return err
			}
			if err := checkTaskCollectionKind(a.Kind, v); err != nil {
				return err
			}
			opts.TaskCollection, setTasks = hrefOf(v), true
		}
	}

	reconnect := password != ""
	if reconnect {
		avail, err := pc.Verify(r.Context(), a.Kind, u, username, password)
		if err != nil {
			return verifyError(err)
		}
		if err := collectionChoice("options.collection", collectionKind(a.Kind), opts.Collection, avail, "."); err != nil {
			if setCollection {
				return err
			}
			opts.Collection = "" // gone from the server (or another server): pick again
		}
		if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, avail, "."); err != nil {
			if setTasks {
				return err
			}
			opts.TaskCollection = ""
		}
		pickCollections(a.Kind, &opts, avail, u)
	} else if setCollection || setTasks {
		known, err := s.st.PIMCollections(r.Context(), a.ID)
		if err != nil {
			return err
		}
		hint := " crmsync knows of yet. Send password too: crmsync then logs in and lists them."
		if setCollection {
			if err := collectionChoice("options.collection", collectionKind(a.Kind), opts.Collection, known, hint); err != nil {
				return err
			}
		}
		if setTasks {
			if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, known, hint); err != nil {
				return err
			}
		}
		pickCollections(a.Kind, &opts, known, u)
	}

	credID := a.CredentialID
	if reconnect {
		if credID == "" {
			credID = newCredentialID()
		}
		sealed, err := pc.Seal(credID, []byte(password))
		if err != nil {
			return err
		}
		if err := s.st.PutCredential(r.Context(), store.Credential{ID: credID, OrgID: c.Viewer.OrgID, Purpose: "pim_password", Ciphertext: sealed}); err != nil {
			return err
		}
	}
	a, err = s.st.UpdatePIMAccount(r.Context(), c.Viewer, id, func(x *crm.PIMAccount) error {
		x.URL, x.Username, x.Options = u, username, opts
		if reconnect {
			// Try again now: the user has acted.
			x.CredentialID = credID
			x.State, x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
		}
		return nil
	})
	if err != nil {
		var fe *store.FieldError
		if errors.As(err, &fe) && fe.Code == "duplicate" {
			return alreadyConnectedPIM(a.Kind, username, u)
		}
		return storeError(err, "PIM account")
	}
	s.wakePIM(a.ID)
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// deletePIMAccount stops an account's sync and forgets it: its collections,
// mappings, history and password. Nothing is deleted on the server, and
// the CRM records it brought in stay.
func (s *Server) deletePIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.st.GetPIMAccount(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "PIM account")
	}
	if err := s.st.DeletePIMAccount(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "PIM account")
	}
	if a.CredentialID != "" {
		// The account is gone either way; a password left behind is only
		// logged (it is sealed, and nothing refers to it any more).
		if err := s.st.DeleteCredential(context.WithoutCancel(r.Context()), c.Viewer.OrgID, a.CredentialID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.LogAttrs(r.Context(), slog.LevelError, "deleting the credential of a deleted PIM account failed",
				slog.String("request_id", requestID(r.Context())), slog.Int64("account_id", a.ID), slog.Any("err", err))
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// syncPIMAccount asks for a sync now: the account's loop runs at once
// rather than at its next due time.
func (s *Server) syncPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := s.pimConnector(); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.st.UpdatePIMAccount(r.Context(), c.Viewer, id, func(a *crm.PIMAccount) error {
		a.SyncRequested = true
		return nil
	})
	if err != nil {
		return storeError(err, "PIM account")
	}
	s.wakePIM(a.ID)
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}
