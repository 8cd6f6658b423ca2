package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/messages"
)

// Limits of a message sent from crmsync.
const (
	// sendMaxBodyBytes is the body limit of POST /api/v1/messages/send: 20
	// MiB of attachments take 27 MiB in base64, plus the bodies. Every
	// other route keeps Config.MaxBodyBytes.
	sendMaxBodyBytes = 30 << 20
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

// sendMessage queues a message to send from one of the caller's mailboxes
// (messages.Service.Send, which the web app's compose page runs too).
// It answers 202 with the outbox item; the account's sync loop sends it.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req SendMessageRequest
	if err := s.decodeJSONLimit(w, r, &req, sendMaxBodyBytes); err != nil {
		return err
	}
	if req.AccountID != 0 {
		if err := refID("account_id", req.AccountID); err != nil {
			return err
		}
	}
	send := messages.SendRequest{AccountID: req.AccountID, To: sendAddresses(req.To), Cc: sendAddresses(req.Cc), Bcc: sendAddresses(req.Bcc),
		Subject: req.Subject, Text: req.Text, HTML: req.HTML, InReplyTo: req.InReplyTo}
	for _, a := range req.Attachments {
		send.Attachments = append(send.Attachments, crm.SendAttachment{Filename: a.Filename, ContentType: a.ContentType, Content: a.Content})
	}
	if len(req.Links) > maxListItems {
		return invalid("links", "links may hold at most %d records.", maxListItems)
	}
	for i, l := range req.Links {
		f := fmt.Sprintf("links[%d]", i)
		if err := checkLinkType(f+".type", l.Type); err != nil {
			return err
		}
		if l.ID == 0 {
			return required(f+".id", "%s.id is required: the id of the %s.", f, l.Type)
		}
		if err := refID(f+".id", l.ID); err != nil {
			return err
		}
		send.Links = append(send.Links, crm.LinkRef{Type: l.Type, ID: l.ID})
	}
	it, err := s.msg.Send(r.Context(), c.Viewer, c.User, send)
	if err != nil {
		return messagesError(err, "mail account")
	}
	w.Header().Set("Location", "/api/v1/outbox/"+strconv.FormatInt(it.ID, 10))
	writeJSON(w, http.StatusAccepted, viewOutbox(it))
	return nil
}

// messagesError turns an error of the messages service into the API's
// answer; what names the record for the store's errors.
func messagesError(err error, what string) error {
	var me *messages.Error
	if errors.As(err, &me) {
		out := &Error{Status: http.StatusUnprocessableEntity, Code: me.Code, Field: me.Field, Message: me.Message}
		switch {
		case errors.Is(me, messages.ErrForbidden):
			out.Status = http.StatusForbidden
		case errors.Is(me, messages.ErrNotFound):
			out.Status = http.StatusNotFound
		}
		return out
	}
	if errors.Is(err, messages.ErrUnavailable) {
		return &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Mail is not enabled on this server."}
	}
	return storeError(err, what)
}

// sendAddresses is a recipient list as the service takes it (checked
// there, naming the item at fault: "to[1]").
func sendAddresses(in []SendAddress) []crm.Address {
	out := make([]crm.Address, 0, len(in))
	for _, a := range in {
		out = append(out, crm.Address{Name: a.Name, Email: a.Email})
	}
	return out
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
