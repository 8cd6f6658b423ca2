package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/store"
)

// Limits of a message sent from crmsync.
const (
	// sendMaxBodyBytes is the body limit of POST /api/v1/messages/send: 20
	// MiB of attachments take 27 MiB in base64, plus the bodies. Every
	// other route keeps Config.MaxBodyBytes.
	sendMaxBodyBytes   = 30 << 20
	maxAttachmentBytes = 20 << 20 // decoded content, all attachments together
	maxSubject         = 998      // RFC 5322 §2.1.1 line length
	maxBodyText        = 5 << 20  // text and html, each
	maxFilename        = 255
	maxRecipients      = 100 // per list
)

// Codes of POST /api/v1/messages/send.
const (
	codeCannotSend   = "cannot_send"   // the mailbox cannot send: forwarding mode, disconnected, no SMTP server
	codeFromMismatch = "from_mismatch" // the mailbox is not the sender's primary address
)

// SendMessageRequest is the body of POST /api/v1/messages/send.
type SendMessageRequest struct {
	AccountID   int64                   `json:"account_id"`
	To          []SendAddress           `json:"to"`
	Cc          []SendAddress           `json:"cc"`
	Bcc         []SendAddress           `json:"bcc"`
	Subject     string                  `json:"subject"`
	Text        string                  `json:"text"`
	HTML        string                  `json:"html"`
	Attachments []SendAttachmentRequest `json:"attachments"`
	Links       []SendLinkRequest       `json:"links"`
	InReplyTo   string                  `json:"in_reply_to"`
}

// SendAddress is a recipient: "bob@example.com", "Bob <bob@example.com>",
// or {"name": "Bob", "email": "bob@example.com"}.
type SendAddress struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UnmarshalJSON accepts a string or an object with exactly name and email.
func (a *SendAddress) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if p, err := mail.ParseAddress(s); err == nil {
			a.Name, a.Email = p.Name, p.Address
		} else {
			a.Name, a.Email = "", s // refused with the field's name when checked
		}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New(`must be an address: a string like "Bob <bob@example.com>", or an object {"name": …, "email": …}`)
	}
	type plain SendAddress
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf(`must be an address object with only "name" and "email" (%s)`, strings.TrimPrefix(err.Error(), "json: "))
	}
	*a = SendAddress(p)
	return nil
}

// SendAttachmentRequest is a file to attach; content is base64 in JSON.
type SendAttachmentRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content"`
}

// SendLinkRequest is a record the sent message is linked to by hand.
type SendLinkRequest struct {
	Type crm.LinkType `json:"type"`
	ID   int64        `json:"id"`
}

// outboxView is an outbox item as its sender sees it.
type outboxView struct {
	crm.OutboxItem
	Subject string        `json:"subject"`
	To      []crm.Address `json:"to"`
	Cc      []crm.Address `json:"cc"`
	Bcc     []crm.Address `json:"bcc"`
}

func viewOutbox(it crm.OutboxItem) outboxView {
	return outboxView{OutboxItem: it, Subject: it.Request.Subject,
		To: nonNil(it.Request.To), Cc: nonNil(it.Request.Cc), Bcc: nonNil(it.Request.Bcc)}
}

// sendMessage queues a message to send from one of the caller's mailboxes.
// It answers 202 with the outbox item; the account's sync loop sends it.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req SendMessageRequest
	if err := s.decodeJSONLimit(w, r, &req, sendMaxBodyBytes); err != nil {
		return err
	}
	ctx := r.Context()
	if req.AccountID == 0 {
		return required("account_id", "Choose the mailbox to send from.")
	}
	if err := refID("account_id", req.AccountID); err != nil {
		return err
	}
	a, err := s.st.GetMailAccount(ctx, c.Viewer, req.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeNotFound, Field: "account_id",
			Message: "account_id: no mailbox with this id that you can see."}
	}
	if err != nil {
		return storeError(err, "mail account")
	}
	if err := canSend(a, c); err != nil {
		return err
	}
	send := crm.SendRequest{Subject: req.Subject, Text: req.Text, HTML: req.HTML}
	if send.To, err = sendAddresses("to", req.To); err != nil {
		return err
	}
	if send.Cc, err = sendAddresses("cc", req.Cc); err != nil {
		return err
	}
	if send.Bcc, err = sendAddresses("bcc", req.Bcc); err != nil {
		return err
	}
	if len(send.To)+len(send.Cc)+len(send.Bcc) == 0 {
		return required("to", "The message needs at least one recipient in to, cc or bcc.")
	}
	if n := utf8.RuneCountInString(req.Subject); n > maxSubject {
		return invalid("subject", "subject must be at most %d characters (it has %d).", maxSubject, n)
	}
	if len(req.Text) > maxBodyText {
		return invalid("text", "text must be at most %s.", byteSize(maxBodyText))
	}
	if len(req.HTML) > maxBodyText {
		return invalid("html", "html must be at most %s.", byteSize(maxBodyText))
	}
	if send.Attachments, err = sendAttachments(req.Attachments); err != nil {
		return err
	}
	if send.Links, err = s.sendLinks(r, c, req.Links); err != nil {
		return err
	}
	if req.InReplyTo != "" {
		id := strings.Trim(strings.TrimSpace(req.InReplyTo), "<>")
		if len(id) > 250 || !strings.Contains(id, "@") || strings.ContainsAny(id, " \t\r\n<>\"") {
			return invalid("in_reply_to", "in_reply_to must be the Message-ID of the message answered, like abc@example.com (the message_id of a stored message).")
		}
		send.InReplyTo = id
	}

	// The message is built once, here: every attempt sends the same bytes,
	// and its Message-ID finds it in the Sent folder.
	from := crm.Address{Name: c.User.Name, Email: a.Email}
	msgID := compose.NewMessageID(a.Email)
	raw, err := compose.Build(send, from, msgID, s.cfg.Now())
	if err != nil {
		return invalid("", "The message cannot be built: %s.", strings.TrimPrefix(err.Error(), "compose: invalid message: "))
	}
	// The attachments travel in the raw message; the request keeps their
	// names and types only.
	for i := range send.Attachments {
		send.Attachments[i].Content = nil
	}
	it, err := s.st.EnqueueMail(ctx, c.Viewer, crm.OutboxItem{AccountID: a.ID, MessageID: msgID, From: from, Request: send, Raw: raw})
	if err != nil {
		return storeError(err, "mail account")
	}
	if s.cfg.Wake != nil {
		s.cfg.Wake(a.ID)
	}
	w.Header().Set("Location", "/api/v1/outbox/"+strconv.FormatInt(it.ID, 10))
	writeJSON(w, http.StatusAccepted, viewOutbox(it))
	return nil
}

// canSend checks that the caller may send from a: their own mailbox, in
// sync mode with an SMTP server (or a provider that sends, such as
// Microsoft), and their primary address.
func canSend(a crm.MailAccount, c *caller) error {
	cannot := func(format string, args ...any) error {
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeCannotSend, Field: "account_id", Message: fmt.Sprintf(format, args...)}
	}
	if a.UserID != c.User.ID {
		return &Error{Status: http.StatusForbidden, Code: codeForbidden, Field: "account_id",
			Message: "You can send only from your own mailboxes; this one belongs to another user."}
	}
	switch {
	case a.DisconnectedAt != nil:
		return cannot("This mailbox is disconnected: reconnect it to send from it.")
	case a.Mode != crm.ModeSync:
		return cannot("This mailbox is connected in forwarding mode: crmsync receives copies of its mail but cannot send from it. Connect it in sync mode to send.")
	case !a.HasSubmission():
		return cannot("This mailbox has no SMTP server: add one in its settings to send from it.")
	}
	if !strings.EqualFold(strings.TrimSpace(a.Email), strings.TrimSpace(c.User.Email)) {
		// Only an admin may change a user's email (updateUser): a member
		// is told whom to ask, not to do what they cannot.
		change := "Change the address on your profile"
		if !c.Viewer.CanAdminister() {
			change = "Ask an admin of your organisation to change the address on your profile"
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeFromMismatch, Field: "account_id", Message: fmt.Sprintf(
			"Messages are sent from the primary address of your CRM profile, %s, but this mailbox is %s. %s to %s, or send from the mailbox with the address %s.",
			c.User.Email, a.Email, change, a.Email, c.User.Email)}
	}
	return nil
}

// sendAddresses checks a recipient list, naming the item at fault
// ("to[1]").
func sendAddresses(field string, in []SendAddress) ([]crm.Address, error) {
	if len(in) > maxRecipients {
		return nil, invalid(field, "%s may hold at most %d addresses.", field, maxRecipients)
	}
	out := make([]crm.Address, 0, len(in))
	for i, a := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(a.Email) == "" {
			return nil, required(f, "%s needs an email address.", f)
		}
		email, err := crm.NormalizeEmail(a.Email)
		if err != nil {
			return nil, invalid(f, "%s (%q) %s.", f, a.Email, strings.TrimSuffix(err.Error(), "."))
		}
		name := strings.TrimSpace(a.Name)
		if strings.ContainsAny(name, "\r\n\x00") {
			return nil, invalid(f+".name", "%s.name must be on one line.", f)
		}
		if n := utf8.RuneCountInString(name); n > maxName {
			return nil, invalid(f+".name", "%s.name must be at most %d characters (it has %d).", f, maxName, n)
		}
		out = append(out, crm.Address{Name: name, Email: email})
	}
	return out, nil
}

func sendAttachments(in []SendAttachmentRequest) ([]crm.SendAttachment, error) {
	if len(in) > maxListItems {
		return nil, invalid("attachments", "attachments may hold at most %d files.", maxListItems)
	}
	var total int
	out := make([]crm.SendAttachment, 0, len(in))
	for i, a := range in {
		f := fmt.Sprintf("attachments[%d]", i)
		name := strings.TrimSpace(a.Filename)
		if name == "" {
			return nil, required(f+".filename", "%s.filename is required: the file's name as the recipients will see it.", f)
		}
		if utf8.RuneCountInString(name) > maxFilename || strings.ContainsAny(name, "\r\n\x00/\\") {
			return nil, invalid(f+".filename", "%s.filename must be a file name of at most %d characters, without / or \\.", f, maxFilename)
		}
		ct := strings.TrimSpace(a.ContentType)
		if ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
				return nil, invalid(f+".content_type", "%s.content_type must be a media type like application/pdf (or empty: guessed from the file name).", f)
			}
		}
		total += len(a.Content)
		out = append(out, crm.SendAttachment{Filename: name, ContentType: ct, Content: a.Content})
	}
	if total > maxAttachmentBytes {
		return nil, invalid("attachments", "Attachments may total at most %s (these are %.1f MiB). Send fewer or smaller files, or share them by link.", byteSize(maxAttachmentBytes), float64(total)/(1<<20))
	}
	return out, nil
}

// sendLinks checks the records to link: known types, records the caller
// may see (sent mail is theirs, linked as they would by hand).
func (s *Server) sendLinks(r *http.Request, c *caller, in []SendLinkRequest) ([]crm.LinkRef, error) {
	if len(in) > maxListItems {
		return nil, invalid("links", "links may hold at most %d records.", maxListItems)
	}
	out := make([]crm.LinkRef, 0, len(in))
	for i, l := range in {
		f := fmt.Sprintf("links[%d]", i)
		if err := checkLinkType(f+".type", l.Type); err != nil {
			return nil, err
		}
		if l.ID == 0 {
			return nil, required(f+".id", "%s.id is required: the id of the %s.", f, l.Type)
		}
		if err := refID(f+".id", l.ID); err != nil {
			return nil, err
		}
		var err error
		switch l.Type {
		case crm.LinkCompany:
			_, err = s.st.GetCompany(r.Context(), c.Viewer, l.ID)
		case crm.LinkContact:
			_, err = s.st.GetContact(r.Context(), c.Viewer, l.ID)
		case crm.LinkOpportunity:
			_, err = s.st.GetOpportunity(r.Context(), c.Viewer, l.ID)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Status: http.StatusUnprocessableEntity, Code: codeNotFound, Field: f + ".id",
				Message: fmt.Sprintf("%s.id: no %s with this id that you can see.", f, l.Type)}
		}
		if err != nil {
			return nil, err
		}
		ref := crm.LinkRef{Type: l.Type, ID: l.ID}
		dup := false
		for _, o := range out {
			dup = dup || o == ref
		}
		if !dup {
			out = append(out, ref)
		}
	}
	return out, nil
}

// getOutboxItem shows where a message being sent stands.
func (s *Server) getOutboxItem(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	it, err := s.st.GetOutboxItem(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "outbox item")
	}
	writeJSON(w, http.StatusOK, viewOutbox(it))
	return nil
}

// decodeJSONLimit is decodeJSON with a body limit of the route's own,
// never below the server's.
func (s *Server) decodeJSONLimit(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if limit <= s.cfg.MaxBodyBytes {
		return s.decodeJSON(w, r, dst)
	}
	// decodeJSON reads its limit from the configuration: a copy of the
	// server with the larger one decodes this request alone.
	big := *s
	big.cfg.MaxBodyBytes = limit
	return big.decodeJSON(w, r, dst)
}
