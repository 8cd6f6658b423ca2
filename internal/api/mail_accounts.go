package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// MailConnector is what the mail endpoints need of the outside world:
// server discovery, a real login before anything is saved, sealing the
// password, and attachment contents fetched from the server on demand.
// cmd/crmsync wires the real one (IMAP, SMTP, autoconfig, secret); tests
// may wire fakes or the real one against Dovecot.
type MailConnector interface {
	// Discover finds server settings for an address; ErrSettingsNotFound
	// when there are none.
	Discover(ctx context.Context, email string) (Discovery, error)
	// Verify logs in to IMAP, and to SMTP when set, with the password.
	// Failures are *connerr.Error with a kind.
	Verify(ctx context.Context, s crm.MailSettings, password string) error
	// Seal encrypts a password bound to the credential id.
	Seal(credentialID string, password []byte) ([]byte, error)
	// Attachment streams attachment index of a stored email into w.
	Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error
}

// Discovery is what autoconfiguration found for an address.
type Discovery struct {
	IMAP     *crm.ServerSettings `json:"imap"`
	SMTP     *crm.ServerSettings `json:"smtp"`
	Source   string              `json:"source"`
	Provider string              `json:"provider,omitempty"`
	Detail   string              `json:"detail,omitempty"`
	Hint     string              `json:"hint,omitempty"`
}

// ErrSettingsNotFound is what Discover returns when nothing is found.
var ErrSettingsNotFound = errors.New("api: no mail server settings found")

// ServerSettingsRequest is an IMAP or SMTP server in a request.
type ServerSettingsRequest struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	Username string `json:"username"`
}

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
// new credentials or settings ("reconnect after incorrect password").
type MailAccountUpdateRequest struct {
	Password       Opt[string]                 `json:"password"`
	IMAP           Opt[ServerSettingsRequest]  `json:"imap"`
	SMTP           Opt[*ServerSettingsRequest] `json:"smtp"`
	AllowPlaintext Opt[bool]                   `json:"allow_plaintext"`
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
	DropboxAddress string               `json:"dropbox_address,omitempty"`
	DropboxStatus  string               `json:"dropbox_status,omitempty"`
	Audit          string               `json:"audit,omitempty"`
	Folders        []folderView         `json:"folders"`
	History        []store.AccountEvent `json:"history"`
}

type progressView struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

type errorView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type folderView struct {
	Name           string `json:"name"`
	Role           string `json:"role,omitempty"`
	Selected       bool   `json:"selected"`
	Messages       int64  `json:"messages"`
	ServerMessages int64  `json:"server_messages"`
	Missing        int64  `json:"missing,omitempty"`
}

func (s *Server) mailAccountView(ctx context.Context, a crm.MailAccount) (mailAccountView, error) {
	v := mailAccountView{MailAccount: a, CanSend: a.Settings.SMTP != nil, Audit: a.Audit}
	if !v.CanSend && a.Mode == crm.ModeSync {
		v.SendStatus = "No SMTP server is set for this mailbox: it syncs, but mail cannot be sent from crmsync. Add SMTP settings to send."
	}
	if a.State == crm.StateInitialSync || a.ProgressTotal > 0 {
		v.Progress = &progressView{Done: a.ProgressDone, Total: a.ProgressTotal}
	}
	if a.ErrorCode != "" && a.State != crm.StateSynced && a.State != crm.StateInitialSync && a.State != crm.StateSyncing {
		v.Error = &errorView{Code: a.ErrorCode, Message: a.ErrorMessage}
	}
	if a.DisconnectedAt != nil {
		// A sync loop that was mid-pass when the user disconnected may
		// still record a state; disconnected is the truth.
		v.State, v.Error = crm.StateDisconnected, nil
	}
	var counts map[string]int64
	var err error
	if v.Folders, counts, err = s.folderViews(ctx, a.ID); err != nil {
		return v, err
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

// serverSettings validates one server of a request.
func serverSettings(field string, r *ServerSettingsRequest, defUser string, defPorts map[string]int) (*crm.ServerSettings, error) {
	if r == nil {
		return nil, nil
	}
	host := strings.ToLower(strings.TrimSpace(r.Host))
	if host == "" {
		return nil, required(field+".host", "%s.host is required: the server's name, like imap.example.com.", field)
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil {
		host = ip.String() // an IPv6 literal, with or without brackets: its colons are not a port
	} else if len(host) > 253 || strings.ContainsAny(host, " /:@[]") {
		return nil, invalid(field+".host", "%s.host must be a host name or IP address, like imap.example.com.", field)
	}
	sec := strings.ToLower(strings.TrimSpace(r.Security))
	if sec == "" {
		sec = "tls"
	}
	if sec != "tls" && sec != "starttls" && sec != "none" {
		return nil, invalid(field+".security", "%s.security must be one of tls, starttls, none.", field)
	}
	port := r.Port
	if port == 0 {
		port = defPorts[sec]
	}
	if port < 1 || port > 65535 {
		return nil, invalid(field+".port", "%s.port must be a TCP port from 1 to 65535.", field)
	}
	user := strings.TrimSpace(r.Username)
	if user == "" {
		user = defUser
	}
	return &crm.ServerSettings{Host: host, Port: port, Security: sec, Username: user}, nil
}

var (
	imapPorts = map[string]int{"tls": 993, "starttls": 143, "none": 143}
	smtpPorts = map[string]int{"tls": 465, "starttls": 587, "none": 25}
)

// expandUsername fills the placeholders an admin may use in the
// organisation's mail service (the Mozilla autoconfig ones).
func expandUsername(tmpl, email string) string {
	if tmpl == "" {
		return email
	}
	local, domain, _ := strings.Cut(email, "@")
	return strings.NewReplacer("%EMAILADDRESS%", email, "%EMAILLOCALPART%", local, "%EMAILDOMAIN%", domain).Replace(tmpl)
}

func withUser(s *crm.ServerSettings, email string) *crm.ServerSettings {
	if s == nil {
		return nil
	}
	c := *s
	c.Username = expandUsername(c.Username, email)
	return &c
}

// isLoopback reports whether host is this machine, where a plain-text
// login crosses no network.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkPlaintext(st crm.MailSettings) error {
	if st.AllowPlaintext {
		return nil
	}
	for _, x := range []struct {
		field string
		s     *crm.ServerSettings
	}{{"imap", st.IMAP}, {"smtp", st.SMTP}} {
		if x.s != nil && x.s.Security == "none" && !isLoopback(x.s.Host) {
			return &Error{Status: http.StatusUnprocessableEntity, Code: "plaintext_refused", Field: x.field + ".security",
				Message: "The password would cross the network unencrypted. Use security tls or starttls; an admin may allow plain-text login (allow_plaintext) for a trusted network."}
		}
	}
	return nil
}

func newCredentialID() string {
	var b [16]byte
	rand.Read(b[:])
	return "cred_" + hex.EncodeToString(b[:])
}

func (s *Server) mailConnector() (MailConnector, error) {
	if s.cfg.Mail == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Mail is not enabled on this server."}
	}
	return s.cfg.Mail, nil
}

// createMailAccount connects a mailbox. In sync mode it logs in before
// saving anything; in forward mode there is nothing to log in to and the
// account gets a dropbox address. An address the user disconnected and
// whose messages are still retained is reattached rather than created:
// 200 instead of 201, the same id, every message and link kept.
func (s *Server) createMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req MailAccountCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := crm.NormalizeEmail(req.Email)
	if err != nil {
		if strings.TrimSpace(req.Email) == "" {
			return required("email", "email is required: the address of the mailbox to connect.")
		}
		return invalid("email", "email %s.", err)
	}
	mode := crm.MailMode(req.Mode)
	if mode == "" {
		mode = crm.ModeSync
	}
	switch mode {
	case crm.ModeSync, crm.ModeForward:
	default:
		return invalid("mode", "mode must be sync (two-way synchronisation) or forward.")
	}
	owner := c.User.ID
	if req.UserID != nil {
		if err := refID("user_id", *req.UserID); err != nil {
			return err
		}
		if *req.UserID != c.User.ID && !c.Viewer.CanAdminister() {
			return forbidden("You can connect only your own mailbox. An admin can connect one for another user.")
		}
		owner = *req.UserID
	}
	if mode == crm.ModeForward {
		return s.createForwardAccount(w, r, c, req, email, owner)
	}
	mc, err := s.mailConnector()
	if err != nil {
		return err
	}
	if req.AllowPlaintext && !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can allow a plain-text login (allow_plaintext).")
	}
	if req.Password == "" {
		return required("password", "password is required: the mailbox password (or an app password if your provider asks for one).")
	}
	retained, err := s.reconnectable(r.Context(), c.Viewer, owner, email, mode)
	if err != nil {
		return err
	}
	settings := crm.MailSettings{AllowPlaintext: req.AllowPlaintext}
	svc, err := s.st.MailService(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return err
	}
	switch {
	case req.IMAP != nil:
		settings.Source = "manual"
		if settings.IMAP, err = serverSettings("imap", req.IMAP, email, imapPorts); err != nil {
			return err
		}
		if settings.SMTP, err = serverSettings("smtp", req.SMTP, email, smtpPorts); err != nil {
			return err
		}
	case svc != nil:
		settings.Source = "org"
		settings.IMAP, settings.SMTP = withUser(svc.IMAP, email), withUser(svc.SMTP, email)
		settings.AllowPlaintext = settings.AllowPlaintext || svc.AllowPlaintext
	default:
		d, err := mc.Discover(r.Context(), email)
		if errors.Is(err, ErrSettingsNotFound) {
			return &Error{Status: http.StatusUnprocessableEntity, Code: "settings_not_found", Field: "imap",
				Message: "No server settings could be found for " + email + ". Enter them by hand: imap.host, imap.port, imap.security (and smtp to send)."}
		}
		if err != nil {
			return err
		}
		settings.Source, settings.IMAP, settings.SMTP = d.Source, d.IMAP, d.SMTP
		if req.SMTP != nil {
			if settings.SMTP, err = serverSettings("smtp", req.SMTP, email, smtpPorts); err != nil {
				return err
			}
		}
	}
	if settings.IMAP == nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: "settings_not_found", Field: "imap", Message: "No IMAP server is known for " + email + ". Enter imap.host, imap.port and imap.security."}
	}
	if err := checkPlaintext(settings); err != nil {
		return err
	}
	if err := mc.Verify(r.Context(), settings, req.Password); err != nil {
		return verifyError(err)
	}
	if retained != nil {
		return s.reattachSync(w, r, c, mc, *retained, settings, req.Password)
	}
	credID := newCredentialID()
	sealed, err := mc.Seal(credID, []byte(req.Password))
	if err != nil {
		return err
	}
	if err := s.st.PutCredential(r.Context(), store.Credential{ID: credID, OrgID: c.Viewer.OrgID, Purpose: "mail_password", Ciphertext: sealed}); err != nil {
		return err
	}
	a, err := s.st.CreateMailAccount(r.Context(), c.Viewer, crm.MailAccount{UserID: owner, Email: email, Provider: "imap", Mode: mode,
		Settings: settings, CredentialID: credID, State: crm.StateConnecting})
	if err != nil {
		_ = s.st.DeleteCredential(context.WithoutCancel(r.Context()), c.Viewer.OrgID, credID)
		var fe *store.FieldError
		if errors.As(err, &fe) && fe.Code == "duplicate" {
			return alreadyConnected(email, mode)
		}
		return storeError(err, "user")
	}
	_ = s.st.AddAccountEvent(r.Context(), a.ID, store.AccountEvent{At: s.cfg.Now(), Kind: "connected",
		Message: fmt.Sprintf("Connected %s (%s:%d, settings from %s).", email, settings.IMAP.Host, settings.IMAP.Port, settings.Source)})
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/mail-accounts/%d", a.ID), v)
}

// alreadyConnected is the 409 for an address the user has connected.
func alreadyConnected(email string, mode crm.MailMode) *Error {
	if mode == crm.ModeForward {
		return conflict("email", "%s is already connected for this user.", email)
	}
	return conflict("email", "%s is already connected for this user. To change its password or settings, use PATCH /api/v1/mail-accounts/{id}.", email)
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
	return writeList(w, page, func(a crm.MailAccount) crm.MailAccount { return a })
}

func (s *Server) updateMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	mc, err := s.mailConnector()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req MailAccountUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := s.st.GetMailAccount(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "mail account")
	}
	if a.DisconnectedAt != nil {
		return conflict("", "%s is disconnected. Connect it again (POST /api/v1/mail-accounts with the same address and its password) to resume its sync with every message and link kept.", a.Email)
	}
	if a.Mode == crm.ModeForward {
		return conflict("", "%s is in forwarding mode: it has no password or servers to change. Mail reaches it by forwarding to its dropbox address.", a.Email)
	}
	settings := a.Settings
	if req.IMAP.Set {
		v, err := req.IMAP.value("imap", "an account needs an IMAP server.")
		if err != nil {
			return err
		}
		if settings.IMAP, err = serverSettings("imap", &v, a.Email, imapPorts); err != nil {
			return err
		}
		settings.Source = "manual"
	}
	if req.SMTP.Set {
		if settings.SMTP, err = serverSettings("smtp", req.SMTP.Value, a.Email, smtpPorts); err != nil {
			return err
		}
	}
	if req.AllowPlaintext.Set {
		if !c.Viewer.CanAdminister() {
			return forbidden("Only an admin can allow a plain-text login (allow_plaintext).")
		}
		settings.AllowPlaintext = req.AllowPlaintext.Value
	}
	if err := checkPlaintext(settings); err != nil {
		return err
	}
	var password string
	if req.Password.Set {
		if password, err = req.Password.value("password", "give the new password."); err != nil {
			return err
		}
		if password == "" {
			return required("password", "password cannot be empty.")
		}
	} else if req.IMAP.Set || req.SMTP.Set {
		return required("password", "Give the password with new server settings: crmsync logs in with them before saving.")
	}
	if password != "" {
		if err := mc.Verify(r.Context(), settings, password); err != nil {
			return verifyError(err)
		}
		sealed, err := mc.Seal(a.CredentialID, []byte(password))
		if err != nil {
			return err
		}
		if err := s.st.PutCredential(r.Context(), store.Credential{ID: a.CredentialID, OrgID: c.Viewer.OrgID, Purpose: "mail_password", Ciphertext: sealed}); err != nil {
			return err
		}
	}
	a, err = s.st.UpdateMailAccount(r.Context(), c.Viewer, id, func(a *crm.MailAccount) error {
		if a.DisconnectedAt != nil { // disconnected meanwhile
			return conflict("", "%s was disconnected meanwhile. Connect it again (POST /api/v1/mail-accounts) to resume its sync.", a.Email)
		}
		a.Settings = settings
		// Try again now: the user has acted.
		a.State, a.ErrorCode, a.ErrorMessage, a.Failures, a.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
		return nil
	})
	if err != nil {
		return storeError(err, "mail account")
	}
	_ = s.st.AddAccountEvent(r.Context(), a.ID, store.AccountEvent{At: s.cfg.Now(), Kind: "settings", Message: "Credentials or settings updated; reconnecting."})
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listFolders(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.st.GetMailAccount(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "mail account")
	}
	folders, _, err := s.folderViews(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listBody[folderView]{Data: folders})
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
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "No mail service is set for this organisation: each user's settings come from autoconfiguration or are entered by hand. An admin sets one with PUT /api/v1/org/mail-service."}
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
	switch req.Kind {
	case "imap":
	case "":
		return required("kind", "kind is required: imap (office365, gmail and exchange come later).")
	case "office365", "gmail", "exchange":
		return invalid("kind", "%s is not available yet on this server; use imap with the provider's IMAP settings.", req.Kind)
	default:
		return invalid("kind", "kind must be imap.")
	}
	if req.IMAP == nil {
		return required("imap", "imap is required: the organisation's IMAP server (host, port, security; username may use %%EMAILADDRESS%% or %%EMAILLOCALPART%%).")
	}
	svc := &crm.MailService{Kind: req.Kind, AllowPlaintext: req.AllowPlaintext}
	var err error
	if svc.IMAP, err = serverSettings("imap", req.IMAP, "%EMAILADDRESS%", imapPorts); err != nil {
		return err
	}
	if svc.SMTP, err = serverSettings("smtp", req.SMTP, "%EMAILADDRESS%", smtpPorts); err != nil {
		return err
	}
	if err := checkPlaintext(crm.MailSettings{IMAP: svc.IMAP, SMTP: svc.SMTP, AllowPlaintext: svc.AllowPlaintext}); err != nil {
		return err
	}
	if err := s.st.PutMailService(r.Context(), c.Viewer.OrgID, svc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, svc)
	return nil
}

func (s *Server) deleteMailService(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can change the organisation's mail service.")
	}
	if err := s.st.PutMailService(r.Context(), c.Viewer.OrgID, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request, c *caller) error {
	mc, err := s.mailConnector()
	if err != nil {
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
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if svc, err := s.st.MailService(ctx, c.Viewer.OrgID); err != nil {
		return err
	} else if svc != nil {
		writeJSON(w, http.StatusOK, Discovery{IMAP: withUser(svc.IMAP, email), SMTP: withUser(svc.SMTP, email), Source: "org",
			Detail: "Your organisation's mail service, set by an admin."})
		return nil
	}
	d, err := mc.Discover(ctx, email)
	if errors.Is(err, ErrSettingsNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "settings_not_found",
			Message: "No server settings could be found for " + email + ". Ask your provider for its IMAP and SMTP servers and enter them by hand."}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
