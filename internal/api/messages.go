package api

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/messages"
	"github.com/crmsync/crmsync/internal/store"
)

// MessageUpdateRequest is the body of PATCH /api/v1/messages/{id}: flags
// changed in crmsync, written back to the mail server by the sync loop.
type MessageUpdateRequest struct {
	Flags *FlagsUpdate `json:"flags"`
}

// FlagsUpdate lists the flags to change; absent ones stay.
type FlagsUpdate struct {
	Seen     *bool `json:"seen"`
	Flagged  *bool `json:"flagged"`
	Answered *bool `json:"answered"`
	Draft    *bool `json:"draft"`
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, c *caller) error {
	// Not listRequest: the messages cursor is a time cursor
	// (store.DecodeTimeCursor), which the store checks.
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	limit, err := q.limit(store.DefaultLimit, store.MaxLimit)
	if err != nil {
		return err
	}
	f := store.EmailFilter{ListParams: store.ListParams{Limit: limit, Cursor: q.str("cursor"), Q: strings.TrimSpace(q.str("q"))}}
	if utf8.RuneCountInString(f.Q) > maxQuery {
		return badRequest(codeInvalidParameter, "q", "q must be at most %d characters.", maxQuery)
	}
	if f.AccountID, err = q.id("account_id"); err != nil {
		return err
	}
	f.Folder = q.str("folder")
	if f.AccountID != nil {
		if _, err := s.st.GetMailAccount(r.Context(), c.Viewer, *f.AccountID); err != nil {
			return storeError(err, "mail account")
		}
	}
	if f.LinkedTo, err = s.timelineOf(r, q, c); err != nil {
		return err
	}
	page, err := s.st.ListEmails(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "message")
	}
	return writeList(w, page, cleanEmail)
}

// timelineParams are the filters of GET /api/v1/messages that list a
// record's timeline: the emails linked to it.
var timelineParams = []struct {
	name string
	typ  crm.LinkType
}{{"company_id", crm.LinkCompany}, {"contact_id", crm.LinkContact}, {"opportunity_id", crm.LinkOpportunity}}

// timelineOf reads the one timeline filter of a message list, if any, and
// checks that the caller may see the record (404 otherwise, like any id).
func (s *Server) timelineOf(r *http.Request, q query, c *caller) (*store.LinkTarget, error) {
	var target *store.LinkTarget
	var given string
	for _, p := range timelineParams {
		id, err := q.id(p.name)
		if err != nil {
			return nil, err
		}
		if id == nil {
			continue
		}
		if target != nil {
			return nil, badRequest(codeInvalidParameter, p.name, "Give at most one of company_id, contact_id and opportunity_id (got %s and %s): a list is one record's timeline.", given, p.name)
		}
		target, given = &store.LinkTarget{Type: p.typ, ID: *id}, p.name
	}
	if target == nil {
		return nil, nil
	}
	if err := s.checkRecordVisible(r.Context(), c.Viewer, target.Type, target.ID); err != nil {
		return nil, err
	}
	return target, nil
}

// checkRecordVisible answers 404 for a CRM record the viewer may not see.
func (s *Server) checkRecordVisible(ctx context.Context, v crm.Viewer, t crm.LinkType, id int64) error {
	if err := messages.RecordVisible(ctx, s.st, v, t, id); err != nil {
		return messagesError(err, string(t))
	}
	return nil
}

// cleanEmail is an email as the API shows it: lists never null, and remote
// images of its HTML off (see mimeparse.BlockRemoteImages).
func cleanEmail(e crm.Email) crm.Email {
	e.HTML, e.RemoteImages = mimeparse.BlockRemoteImages(e.HTML)
	e.InReplyTo, e.References, e.Warnings = nonNil(e.InReplyTo), nonNil(e.References), nonNil(e.Warnings)
	e.Links = nonNil(e.Links)
	e.Attachments = nonNil(e.Attachments)
	e.Participants.From, e.Participants.To, e.Participants.Cc = nonNil(e.Participants.From), nonNil(e.Participants.To), nonNil(e.Participants.Cc)
	return e
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	show := q.str("remote_images")
	if show != "" && show != "show" && show != "block" {
		return badRequest(codeInvalidParameter, "remote_images", "remote_images must be show (load the images from the sender's servers, which tells the sender the message was read) or block (the default).")
	}
	e, err := s.st.GetEmail(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "message")
	}
	shown := cleanEmail(e)
	if show == "show" {
		shown.HTML, shown.RemoteImages = e.HTML, 0
	}
	writeJSON(w, http.StatusOK, shown)
	return nil
}

func (s *Server) updateMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req MessageUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Flags == nil {
		return required("flags", "flags is required, like {\"flags\": {\"seen\": true}}.")
	}
	// Flags are written back to the mailbox: that is acting on it, which
	// only its owner and admins do (a manager reads a report's mail only).
	cur, err := s.st.GetEmail(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "message")
	}
	if !c.Viewer.ActsFor(cur.OwnerID) {
		return forbidden("Only the mailbox's owner or an admin can change this message's flags: they are written back to that mailbox. You can read it, not act on it.")
	}
	fl := req.Flags
	e, err := s.st.SetEmailFlags(r.Context(), c.Viewer, id, func(f *crm.Flags) {
		for _, x := range []struct {
			v   *bool
			dst *bool
		}{{fl.Seen, &f.Seen}, {fl.Flagged, &f.Flagged}, {fl.Answered, &f.Answered}, {fl.Draft, &f.Draft}} {
			if x.v != nil {
				*x.dst = *x.v
			}
		}
	})
	if err != nil {
		return storeError(err, "message")
	}
	if s.cfg.Wake != nil {
		s.cfg.Wake(e.AccountID)
	}
	writeJSON(w, http.StatusOK, cleanEmail(e))
	return nil
}

// MessageLinkRequest is the body of POST /api/v1/messages/{id}/links: a
// manual link from the message to a CRM record.
type MessageLinkRequest struct {
	Type crm.LinkType `json:"type"`
	ID   *int64       `json:"id"`
}

// linksBody is the answer of a link change: the message's links.
type linksBody struct {
	Links []crm.EmailLink `json:"links"`
}

func checkLinkType(field string, t crm.LinkType) error {
	if t == "" {
		return required(field, "%s is required: company, contact or opportunity.", field)
	}
	if !t.Valid() {
		return invalid(field, "%s must be one of %s.", field, joinQuoted([]crm.LinkType{crm.LinkCompany, crm.LinkContact, crm.LinkOpportunity}))
	}
	return nil
}

// linkMessage links a message to a record by hand. A manual link is never
// undone by automatic linking; it answers 201 with the message's links.
func (s *Server) linkMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req MessageLinkRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkLinkType("type", req.Type); err != nil {
		return err
	}
	if req.ID == nil {
		return required("id", "id is required: the id of the %s to link the message to.", req.Type)
	}
	if err := refID("id", *req.ID); err != nil {
		return err
	}
	// The service checks that the caller may see both the message (404)
	// and the record (422 on "id", code not_found).
	links, err := s.msg.Link(r.Context(), c.Viewer, id, req.Type, *req.ID)
	if err != nil {
		return storeError(err, "message")
	}
	writeJSON(w, http.StatusCreated, linksBody{Links: nonNil(links)})
	return nil
}

// unlinkMessage removes a link by hand, automatic or manual. The unlink
// is remembered: automatic linking never links the two again.
func (s *Server) unlinkMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t := crm.LinkType(r.PathValue("type"))
	if !t.Valid() {
		return badRequest(codeInvalidParameter, "type", "%q is not a link type: use company, contact or opportunity.", r.PathValue("type"))
	}
	target, err := pathID(r, "target_id")
	if err != nil {
		return err
	}
	if err := s.msg.Unlink(r.Context(), c.Viewer, id, t, target); err != nil {
		return messagesError(err, "message")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		return badRequest(codeInvalidID, "n", "%q is not an attachment number: attachments are numbered from 0, as in the message's attachments list.", r.PathValue("n"))
	}
	info, fetch, err := s.msg.Attachment(r.Context(), c.Viewer, id, n)
	if err != nil {
		return messagesError(err, "message")
	}
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// The download's headers are set at its first byte: a connector that
	// fails before writing anything (the server is unreachable, the
	// password changed) still gets a proper error answer, not one
	// labelled as the attachment.
	aw := &attachmentWriter{w: w, headers: func(h http.Header) {
		h.Set("Content-Type", ct)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.Filename}))
	}}
	err = fetch(aw)
	if err == nil {
		aw.start() // an empty attachment is still one
		return nil
	}
	if !aw.started {
		if me := connerr.As(err); me != nil {
			return &Error{Status: http.StatusBadGateway, Code: string(me.Kind), Message: "The attachment could not be fetched from the mail server: " + connerr.Message(me)}
		}
		return err
	}
	// Part of the file is on its way: an error answer now would be
	// appended to it and pass for its end. Cut the download short so the
	// client sees it failed.
	if !errors.Is(err, context.Canceled) {
		s.log.LogAttrs(r.Context(), slog.LevelError, "attachment download cut short",
			slog.String("request_id", requestID(r.Context())), slog.Int64("message_id", id), slog.Int("n", n), slog.Any("err", err))
	}
	panic(http.ErrAbortHandler)
}

// attachmentWriter sets the headers of a download when its first byte is
// written.
type attachmentWriter struct {
	w       http.ResponseWriter
	headers func(http.Header)
	started bool
}

func (a *attachmentWriter) start() {
	if !a.started {
		a.started = true
		a.headers(a.w.Header())
	}
}

func (a *attachmentWriter) Write(p []byte) (int, error) {
	a.start()
	return a.w.Write(p)
}
