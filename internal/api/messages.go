package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
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
	page, err := s.st.ListEmails(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "message")
	}
	return writeList(w, page, cleanEmail)
}

func cleanEmail(e crm.Email) crm.Email {
	e.InReplyTo, e.References, e.Warnings = nonNil(e.InReplyTo), nonNil(e.References), nonNil(e.Warnings)
	e.Attachments = nonNil(e.Attachments)
	e.Participants.From, e.Participants.To, e.Participants.Cc = nonNil(e.Participants.From), nonNil(e.Participants.To), nonNil(e.Participants.Cc)
	return e
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := s.st.GetEmail(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "message")
	}
	writeJSON(w, http.StatusOK, cleanEmail(e))
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
	writeJSON(w, http.StatusOK, cleanEmail(e))
	return nil
}

func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request, c *caller) error {
	mc, err := s.mailConnector()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		return badRequest(codeInvalidID, "n", "%q is not an attachment number: attachments are numbered from 0, as in the message's attachments list.", r.PathValue("n"))
	}
	e, err := s.st.GetEmail(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "message")
	}
	if n >= len(e.Attachments) {
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Field: "n", Message: fmt.Sprintf("This message has %d attachments, numbered from 0.", len(e.Attachments))}
	}
	a, err := s.st.GetMailAccount(r.Context(), c.Viewer, e.AccountID)
	if err != nil {
		return storeError(err, "mail account")
	}
	info := e.Attachments[n]
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
	err = mc.Attachment(r.Context(), a, e, n, aw)
	if err == nil {
		aw.start() // an empty attachment is still one
		return nil
	}
	if !aw.started {
		var me *mail.Error
		if errors.As(err, &me) {
			return &Error{Status: http.StatusBadGateway, Code: string(me.Kind), Message: "The attachment could not be fetched from the mail server: " + me.Message}
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
