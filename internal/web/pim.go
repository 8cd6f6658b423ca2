package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// The "Address book and calendar" pages: the user's PIM accounts (CardDAV,
// CalDAV, and the Microsoft and Google services signed in with), each
// with its live state, counts, item errors and history; connecting a DAV
// server, choosing what is synced and how conflicts are decided, syncing
// now, removing. Every action is a call to accounts.Service, as the REST
// API's /api/v1/pim-accounts handlers make; the views are the service's
// (accounts.PIMView), so the page and the API show the same truth.

// pimRoutes registers the pages of this area (see routes in web.go).
func (s *Server) pimRoutes() {
	s.authed("GET /settings/pim", s.pimList)
	s.authed("POST /settings/pim", s.pimConnect)
	s.authed("POST /settings/pim/collections", s.pimDiscover)
	s.authed("POST /settings/pim/signed-in", s.pimConnectSignedIn)
	s.authed("GET /settings/pim/{id}", s.pimAccount)
	s.authed("POST /settings/pim/{id}", s.pimUpdate)
	s.authed("GET /settings/pim/{id}/live", s.pimLive)
	s.authed("POST /settings/pim/{id}/sync", s.pimSync)
	s.authed("POST /settings/pim/{id}/delete", s.pimDelete)
}

// pimListData is the list page: the accounts, and the connection form.
type pimListData struct {
	Accounts []pimState
	Enabled  bool
	Form     pimForm
	// SignIns are the user's sign-ins with Microsoft or Google that have
	// services not connected (accounts.Service.PIMSignIns).
	SignIns []pimSignIn
}

type pimSignIn struct {
	Kind, Email, Provider string
	Services              []pimOption // value: the service; label: its name
}

// pimForm is the connection form, as sent (shown again when refused).
type pimForm struct {
	Kind             string
	URL              string
	Username         string
	Policy           string
	ImportCategories string
	EventCategories  string
	Policies         []pimPolicy
	Errors           map[string]string
	// Error is a refusal of the whole form (the server's login failed).
	Error string
}

type pimPolicy struct {
	Value, Label, Hint string
	Checked            bool
}

func pimPolicies(p *Page, chosen string) []pimPolicy {
	if chosen == "" {
		chosen = string(pim.NewestWins)
	}
	out := make([]pimPolicy, 0, len(pim.Policies))
	for _, pol := range pim.Policies {
		v := string(pol)
		out = append(out, pimPolicy{Value: v, Label: p.P.T("pim.policy." + v), Hint: p.P.T("pim.policy." + v + ".hint"), Checked: v == chosen})
	}
	return out
}

func (s *Server) pimList(p *Page) error {
	return s.renderPIMList(p, http.StatusOK, pimForm{Kind: string(crm.PIMCardDAV)})
}

func (s *Server) renderPIMList(p *Page, status int, f pimForm) error {
	uid := p.User.ID
	page, err := s.cfg.Store.ListPIMAccounts(p.Ctx(), p.Viewer, store.PIMAccountFilter{UserID: &uid, ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		return err
	}
	d := pimListData{Enabled: s.cfg.Accounts.PIMEnabled() == nil, Form: f}
	d.Form.Policies = pimPolicies(p, f.Policy)
	ins, err := s.cfg.Accounts.PIMSignIns(p.Ctx(), p.Viewer)
	if err != nil {
		return err
	}
	for _, in := range ins {
		if len(in.Missing) == 0 {
			continue
		}
		si := pimSignIn{Kind: string(in.Kind), Email: in.Email, Provider: p.P.T("pim.kind." + string(in.Kind))}
		for _, svc := range in.Missing {
			si.Services = append(si.Services, pimOption{Value: string(svc), Label: p.P.T("pim.service." + string(svc))})
		}
		d.SignIns = append(d.SignIns, si)
	}
	for _, a := range page.Items {
		v, err := s.cfg.Accounts.PIMView(p.Ctx(), a)
		if err != nil {
			return err
		}
		d.Accounts = append(d.Accounts, pimStateOf(p, v, false))
	}
	return p.RenderStatus(status, "pim", d)
}

// pimID reads the account id of the path; a malformed one is a page that
// does not exist.
func pimID(p *Page) (int64, error) {
	id, err := strconv.ParseInt(p.R.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrNotFound
	}
	return id, nil
}

// connectionRequest reads the server and login fields of the form.
func connectionRequest(p *Page) accounts.PIMConnectionRequest {
	f := p.R.PostFormValue
	return accounts.PIMConnectionRequest{Kind: f("kind"), URL: strings.TrimSpace(f("url")),
		Username: strings.TrimSpace(f("username")), Password: f("password")}
}

func (s *Server) pimConnect(p *Page) error {
	f := p.R.PostFormValue
	form := pimForm{Kind: f("kind"), URL: f("url"), Username: f("username"), Policy: f("conflict_policy"),
		ImportCategories: f("import_categories"), EventCategories: f("event_categories"), Errors: map[string]string{}}
	req := connectionRequest(p)
	req.Options = accounts.PIMOptionsRequest{ConflictPolicy: form.Policy, Collection: f("collection"), TaskCollection: f("task_collection")}
	var err error
	if req.Options.ImportCategories, err = pimCategories(p, form.ImportCategories, true); err != nil {
		form.Errors["import_categories"] = err.Error()
	}
	if req.Options.EventCategories, err = pimCategories(p, form.EventCategories, false); err != nil {
		form.Errors["event_categories"] = err.Error()
	}
	if len(form.Errors) > 0 {
		return s.renderPIMList(p, http.StatusUnprocessableEntity, form)
	}
	a, err := s.cfg.Accounts.ConnectPIM(p.Ctx(), p.Viewer, req)
	if err != nil {
		if !pimRefusal(p, err, form.Errors, &form.Error) {
			return err
		}
		return s.renderPIMList(p, http.StatusUnprocessableEntity, form)
	}
	p.Flash("pim.connected")
	p.Redirect("/settings/pim/" + strconv.FormatInt(a.ID, 10))
	return nil
}

// pimConnectSignedIn connects a service of a sign-in with Microsoft or
// Google (accounts.Service.ConnectSignedInPIM).
func (s *Server) pimConnectSignedIn(p *Page) error {
	f := p.R.PostFormValue
	a, err := s.cfg.Accounts.ConnectSignedInPIM(p.Ctx(), p.Viewer, crm.PIMKind(f("kind")), f("email"), crm.PIMService(f("service")))
	if err != nil {
		form := pimForm{Kind: string(crm.PIMCardDAV), Errors: map[string]string{}}
		if !pimRefusal(p, err, form.Errors, &form.Error) {
			return err
		}
		for _, m := range form.Errors {
			form.Error = m
		}
		return s.renderPIMList(p, http.StatusUnprocessableEntity, form)
	}
	p.Flash("pim.connected")
	p.Redirect("/settings/pim/" + strconv.FormatInt(a.ID, 10))
	return nil
}

// pimCollectionsData is the fragment that lists a server's collections
// for the connection form to choose among.
type pimCollectionsData struct {
	Kind        string
	Collections []pimOption
	Tasks       []pimOption
	Error       string
}

type pimOption struct {
	Value, Label string
	Selected     bool
}

// pimDiscover logs in with the connection form's fields and answers the
// choice of collection (accounts.Service.DiscoverPIM); app.js swaps it in
// (data-swap). Nothing is saved.
func (s *Server) pimDiscover(p *Page) error {
	req := connectionRequest(p)
	d := pimCollectionsData{Kind: req.Kind}
	cols, err := s.cfg.Accounts.DiscoverPIM(p.Ctx(), p.Viewer, req)
	if err != nil {
		errs := map[string]string{}
		if !pimRefusal(p, err, errs, &d.Error) {
			return err
		}
		for _, m := range errs {
			d.Error = m
		}
	}
	for _, c := range cols {
		o := pimOption{Value: c.Href, Label: collectionLabel(c)}
		if c.Kind == pim.Tasks {
			d.Tasks = append(d.Tasks, o)
		} else {
			d.Collections = append(d.Collections, o)
		}
	}
	if len(d.Collections) > 0 {
		d.Collections[0].Selected = true
	}
	p.W.Header().Set("Cache-Control", "no-store")
	return p.RenderPartial("pim", "pim_collections", d)
}

func collectionLabel(c store.PIMCollection) string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.Href
}

// pimRefusal turns the service's refusal into words of the form: beside
// the field at fault (errs, by form field) or for the whole form (whole).
// It reports false for an error that is not a refusal.
func pimRefusal(p *Page, err error, errs map[string]string, whole *string) bool {
	var fe *accounts.FieldError
	var ae *accounts.Error
	var te *accounts.TooManyAttemptsError
	switch {
	case errors.As(err, &te):
		*whole = p.P.T("pim.error.too_many", "Wait", waitWords(p.P, te.RetryAfter))
	case connerr.As(err) != nil:
		e := connerr.As(err)
		if id := "pim.error." + string(e.Kind); i18n.Has(id) {
			*whole = p.P.T(id)
		} else {
			*whole = p.P.Coded(string(e.Kind), connerr.Message(e))
		}
	case errors.As(err, &fe):
		field := formField(fe.Field)
		switch {
		case fe.Code == accounts.CodeRequired && i18n.Has("pim.required."+field):
			errs[field] = p.P.T("pim.required." + field)
		case fe.Code == accounts.CodePlaintextRefused:
			errs[field] = p.P.T("pim.error.plaintext")
		default:
			errs[field] = p.P.Coded(fe.Code, fe.Message)
		}
	case errors.As(err, &ae):
		if errors.Is(err, accounts.ErrForbidden) {
			*whole = p.P.T("error.forbidden")
		} else if errors.Is(err, accounts.ErrConflict) && ae.Field == "url" {
			*whole = p.P.T("pim.error.already")
		} else {
			*whole = ae.Message
		}
	default:
		return false
	}
	return true
}

// formField is the form's name of a field the service names.
func formField(f string) string {
	f = strings.TrimPrefix(f, "options.")
	if i := strings.IndexByte(f, '['); i >= 0 {
		f = f[:i]
	}
	return f
}

// pimCategories reads a list of categories typed with commas, normalised
// by the rules every record's categories follow (crm.NormalizeCategory);
// an import filter may not name one of the categories crmsync sets itself
// (pim.IsFixed), which are never imported.
func pimCategories(p *Page, typed string, imports bool) ([]string, error) {
	out := []string{}
	for _, raw := range strings.Split(typed, ",") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		c, err := crm.NormalizeCategory(raw)
		if err != nil {
			return nil, errors.New(p.P.T("pim.error.category_long", "Name", strings.TrimSpace(raw), "Max", crm.MaxName))
		}
		if imports && pim.IsFixed(c) {
			return nil, errors.New(p.P.T("pim.error.category_fixed", "Name", c))
		}
		if !containsFold(out, c) {
			out = append(out, c)
		}
	}
	if len(out) > crm.MaxListItems {
		return nil, errors.New(p.P.T("pim.error.category_many", "Max", crm.MaxListItems))
	}
	return out, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// pimAccountData is an account's page: its live state, its settings.
type pimAccountData struct {
	State    pimState
	Account  crm.PIMAccount
	SignedIn bool
	// CollectionLabel names what options.collection is for this account
	// (address book, calendar, task list).
	CollectionLabel string
	Collections     []pimOption
	Tasks           []pimOption // a CalDAV account's task lists
	Policies        []pimPolicy
	Categories      []pimCategoryChoice
	OtherImports    string
	// EventCategories is shown for calendars whose events have
	// categories.
	ShowEventCategories bool
	EventCategories     string
	URL, Username       string
	Errors              map[string]string
	Error               string
}

type pimCategoryChoice struct {
	ID, Name string
	Items    int
	Checked  bool
}

func (s *Server) pimAccount(p *Page) error {
	id, err := pimID(p)
	if err != nil {
		return err
	}
	a, err := s.cfg.Store.GetPIMAccount(p.Ctx(), p.Viewer, id)
	if err != nil {
		return err
	}
	d, err := s.pimAccountForm(p, a, a.Options)
	if err != nil {
		return err
	}
	return p.Render("pim_account", d)
}

// pimAccountForm fills the account page with opts as the form's values.
func (s *Server) pimAccountForm(p *Page, a crm.PIMAccount, opts crm.PIMOptions) (pimAccountData, error) {
	v, err := s.cfg.Accounts.PIMView(p.Ctx(), a)
	if err != nil {
		return pimAccountData{}, err
	}
	d := pimAccountData{State: pimStateOf(p, v, true), Account: a, SignedIn: a.Kind.SignedIn(), URL: a.URL, Username: a.Username,
		Policies: pimPolicies(p, opts.ConflictPolicy), Errors: map[string]string{},
		CollectionLabel: p.P.T("pim.collection." + string(a.Service))}
	cols, err := s.cfg.Accounts.PIMCollectionChoices(p.Ctx(), p.Viewer, a.ID)
	if err != nil {
		return d, err
	}
	want := map[crm.PIMService]pim.CollectionKind{crm.ServiceContacts: pim.Contacts, crm.ServiceCalendar: pim.Events, crm.ServiceTasks: pim.Tasks}[a.Service]
	for _, c := range cols {
		if c.Kind == want {
			d.Collections = append(d.Collections, pimOption{Value: c.Href, Label: collectionLabel(c), Selected: c.Href == opts.Collection})
		}
		if a.Kind == crm.PIMCalDAV && c.Kind == pim.Tasks {
			d.Tasks = append(d.Tasks, pimOption{Value: c.Href, Label: collectionLabel(c), Selected: c.Href == opts.TaskCollection})
		}
	}
	cats, err := s.cfg.Accounts.PIMCategories(p.Ctx(), p.Viewer, a.ID)
	if err != nil {
		return d, err
	}
	var others []string
	for i, c := range cats.Categories {
		if c.Fixed {
			continue
		}
		d.Categories = append(d.Categories, pimCategoryChoice{ID: "import-" + strconv.Itoa(i), Name: c.Name, Items: c.Items, Checked: containsFold(opts.ImportCategories, c.Name)})
	}
	for _, name := range opts.ImportCategories {
		known := false
		for _, c := range d.Categories {
			known = known || strings.EqualFold(c.Name, name)
		}
		if !known {
			others = append(others, name)
		}
	}
	d.OtherImports = strings.Join(others, ", ")
	d.ShowEventCategories = a.Service == crm.ServiceCalendar && a.Kind != crm.PIMGoogle
	d.EventCategories = strings.Join(opts.EventCategories, ", ")
	return d, nil
}

func (s *Server) pimUpdate(p *Page) error {
	id, err := pimID(p)
	if err != nil {
		return err
	}
	a, err := s.cfg.Store.GetPIMAccount(p.Ctx(), p.Viewer, id)
	if err != nil {
		return err
	}
	f := p.R.PostFormValue
	errs := map[string]string{}
	var req accounts.PIMAccountModificationRequest
	policy := f("conflict_policy")
	req.ConflictPolicy = &policy
	imports := p.R.PostForm["import"]
	typed, err := pimCategories(p, f("import_other"), true)
	if err != nil {
		errs["import_categories"] = err.Error()
	}
	all, err := pimCategories(p, strings.Join(append(imports, typed...), ","), true)
	if err != nil && errs["import_categories"] == "" {
		errs["import_categories"] = err.Error()
	}
	req.ImportCategories = &all
	if a.Service == crm.ServiceCalendar && a.Kind != crm.PIMGoogle {
		ev, err := pimCategories(p, f("event_categories"), false)
		if err != nil {
			errs["event_categories"] = err.Error()
		}
		req.EventCategories = &ev
	}
	if c := f("collection"); c != "" && c != a.Options.Collection {
		req.Collection = &c
	}
	if c := f("task_collection"); a.Kind == crm.PIMCalDAV && c != "" && c != a.Options.TaskCollection {
		req.TaskCollection = &c
	}
	if !a.Kind.SignedIn() {
		if u := strings.TrimSpace(f("url")); u != a.URL {
			req.URL = &u
		}
		if u := strings.TrimSpace(f("username")); u != a.Username {
			req.Username = &u
		}
		if pw := f("password"); pw != "" {
			req.Password = &pw
		}
	}
	var whole string
	if len(errs) == 0 {
		if _, err = s.cfg.Accounts.UpdatePIM(p.Ctx(), p.Viewer, id, req); err == nil {
			p.Flash("pim.saved")
			p.Redirect("/settings/pim/" + strconv.FormatInt(id, 10))
			return nil
		}
		if errors.Is(err, store.ErrNotFound) || !pimRefusal(p, err, errs, &whole) {
			return err
		}
	}
	// Shown again as sent, with what was refused.
	sent := a.Options
	sent.ConflictPolicy = policy
	sent.ImportCategories = imports
	if req.EventCategories != nil {
		sent.EventCategories = *req.EventCategories
	}
	if req.Collection != nil {
		sent.Collection = *req.Collection
	}
	if req.TaskCollection != nil {
		sent.TaskCollection = *req.TaskCollection
	}
	d, err := s.pimAccountForm(p, a, sent)
	if err != nil {
		return err
	}
	d.Errors, d.Error = errs, whole
	d.URL, d.Username = f("url"), f("username")
	if d.SignedIn {
		d.URL, d.Username = a.URL, a.Username
	}
	d.EventCategories = f("event_categories")
	d.OtherImports = f("import_other")
	return p.RenderStatus(http.StatusUnprocessableEntity, "pim_account", d)
}

// pimLive answers an account's live state: the fragment the page swaps in
// every few seconds (?full=1: with its item errors and history, for the
// account's own page).
func (s *Server) pimLive(p *Page) error {
	id, err := pimID(p)
	if err != nil {
		return err
	}
	a, err := s.cfg.Store.GetPIMAccount(p.Ctx(), p.Viewer, id)
	if err != nil {
		return err
	}
	v, err := s.cfg.Accounts.PIMView(p.Ctx(), a)
	if err != nil {
		return err
	}
	p.W.Header().Set("Cache-Control", "no-store")
	return p.RenderPartial("pim", "pim_state", pimStateOf(p, v, p.R.URL.Query().Get("full") == "1"))
}

func (s *Server) pimSync(p *Page) error {
	id, err := pimID(p)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Accounts.SyncPIMNow(p.Ctx(), p.Viewer, id); err != nil {
		return pimActionError(p, err)
	}
	p.Flash("pim.sync_requested")
	p.Redirect("/settings/pim/" + strconv.FormatInt(id, 10))
	return nil
}

func (s *Server) pimDelete(p *Page) error {
	id, err := pimID(p)
	if err != nil {
		return err
	}
	if err := s.cfg.Accounts.DeletePIM(p.Ctx(), p.Viewer, id); err != nil {
		return pimActionError(p, err)
	}
	p.Flash("pim.removed")
	p.Redirect("/settings/pim")
	return nil
}

// pimActionError is the error page of a refused button (sync, remove).
func pimActionError(p *Page, err error) error {
	var whole string
	if errors.Is(err, store.ErrNotFound) || !pimRefusal(p, err, map[string]string{}, &whole) {
		return err
	}
	if errors.Is(err, accounts.ErrForbidden) {
		return ErrForbidden
	}
	return &FormError{Message: whole}
}
