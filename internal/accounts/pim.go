package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// maxURL bounds the address of a CardDAV or CalDAV server.
const maxURL = 2000

// PIMOptionsRequest is the options of a new PIM account. Categories come
// normalised by the front end, with the rules every record's categories
// follow; collections are hrefs of the server, "" for one chosen here.
type PIMOptionsRequest struct {
	ConflictPolicy   string
	ImportCategories []string
	Collection       string
	TaskCollection   string
	EventCategories  []string
}

// PIMConnectionRequest asks to connect an address book (carddav) or
// calendar (caldav) server.
type PIMConnectionRequest struct {
	Kind     string
	URL      string
	Username string // trimmed and bounded by the front end
	Password string
	UserID   *int64 // the owner; default the viewer
	Options  PIMOptionsRequest
}

func checkPIMKind(raw string) (crm.PIMKind, error) {
	k := crm.PIMKind(strings.ToLower(strings.TrimSpace(raw)))
	switch {
	case k == "":
		return "", required("kind", "kind is required: carddav (an address book: contacts) or caldav (calendars: events and tasks).")
	case k.SignedIn():
		return "", invalid("kind", "%s accounts are connected by signing in with %s, not with a password: use the sign-in button (it connects mail, contacts, calendar and tasks at once).", k, providerName(k))
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
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		// Basic authentication sends the password with every request: in
		// clear over http://, readable by anyone on the way.
		return "", &FieldError{Code: CodePlaintextRefused, Field: "url",
			Message: "The password would cross the network unencrypted: use the server's https:// address. Only a server on this machine (localhost) may use http://."}
	}
	return u.String(), nil
}

func checkPolicy(raw string) (string, error) {
	p, err := pim.ParsePolicy(strings.TrimSpace(raw))
	if err != nil {
		q := make([]string, len(pim.Policies))
		for i, p := range pim.Policies {
			q[i] = `"` + string(p) + `"`
		}
		return "", invalid("options.conflict_policy", "options.conflict_policy must be one of %s: who wins when a field changed on both sides since the last sync.", strings.Join(q, ", "))
	}
	return string(p), nil
}

// providerName is how messages name the provider of a signed-in kind.
func providerName(k crm.PIMKind) string {
	switch k {
	case crm.PIMMicrosoft:
		return "Microsoft"
	case crm.PIMGoogle:
		return "Google"
	}
	return string(k)
}

func checkEventCategories(kind crm.PIMKind, svc crm.PIMService, cats []string) error {
	switch {
	case len(cats) == 0:
	case kind == crm.PIMGoogle && svc == crm.ServiceCalendar:
		return invalid("options.event_categories", "Google Calendar events have no categories, so options.event_categories would select nothing: leave it empty to sync every event of the chosen calendar.")
	case svc != crm.ServiceCalendar:
		return invalid("options.event_categories", "options.event_categories is for calendar accounts: it chooses the events synced by their categories.")
	}
	return nil
}

func checkTaskCollectionKind(kind crm.PIMKind, href string) error {
	if kind != crm.PIMCalDAV && strings.TrimSpace(href) != "" {
		return invalid("options.task_collection", "options.task_collection is for caldav accounts: the calendar whose tasks are synced.")
	}
	return nil
}

// collectionKind is the kind of the collection an account of service svc
// syncs as options.collection.
func collectionKind(svc crm.PIMService) pim.CollectionKind {
	switch svc {
	case crm.ServiceContacts:
		return pim.Contacts
	case crm.ServiceTasks:
		return pim.Tasks
	}
	return pim.Events
}

// hrefOf cleans a collection given in a request: discovered DAV hrefs end
// with "/"; a provider's folder or list id is taken as it is.
func hrefOf(kind crm.PIMKind, s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !kind.SignedIn() && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

func hasCollection(avail []store.PIMCollection, kind pim.CollectionKind, href string) bool {
	return slices.ContainsFunc(avail, func(c store.PIMCollection) bool { return c.Kind == kind && c.Href == href })
}

// collectionHref returns the href of the collection of kind at path (with
// or without its final slash), or "".
func collectionHref(avail []store.PIMCollection, kind pim.CollectionKind, path string) string {
	p := strings.TrimSuffix(path, "/") + "/"
	for _, c := range avail {
		if c.Kind == kind && c.Href == p {
			return c.Href
		}
	}
	return ""
}

func firstCollection(avail []store.PIMCollection, kind pim.CollectionKind) string {
	for _, c := range avail {
		if c.Kind == kind {
			return c.Href
		}
	}
	return ""
}

// collectionChoice refuses a collection that is not among avail, listing
// those there are. hint ends the message when there are none to list.
func collectionChoice(field string, kind pim.CollectionKind, href string, avail []store.PIMCollection, hint string) error {
	if href == "" || hasCollection(avail, kind, href) {
		return nil
	}
	what := map[pim.CollectionKind]string{pim.Contacts: "address books", pim.Events: "calendars that hold events", pim.Tasks: "calendars that hold tasks"}[kind]
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
	if kind == pim.Tasks && hasCollection(avail, pim.Events, href) {
		// A calendar the server holds events in only: tasks put there
		// would be refused, one by one, and nothing would sync.
		if len(list) == 0 {
			return invalid(field, "The calendar %q chosen in %s does not accept tasks, and no calendar of this account does: leave %s empty to sync events alone, or create a task list on the server.", href, field, field)
		}
		return invalid(field, "The calendar %q chosen in %s does not accept tasks. Calendars that do: %s.", href, field, strings.Join(list, ", "))
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
func pickCollections(kind crm.PIMKind, svc crm.PIMService, o *crm.PIMOptions, avail []store.PIMCollection, accountURL string) {
	if o.Collection == "" {
		if u, err := url.Parse(accountURL); err == nil && !kind.SignedIn() {
			o.Collection = collectionHref(avail, collectionKind(svc), u.Path)
		}
		if o.Collection == "" {
			o.Collection = firstCollection(avail, collectionKind(svc))
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

// alreadyConnectedPIM refuses an account the user has connected.
func alreadyConnectedPIM(kind crm.PIMKind, username, u string) *Error {
	return conflict("url", "%s on %s is already connected (%s) for this user. To change its password or options, edit that account instead.", username, u, kind)
}

// checkPIMLogin checks the server, login and owner of a connection
// request.
func checkPIMLogin(v crm.Viewer, req PIMConnectionRequest) (kind crm.PIMKind, u string, ownerID int64, err error) {
	if kind, err = checkPIMKind(req.Kind); err != nil {
		return
	}
	if u, err = davURL(req.URL); err != nil {
		return
	}
	if req.Username == "" {
		err = required("username", "username is required and cannot be blank.")
		return
	}
	if ownerID, err = owner(v, req.UserID, "address book or calendar"); err != nil {
		return
	}
	if req.Password == "" {
		err = required("password", "password is required: the account's password (or an app password if your provider asks for one).")
	}
	return
}

// DiscoverPIM logs in to an address book or calendar server and lists its
// collections of the kinds an account of req.Kind syncs, saving nothing:
// the user chooses among them before connecting (ConnectPIM), so that the
// CRM's records never go to a collection they did not mean. The login
// counts against the same limits as ConnectPIM's.
func (s *Service) DiscoverPIM(ctx context.Context, v crm.Viewer, req PIMConnectionRequest) ([]store.PIMCollection, error) {
	kind, u, _, err := checkPIMLogin(v, req)
	if err != nil {
		return nil, err
	}
	if err := s.PIMEnabled(); err != nil {
		return nil, err
	}
	var avail []store.PIMCollection
	err = s.limitedLogin(ctx, v, pimLogin(u, req.Username), func() (err error) {
		avail, err = s.pim.Verify(ctx, kind, u, req.Username, req.Password)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []store.PIMCollection{}
	for _, c := range avail {
		if c.Kind == collectionKind(kind.DefaultService()) || (kind == crm.PIMCalDAV && c.Kind == pim.Tasks) {
			out = append(out, c)
		}
	}
	return out, nil
}

// ConnectPIM connects an address book or calendar server: it logs in and
// lists the collections before saving anything, stores the password
// sealed, and wakes the account's loop.
func (s *Service) ConnectPIM(ctx context.Context, v crm.Viewer, req PIMConnectionRequest) (crm.PIMAccount, error) {
	var a crm.PIMAccount
	kind, u, ownerID, err := checkPIMLogin(v, req)
	if err != nil {
		return a, err
	}
	ro := req.Options
	opts := crm.PIMOptions{Collection: hrefOf(kind, ro.Collection), TaskCollection: hrefOf(kind, ro.TaskCollection),
		ImportCategories: ro.ImportCategories, EventCategories: ro.EventCategories}
	if opts.ConflictPolicy, err = checkPolicy(ro.ConflictPolicy); err != nil {
		return a, err
	}
	if err := checkEventCategories(kind, kind.DefaultService(), ro.EventCategories); err != nil {
		return a, err
	}
	if err := checkTaskCollectionKind(kind, opts.TaskCollection); err != nil {
		return a, err
	}
	if err := s.PIMEnabled(); err != nil {
		return a, err
	}
	var avail []store.PIMCollection
	err = s.limitedLogin(ctx, v, pimLogin(u, req.Username), func() (err error) {
		avail, err = s.pim.Verify(ctx, kind, u, req.Username, req.Password)
		return err
	})
	if err != nil {
		return a, err // the connector's error, for the front end to show
	}
	if err := collectionChoice("options.collection", collectionKind(kind.DefaultService()), opts.Collection, avail, "."); err != nil {
		return a, err
	}
	if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, avail, "."); err != nil {
		return a, err
	}
	pickCollections(kind, kind.DefaultService(), &opts, avail, u)

	credID := newCredentialID()
	if err := s.storePassword(ctx, v.OrgID, credID, purposePIM, req.Password, s.pim.Seal); err != nil {
		return a, err
	}
	a, err = s.st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: ownerID, Kind: kind, URL: u, Username: req.Username,
		CredentialID: credID, Options: opts, State: crm.StateConnecting})
	if err != nil {
		_ = s.forgetPassword(ctx, v.OrgID, credID)
		if isDuplicate(err) {
			return a, alreadyConnectedPIM(kind, req.Username, u)
		}
		return a, err
	}
	s.waker.WakePIM(a.ID)
	return a, nil
}

// PIMAccountModificationRequest changes a PIM account's server, login or
// options. Nil fields stay as they are. Categories come normalised by the
// front end; a collection "" means one chosen here.
type PIMAccountModificationRequest struct {
	URL              *string
	Username         *string // trimmed and bounded by the front end
	Password         *string
	ConflictPolicy   *string
	ImportCategories *[]string
	EventCategories  *[]string
	Collection       *string
	TaskCollection   *string
}

// Validate checks the values of the request for an account of kind; the
// errors name the field.
func (r *PIMAccountModificationRequest) Validate(kind crm.PIMKind, svc crm.PIMService) error {
	if kind.SignedIn() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"url", r.URL != nil}, {"username", r.Username != nil}, {"password", r.Password != nil}} {
			if f.set {
				return invalid(f.name, "This account was connected by signing in with %s: it has no %s to change. To renew its access, sign in with %s again.", providerName(kind), f.name, providerName(kind))
			}
		}
	}
	if r.URL != nil {
		if _, err := davURL(*r.URL); err != nil {
			return err
		}
	}
	if r.Username != nil && *r.Username == "" {
		return required("username", "username is required and cannot be blank.")
	}
	if r.Password != nil && *r.Password == "" {
		return required("password", "password cannot be empty.")
	}
	if r.ConflictPolicy != nil {
		if _, err := checkPolicy(*r.ConflictPolicy); err != nil {
			return err
		}
	}
	if r.EventCategories != nil {
		if err := checkEventCategories(kind, svc, *r.EventCategories); err != nil {
			return err
		}
	}
	if r.TaskCollection != nil {
		return checkTaskCollectionKind(kind, *r.TaskCollection)
	}
	return nil
}

// Patch applies the request to a: only the fields given change. Call it
// on a valid request (Validate); an invalid value is left out.
func (r *PIMAccountModificationRequest) Patch(a *crm.PIMAccount) {
	if r.URL != nil {
		if u, err := davURL(*r.URL); err == nil {
			a.URL = u
		}
	}
	if r.Username != nil && *r.Username != "" {
		a.Username = *r.Username
	}
	o := &a.Options
	if r.ConflictPolicy != nil {
		if p, err := checkPolicy(*r.ConflictPolicy); err == nil {
			o.ConflictPolicy = p
		}
	}
	if r.ImportCategories != nil {
		o.ImportCategories = *r.ImportCategories
	}
	if r.EventCategories != nil {
		o.EventCategories = *r.EventCategories
	}
	if r.Collection != nil {
		o.Collection = hrefOf(a.Kind, *r.Collection)
	}
	if r.TaskCollection != nil {
		o.TaskCollection = hrefOf(a.Kind, *r.TaskCollection)
	}
}

// UpdatePIM changes an account's server, login or options. A new url,
// username or password is verified by logging in before it is saved, and
// the account reconnects; options alone change without a login, a
// collection then being checked against those the sync has listed.
func (s *Service) UpdatePIM(ctx context.Context, v crm.Viewer, id int64, req PIMAccountModificationRequest) (crm.PIMAccount, error) {
	if err := s.PIMEnabled(); err != nil {
		return crm.PIMAccount{}, err
	}
	a, err := s.st.GetPIMAccount(ctx, v, id)
	if err != nil {
		return a, err
	}
	if err := mayAct(v, a.UserID, "change the settings of", a.URL); err != nil {
		return a, err
	}
	if err := req.Validate(a.Kind, a.Service); err != nil {
		return a, err
	}
	patched := a
	req.Patch(&patched)
	if req.Password == nil && (patched.URL != a.URL || patched.Username != a.Username) {
		return a, required("password", "Give the password with a new url or username: crmsync logs in with them before saving.")
	}
	opts := &patched.Options
	reconnect := req.Password != nil
	if reconnect {
		var avail []store.PIMCollection
		err := s.limitedLogin(ctx, v, pimLogin(patched.URL, patched.Username), func() (err error) {
			avail, err = s.pim.Verify(ctx, a.Kind, patched.URL, patched.Username, *req.Password)
			return err
		})
		if err != nil {
			return a, err
		}
		if err := collectionChoice("options.collection", collectionKind(a.Service), opts.Collection, avail, "."); err != nil {
			if req.Collection != nil {
				return a, err
			}
			opts.Collection = "" // gone from the server (or another server): pick again
		}
		if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, avail, "."); err != nil {
			if req.TaskCollection != nil {
				return a, err
			}
			opts.TaskCollection = ""
		}
		pickCollections(a.Kind, a.Service, opts, avail, patched.URL)
	} else if req.Collection != nil || req.TaskCollection != nil {
		known, err := s.knownCollections(ctx, a, opts)
		if err != nil {
			return a, err
		}
		hint := " crmsync knows of yet. Send password too: crmsync then logs in and lists them."
		if a.Kind.SignedIn() {
			hint = fmt.Sprintf(" crmsync could list. If you just created it, try again in a moment; if %s no longer lets crmsync in, sign in again.", providerName(a.Kind))
		}
		if req.Collection != nil {
			if err := collectionChoice("options.collection", collectionKind(a.Service), opts.Collection, known, hint); err != nil {
				return a, err
			}
		}
		if req.TaskCollection != nil {
			if err := collectionChoice("options.task_collection", "tasks", opts.TaskCollection, known, hint); err != nil {
				return a, err
			}
		}
		pickCollections(a.Kind, a.Service, opts, known, patched.URL)
	}

	credID := a.CredentialID
	if reconnect {
		if credID == "" {
			credID = newCredentialID()
		}
		if err := s.storePassword(ctx, v.OrgID, credID, purposePIM, *req.Password, s.pim.Seal); err != nil {
			return a, err
		}
	}
	a, err = s.st.UpdatePIMAccount(ctx, v, id, func(x *crm.PIMAccount) error {
		x.URL, x.Username, x.Options = patched.URL, patched.Username, patched.Options
		if reconnect {
			// Try again now: the user has acted.
			x.CredentialID = credID
			x.State, x.ErrorCode, x.ErrorMessage, x.Failures, x.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
		}
		return nil
	})
	if err != nil {
		if isDuplicate(err) {
			return a, alreadyConnectedPIM(patched.Kind, patched.Username, patched.URL)
		}
		return a, err
	}
	s.waker.WakePIM(a.ID)
	return a, nil
}

// SyncPIMNow asks for a sync now: the account is marked, so that whichever
// process runs its loop syncs it at once, and this process's loop is
// woken.
func (s *Service) SyncPIMNow(ctx context.Context, v crm.Viewer, id int64) (crm.PIMAccount, error) {
	if err := s.PIMEnabled(); err != nil {
		return crm.PIMAccount{}, err
	}
	a, err := s.st.UpdatePIMAccount(ctx, v, id, func(a *crm.PIMAccount) error {
		if err := mayAct(v, a.UserID, "sync", a.URL); err != nil {
			return err
		}
		a.SyncRequested = true
		return nil
	})
	if err != nil {
		return a, err
	}
	s.waker.WakePIM(a.ID)
	return a, nil
}

// DeletePIM stops an account's sync and forgets it: its collections,
// mappings, history and password. Nothing is deleted on the server, and
// the CRM records it brought in stay, so there is nothing to confirm.
func (s *Service) DeletePIM(ctx context.Context, v crm.Viewer, id int64) error {
	a, err := s.st.GetPIMAccount(ctx, v, id)
	if err != nil {
		return err
	}
	if err := mayAct(v, a.UserID, "delete", a.URL); err != nil {
		return err
	}
	if err := s.st.DeletePIMAccount(ctx, v, id); err != nil {
		return err
	}
	if a.CredentialID != "" {
		// The account is gone either way; a password left behind is only
		// logged (it is sealed, and nothing refers to it any more).
		if err := s.forgetPassword(ctx, v.OrgID, a.CredentialID); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "deleting the credential of a deleted PIM account failed",
				slog.Int64("account_id", a.ID), slog.Any("err", err))
		}
	}
	return nil
}

// maxManagerChain bounds the walk up a record owner's managers.
const maxManagerChain = 32

// RecordChanged wakes, in this process, the PIM loops that sync a record
// of owner's: the owner's own accounts and those of the managers above
// them (a manager's address book holds their reports' contacts), so a
// change made in the CRM reaches the address book now rather than at the
// next poll. It is best effort: a failure to look the accounts up only
// delays the sync.
func (s *Service) RecordChanged(ctx context.Context, orgID, owner int64) {
	if _, none := s.waker.(noWaker); none {
		return
	}
	all := crm.Viewer{OrgID: orgID, Role: crm.RoleAdmin}
	seen := map[int64]bool{}
	for uid := owner; uid != 0 && !seen[uid] && len(seen) < maxManagerChain; {
		seen[uid] = true
		p, err := s.st.ListPIMAccounts(ctx, all, store.PIMAccountFilter{UserID: &uid, ListParams: store.ListParams{Limit: store.MaxLimit}})
		if err == nil {
			for _, a := range p.Items {
				s.waker.WakePIM(a.ID)
			}
		}
		u, err := s.st.GetUser(ctx, orgID, uid)
		if err != nil || u.ManagerID == nil {
			return
		}
		uid = *u.ManagerID
	}
}
