package web

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/store"
)

// The user's "Email settings" (the seeds' Menu > Settings > Email
// settings): the mailboxes connected, each with its true state as it
// changes, connecting one (signing in with a provider, or an address and
// a password with the settings autoconfiguration found), and for each
// its settings, password, mode, sync now, history and disconnection. The
// admin's page sets the organisation's mail service, after which users
// give only their password. Every change is a call to the accounts
// service, the one the REST API's mail endpoints call.

// mailRoutes registers the pages of this area (see routes in web.go).
func (s *Server) mailRoutes() {
	s.authed("GET /settings/email", s.mailList)
	s.authed("GET /settings/email/new", s.mailNew)
	s.authed("POST /settings/email/new", s.mailNewSubmit)
	s.authed("POST /settings/email", s.mailConnect)
	s.authed("GET /settings/email/new/signin/{provider}", s.mailSignIn)
	s.authed("GET /settings/email/{id}", s.mailAccount)
	s.authed("GET /settings/email/{id}/state", s.mailState)
	s.authed("POST /settings/email/{id}", s.mailUpdate)
	s.authed("POST /settings/email/{id}/sync", s.mailSyncNow)
	s.authed("POST /settings/email/{id}/disconnect", s.mailDisconnect)
	s.admin("GET /admin/mail-service", s.mailServicePage)
	s.admin("POST /admin/mail-service", s.mailServiceSubmit)
	s.admin("POST /admin/mail-service/remove", s.mailServiceRemove)
}

// Live states are fetched this often: quickly while something moves,
// slowly while the account waits (a failure may still appear).
const (
	liveBusy = 2000 // ms
	liveIdle = 5000
)

// mailView is a mailbox as the pages show it: its true state
// (accounts.MailStatus, MailProgress) in the user's words, and for a
// failure the one action that fixes it.
type mailView struct {
	A     crm.MailAccount
	State crm.AccountState
	// StateText names the state; Progress and ProgressText say how far
	// the first sync is ("1,234 of 5,000 messages").
	StateText    string
	Progress     *accounts.Progress
	ProgressBar  bool
	ProgressText string
	LastSync     string
	// Problem is the failure's words (the catalogue's code.<code>), Wait
	// when the next attempt is, Action what the user does about it.
	Problem string
	Wait    string
	Action  *mailAction
	Dropbox string
	// SignedIn is the provider the mailbox was connected by signing in
	// with ("Microsoft"), "" for IMAP.
	SignedIn string
	Every    int
}

// mailAction is a banner's one action: a link, or a button posting to
// URL (sync now).
type mailAction struct {
	Label string
	URL   string
	Post  bool
}

// busy reports states where something moves on its own.
func busy(st crm.AccountState) bool {
	return st == crm.StateConnecting || st == crm.StateInitialSync || st == crm.StateSyncing
}

func (s *Server) mailView(p *Page, a crm.MailAccount) mailView {
	pr := p.P
	v := mailView{A: a, Dropbox: s.cfg.Accounts.DropboxAddress(a), Every: liveIdle}
	var fail *accounts.Failure
	v.State, fail = accounts.MailStatus(a)
	v.Progress = accounts.MailProgress(a)
	if busy(v.State) {
		v.Every = liveBusy
	}
	if k := crm.PIMKind(a.Provider); k.SignedIn() {
		v.SignedIn = providerDisplay(string(k))
	}
	v.StateText = pr.T("mail.state." + string(v.State))
	if a.Mode == crm.ModeForward && v.State == crm.StateSynced {
		v.StateText = pr.T("mail.state.forwarding")
	}
	if v.Progress != nil {
		v.ProgressBar = v.State == crm.StateInitialSync
		if v.Progress.Total > 0 {
			v.ProgressText = pr.N("mail.progress", int(v.Progress.Total), "Done", pr.Number(int(v.Progress.Done)))
		} else {
			v.ProgressText = pr.T("mail.progress_counting")
		}
	}
	if a.LastSyncAt != nil {
		v.LastSync = pr.T("mail.last_sync", "When", pr.DateTime(*a.LastSyncAt))
	}
	id := strconv.FormatInt(a.ID, 10)
	syncNow := func(label string) *mailAction {
		return &mailAction{Label: pr.T(label), URL: "/settings/email/" + id + "/sync", Post: true}
	}
	if v.State == crm.StateDisconnected {
		if a.RetainedUntil != nil {
			v.Wait = pr.T("mail.kept_until", "Date", pr.Date(*a.RetainedUntil))
		}
		v.Action = &mailAction{Label: pr.T("mail.action.connect_again"), URL: "/settings/email/new?email=" + a.Email}
		return v
	}
	if fail == nil {
		return v
	}
	v.Problem = pr.Coded(fail.Code, fail.Message)
	switch fail.Code {
	case "auth_failed":
		if v.SignedIn != "" {
			v.Problem = pr.T("mail.signin_expired", "Provider", v.SignedIn)
			v.Action = &mailAction{Label: pr.T("mail.action.signin_again"), URL: "/settings/email/new/signin/" + a.Provider}
		} else {
			v.Action = &mailAction{Label: pr.T("mail.action.reconnect"), URL: "/settings/email/" + id + "#reconnect"}
		}
	case "provider_blocked":
		v.Action = syncNow("mail.action.enable_imap")
	case "throttled":
		// Nothing to click: the provider said when.
	case "tls_error", "destination_not_allowed", "gone":
		v.Action = &mailAction{Label: pr.T("mail.action.edit"), URL: "/settings/email/" + id + "#settings"}
	case "quota_exceeded":
		v.Action = syncNow("mail.action.free_space")
	default:
		v.Action = syncNow("mail.action.try_now")
	}
	// When the provider or the network is what fails, say when crmsync
	// tries again.
	if now := s.cfg.Now(); a.NextAttemptAt != nil && a.NextAttemptAt.After(now) {
		switch fail.Code {
		case "throttled":
			v.Wait = pr.T("mail.wait_until", "When", whenWords(pr, *a.NextAttemptAt, now))
		case "unreachable":
			v.Wait = pr.T("mail.retry_at", "When", whenWords(pr, *a.NextAttemptAt, now))
		}
	}
	return v
}

// whenWords is a time of day, with its day when it is not today.
func whenWords(pr *i18n.Printer, t, now time.Time) string {
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return pr.Time(t)
	}
	return pr.DateTime(t)
}

// providerDisplay is a sign-in provider's name for people.
func providerDisplay(provider string) string {
	switch provider {
	case "microsoft":
		return "Microsoft"
	case "google":
		return "Google"
	}
	return provider
}

type mailListData struct {
	Accounts []mailView
}

func (s *Server) mailList(p *Page) error {
	mine := p.User.ID
	f := store.MailAccountFilter{UserID: &mine, ListParams: store.ListParams{Limit: store.MaxLimit}}
	var d mailListData
	for {
		page, err := s.cfg.Store.ListMailAccounts(p.Ctx(), p.Viewer, f)
		if err != nil {
			return err
		}
		for _, a := range page.Items {
			d.Accounts = append(d.Accounts, s.mailView(p, a))
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	return p.Render("mail", d)
}

// mailAccountOf is the mailbox of the path's id, if the user may see it.
func (s *Server) mailAccountOf(p *Page) (crm.MailAccount, error) {
	id, err := strconv.ParseInt(p.R.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return crm.MailAccount{}, ErrNotFound
	}
	return s.cfg.Store.GetMailAccount(p.Ctx(), p.Viewer, id)
}

// mailState is a mailbox's live state, the fragment the page's script
// swaps in.
func (s *Server) mailState(p *Page) error {
	a, err := s.mailAccountOf(p)
	if err != nil {
		return err
	}
	p.W.Header().Set("Cache-Control", "no-store")
	return p.RenderPartial("mail", "mail_state_fragment", s.mailView(p, a))
}

// mailFailure is what a page says of a refusal of the accounts service
// or of the mail server (a login refused before anything was saved), in
// the user's language where the catalogue has the code; nil for an
// error that is no refusal (a 404, a failure of ours).
func mailFailure(p *Page, err error) *string {
	var fe *accounts.FieldError
	var ae *accounts.Error
	var te *accounts.TooManyAttemptsError
	var msg string
	switch ce := connerr.As(err); {
	case errors.As(err, &te):
		msg = p.P.T("mail.too_many", "Wait", waitWords(p.P, te.RetryAfter))
	case ce != nil:
		msg = p.P.Coded(string(ce.Kind), connerr.Message(ce))
	case errors.As(err, &fe):
		msg = p.P.Coded(fe.Code, fe.Message)
		if fe.Code == accounts.CodeRequired || fe.Code == accounts.CodeInvalidValue {
			msg = fe.Message
		}
	case errors.As(err, &ae):
		if errors.Is(ae, accounts.ErrUnavailable) {
			msg = p.P.T("mail.unavailable")
		} else {
			msg = ae.Message
		}
	default:
		return nil
	}
	return &msg
}

// mailPath is an account's page.
func mailPath(id int64) string { return fmt.Sprintf("/settings/email/%d", id) }
