package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// MailConnector is what the mail endpoints need of the outside world:
// what connecting a mailbox needs (accounts.MailConnector: discovery, a
// real login before anything is saved, sealing the password), and
// attachment contents fetched from the server on demand. cmd/crmsync
// wires the real one (IMAP, SMTP, autoconfig, secret); tests may wire
// fakes or the real one against Dovecot.
type MailConnector interface {
	accounts.MailConnector
	// Attachment streams attachment index of a stored email into w.
	Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error
}

// Discovery is what autoconfiguration found for an address.
type Discovery = accounts.Discovery

// ErrSettingsNotFound is what Discover returns when nothing is found.
var ErrSettingsNotFound = accounts.ErrSettingsNotFound

// ServerSettingsRequest is an IMAP or SMTP server in a request.
type ServerSettingsRequest = accounts.ServerSettingsRequest

// MailAccountCreationRequest is the body of POST /api/v1/mail-accounts.
type MailAccountCreationRequest struct {
	Email    string                 `json:"email"`
	Password string                 `json:"password"`
	Mode     string                 `json:"mode"`
	UserID   *int64                 `json:"user_id"`
	IMAP     *ServerSettingsRequest `json:"imap"`
	SMTP     *ServerSettingsRequest `json:"smtp"`
	// AllowPlaintext lets the password travel unencrypted to a non-local
	// server; admins only.
	AllowPlaintext bool `json:"allow_plaintext"`
}

// MailAccountUpdateRequest is the body of PATCH /api/v1/mail-accounts/{id}:
// new credentials or settings ("reconnect after incorrect password"), or
// a new mode (sync or forward).
type MailAccountUpdateRequest struct {
	Password       Opt[string]                 `json:"password"`
	IMAP           Opt[ServerSettingsRequest]  `json:"imap"`
	SMTP           Opt[*ServerSettingsRequest] `json:"smtp"`
	AllowPlaintext Opt[bool]                   `json:"allow_plaintext"`
	Mode           Opt[string]                 `json:"mode"`
}

// MailServiceRequest is the body of PUT /api/v1/org/mail-service.
type MailServiceRequest struct {
	Kind           string                 `json:"kind"`
	IMAP           *ServerSettingsRequest `json:"imap"`
	SMTP           *ServerSettingsRequest `json:"smtp"`
	AllowPlaintext bool                   `json:"allow_plaintext"`
}

// FolderSelectionRequest is the body of PUT /api/v1/mail-accounts/{id}/folders.
type FolderSelectionRequest struct {
	Folders []string `json:"folders"`
}

// mailAccountView is an account as the user sees it: its true state.
type mailAccountView struct {
	crm.MailAccount
	Progress   *progressView `json:"progress,omitempty"`
	Error      *errorView    `json:"error,omitempty"`
	CanSend    bool          `json:"can_send"`
	SendStatus string        `json:"send_status,omitempty"`
	// DropboxAddress is where a forwarding-mode mailbox's mail is
	// forwarded to; DropboxStatus says what the dropbox is doing.
	DropboxAddress string `json:"dropbox_address,omitempty"`
	DropboxStatus  string `json:"dropbox_status,omitempty"`
	Audit          string `json:"audit,omitempty"`
	// Folders are the first viewFolders of the account's folders (those
	// synced first, then by name); FolderCount says how many there are in
	// all, listed page by page at GET …/folders.
	Folders     []folderView         `json:"folders"`
	FolderCount int                  `json:"folder_count"`
	History     []store.AccountEvent `json:"history"`
}

// viewFolders is how many folders an account's view embeds: a mailbox
// with thousands of folders answers in kilobytes, not megabytes.
const viewFolders = 100

type folderView struct {
	Name           string `json:"name"`
	Role           string `json:"role,omitempty"`
	Selected       bool   `json:"selected"`
	Messages       int64  `json:"messages"`
	ServerMessages int64  `json:"server_messages"`
	Missing        int64  `json:"missing,omitempty"`
}

func (s *Server) mailAccountView(ctx context.Context, a crm.MailAccount) (mailAccountView, error) {
	// A forwarding-mode mailbox keeps its servers (to switch back) but
	// sends nothing.
	v := mailAccountView{MailAccount: a, CanSend: a.Mode == crm.ModeSync && a.HasSubmission(), Audit: a.Audit}
	if !v.CanSend && a.Mode == crm.ModeSync {
		v.SendStatus = "No SMTP server is set for this mailbox: it syncs, but mail cannot be sent from crmsync. Add SMTP settings to send."
	}
	v.Progress = accounts.MailProgress(a)
	v.State, v.Error = accounts.MailStatus(a)
	var counts map[string]int64
	var err error
	if v.Folders, counts, err = s.folderViews(ctx, a.ID); err != nil {
		return v, err
	}
	v.FolderCount = len(v.Folders)
	if len(v.Folders) > viewFolders {
		slices.SortStableFunc(v.Folders, func(a, b folderView) int {
			switch {
			case a.Selected == b.Selected:
				return 0
			case a.Selected:
				return -1
			}
			return 1
		})
		v.Folders = v.Folders[:viewFolders]
	}
	if a.Mode == crm.ModeForward {
		s.dropboxView(&v, counts)
	}
	if a.DisconnectedAt != nil {
		v.CanSend = false
		v.SendStatus = "This mailbox is disconnected: nothing is synced or sent. Connect the same address again before retained_until to keep its messages and links."
	}
	if v.History, err = s.st.AccountEvents(ctx, a.ID, 20); err != nil {
		return v, err
	}
	return v, nil
}

// folderViews returns an account's folders with their counts, and the
// stored messages per folder name.
func (s *Server) folderViews(ctx context.Context, accountID int64) ([]folderView, map[string]int64, error) {
	folders, err := s.st.Folders(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	counts, err := s.st.FolderCounts(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	out := []folderView{}
	for _, f := range folders {
		out = append(out, folderView{Name: f.Name, Role: f.Role, Selected: f.Selected, Messages: counts[f.Name],
			ServerMessages: int64(f.Cursor.ServerCount), Missing: f.Cursor.Missing})
	}
	return out, counts, nil
}

func (s *Server) mailConnector() (MailConnector, error) {
	if s.cfg.Mail == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Mail is not enabled on this server."}
	}
	return s.cfg.Mail, nil
}

// createMailAccount connects a mailbox (accounts.Service.ConnectMail): 201,
// or 200 with the same id when a disconnected mailbox still retained is
// reattached.
func (s *Server) createMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req MailAccountCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, reattached, err := s.acc.ConnectMail(r.Context(), c.Viewer, accounts.MailConnectionRequest{Email: req.Email, Password: req.Password,
		Mode: crm.MailMode(req.Mode), UserID: req.UserID, IMAP: req.IMAP, SMTP: req.SMTP, AllowPlaintext: req.AllowPlaintext})
	if err != nil {
		return accountError(verifyError(err), "user")
	}
	if reattached {
		return s.writeAccount(w, r, a)
	}
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/mail-accounts/%d", a.ID), v)
}

func (s *Server) getMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "mail account", s.st.GetMailAccount, s.mailAccountView)
}

func (s *Server) listMailAccounts(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.MailAccountFilter{ListParams: lp}
	if f.UserID, err = q.id("user_id"); err != nil {
		return err
	}
	page, err := s.st.ListMailAccounts(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "mail account")
	}
	out := store.Page[mailAccountSummary]{NextCursor: page.NextCursor}
	for _, a := range page.Items {
		out.Items = append(out.Items, mailSummary(a))
	}
	return writeList(w, out, func(v mailAccountSummary) mailAccountSummary { return v })
}

// updateMailAccount changes a mailbox's password or servers
// (accounts.Service.UpdateMail).
func (s *Server) updateMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.acc.MailEnabled(); err != nil {
		return accountError(err, "")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req MailAccountUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	mod, err := req.modification()
	if err != nil {
		return err
	}
	a, err := s.acc.UpdateMail(r.Context(), c.Viewer, id, mod)
	if err != nil {
		return accountError(verifyError(err), "mail account")
	}
	return s.writeAccount(w, r, a)
}

// modification is the service's request: absent fields nil, nulls refused
// where a value is needed (a null smtp removes the SMTP server).
func (req MailAccountUpdateRequest) modification() (accounts.MailAccountModificationRequest, error) {
	var m accounts.MailAccountModificationRequest
	var err error
	if m.IMAP, err = given(req.IMAP, "imap", "an account needs an IMAP server."); err != nil {
		return m, err
	}
	if m.Password, err = given(req.Password, "password", "give the new password."); err != nil {
		return m, err
	}
	if req.SMTP.Set {
		m.SMTP, m.RemoveSMTP = req.SMTP.Value, req.SMTP.Value == nil
	}
	if req.AllowPlaintext.Set {
		m.AllowPlaintext = &req.AllowPlaintext.Value
	}
	mode, err := given(req.Mode, "mode", "give sync or forward.")
	if err != nil {
		return m, err
	}
	if mode != nil {
		mm := crm.MailMode(*mode)
		m.Mode = &mm
	}
	return m, nil
}

func (s *Server) listFolders(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.st.GetMailAccount(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "mail account")
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	limit, err := q.limit(store.DefaultLimit, store.MaxLimit)
	if err != nil {
		return err
	}
	// Folders change rarely and are few (the sync keeps at most
	// mailsync.MaxFolders): a page is a slice of the list by name, and the
	// cursor the position after it.
	from, err := store.DecodeCursor(q.str("cursor"))
	if err != nil {
		return storeError(err, "")
	}
	folders, _, err := s.folderViews(r.Context(), id)
	if err != nil {
		return err
	}
	body := listBody[folderView]{Data: folders[min(int(from), len(folders)):]}
	if len(body.Data) > limit {
		body.Data = body.Data[:limit]
		body.NextCursor = store.EncodeCursor(from + int64(limit))
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) selectFolders(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req FolderSelectionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Folders == nil {
		return required("folders", "folders is required: the names of the folders to sync, like [\"INBOX\", \"Sent\"].")
	}
	a, err := s.st.GetMailAccount(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "mail account")
	}
	if !c.Viewer.ActsFor(a.UserID) {
		return forbidden("Only its owner or an admin can choose which folders of %s are synced; you can read what it syncs, but not act on it.", a.Email)
	}
	if _, err := s.st.SelectFolders(r.Context(), c.Viewer, id, req.Folders); err != nil {
		return storeError(err, "mail account")
	}
	return s.listFolders(w, r, c)
}

func (s *Server) getMailService(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.st.MailService(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return err
	}
	if svc == nil {
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "No mail service is set for this organisation: each user's settings come from autoconfiguration or are entered by hand. An admin can set one in the organisation's settings."}
	}
	writeJSON(w, http.StatusOK, svc)
	return nil
}

func (s *Server) putMailService(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can set the organisation's mail service.")
	}
	var req MailServiceRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	// Saved only once its servers answer (accounts.Service.SetMailService).
	svc, err := s.acc.SetMailService(r.Context(), c.Viewer, accounts.MailServiceRequest(req))
	if err != nil {
		return accountError(verifyError(err), "")
	}
	writeJSON(w, http.StatusOK, svc)
	return nil
}

func (s *Server) deleteMailService(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.acc.RemoveMailService(r.Context(), c.Viewer); err != nil {
		return accountError(err, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := s.mailConnector(); err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	email, err := crm.NormalizeEmail(q.str("email"))
	if err != nil {
		return badRequest(codeInvalidParameter, "email", "email=%q %s.", q.str("email"), err)
	}
	d, err := s.acc.MailSettingsFor(r.Context(), c.Viewer, email)
	if errors.Is(err, ErrSettingsNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "settings_not_found",
			Message: "No server settings could be found for " + email + ". Ask your provider for its IMAP and SMTP servers and enter them by hand."}
	}
	if err != nil {
		return accountError(err, "")
	}
	if d, err = s.signInAdvice(r.Context(), c.Viewer.OrgID, d); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// syncMailAccount asks for a sync now (accounts.Service.SyncMailNow): an
// account waiting out a failure is tried at once, a loop waiting for news
// looks now.
func (s *Server) syncMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.acc.SyncMailNow(r.Context(), c.Viewer, id)
	if err != nil {
		return accountError(err, "mail account")
	}
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}
