package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/store"
)

// Error is a refusal the client can act on. Every 4xx answer carries one,
// as {"error":{"code":…,"message":…,"field":…}}. Codes are stable and
// documented in openapi.json; messages are for people and may change.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter, when set, is sent as the Retry-After header (429).
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("api: %d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Code, e.Message)
}

// errorBody is the envelope of every error answer.
type errorBody struct {
	Error *Error `json:"error"`
}

// Error codes. They are part of the API: clients switch on them.
const (
	codeMalformedJSON    = "malformed_json"
	codeUnknownField     = "unknown_field"
	codeInvalidType      = "invalid_type"
	codeInvalidID        = "invalid_id"
	codeInvalidParameter = "invalid_parameter"
	codeInvalidCursor    = "invalid_cursor"
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeRequired         = "required"
	codeInvalidValue     = "invalid_value"
	codeUnauthorized     = "unauthorized"
	codeInvalidCreds     = "invalid_credentials"
	codeOTPRequired      = "otp_required"
	codeInvalidOTP       = "invalid_otp"
	codeTwoFactorSetup   = "two_factor_setup_required"
	codeTooManyAttempts  = "too_many_attempts"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeTokenLimit       = "token_limit"
	codeConflict         = "conflict"
	codeInUse            = "in_use"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
	codeStorageFull      = "insufficient_storage"
)

func badRequest(code, field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// invalid is a 422 for a value that is well-formed JSON but not acceptable.
func invalid(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: codeInvalidValue, Field: field, Message: fmt.Sprintf(format, args...)}
}

// required is a 422 for a missing field.
func required(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: codeRequired, Field: field, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: codeForbidden, Message: fmt.Sprintf(format, args...)}
}

// notFound never says whether the record exists in another organisation or
// belongs to a colleague the caller may not see: both are "not found".
func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: codeNotFound,
		Message: fmt.Sprintf("No %s with this id exists, or you do not have access to it.", what)}
}

// conflict is a 409 for a write that collides with an existing record.
func conflict(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: codeConflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

// storeError translates the errors of the store into API errors. what names
// the record for not-found messages ("company"). Anything it does not know
// is returned unchanged and becomes a 500.
func storeError(err error, what string) error {
	var fe *store.FieldError
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return &Error{Status: http.StatusUnprocessableEntity, Code: fe.Code, Field: fe.Field, Message: fieldMessage(fe)}
	case errors.Is(err, store.ErrNotFound):
		return notFound(what)
	case errors.Is(err, store.ErrBadCursor):
		return badRequest(codeInvalidCursor, "cursor", "The cursor is not one this server issued. Use the next_cursor of the previous page unchanged, or omit it to start from the first page.")
	case errors.Is(err, store.ErrTokenLimit):
		return tokenLimitError()
	case errors.Is(err, store.ErrConflict):
		return conflict("", "This %s conflicts with an existing one.", what)
	case errors.Is(err, store.ErrInUse):
		return &Error{Status: http.StatusConflict, Code: codeInUse,
			Message: fmt.Sprintf("This %s is still referenced by other records. Reassign or delete them first, then try again.", what)}
	case errors.Is(err, store.ErrStale):
		return &Error{Status: http.StatusConflict, Code: codeConflict,
			Message: fmt.Sprintf("This %s was changed by someone else at the same time. Fetch it again and retry.", what)}
	}
	return err
}

// fieldMessage gives a store field error a message that names the field.
// The store writes fragments ("no company with this id that you can
// see"); they become "company_id: no company with this id that you can see."
func fieldMessage(fe *store.FieldError) string {
	msg := strings.TrimSuffix(strings.TrimSpace(fe.Message), ".")
	if msg == "" {
		msg = "is not acceptable"
	}
	if fe.Field == "" {
		return strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	return fe.Field + ": " + msg + "."
}

func tokenLimitError() *Error {
	return &Error{Status: http.StatusConflict, Code: codeTokenLimit, Message: fmt.Sprintf(
		"You already have %d active API tokens, the most allowed. Revoke one you no longer use, then create the new one.",
		maxTokens)}
}

// writeError answers with err. An *Error is sent as is; anything else is a
// failure on our side: it is logged with the request id and the client gets
// only that id, never the cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) && errors.Is(err, store.ErrStorageFull) {
		// Whatever the handler, a full disk is the operator's to fix and
		// the client's to retry later; it is logged so the operator sees it.
		s.log.LogAttrs(r.Context(), slog.LevelError, "write refused: the database's disk is full",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Any("err", err))
		ae = storageFullError()
	}
	if ae == nil && !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request canceled", slog.String("request_id", requestID(r.Context())))
			return
		}
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Any("err", err))
		ae = internalError(r.Context())
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(ae.RetryAfter))
	}
	ae, lang := localize(r, ae)
	w.Header().Set("Content-Language", lang)
	writeJSON(w, ae.Status, errorBody{Error: ae})
}

// localize writes the message of an error in the language of the person
// who reads it: the signed-in user's chosen language, else the best match
// for Accept-Language. Only codes whose message is the same for every
// request ("code.<code>" in the catalogue, package i18n) are translated,
// with the request's few details (a wait, a reference) filled in; the
// others, and every answer in English, keep the English message, which
// may say more. It returns the error to send and its language.
func localize(r *http.Request, ae *Error) (*Error, string) {
	chosen, accept := userLanguage(r.Context()), r.Header.Get("Accept-Language")
	if chosen == "" && accept == "" {
		return ae, i18n.Langs[0]
	}
	lang := i18n.Negotiate(chosen, accept)
	if lang == i18n.Langs[0] || !i18n.Has("code."+ae.Code) {
		return ae, i18n.Langs[0]
	}
	p := i18n.For(lang)
	out := *ae
	out.Message = p.Coded(ae.Code, ae.Message, "Ref", requestID(r.Context()), "Max", p.Number(maxTokens),
		"Wait", waitWords(p, ae.RetryAfter))
	return &out, lang
}

// waitWords says a wait in a language, rounded up to seconds or minutes.
func waitWords(p *i18n.Printer, d time.Duration) string {
	if d < time.Minute {
		return p.N("wait.seconds", max(1, int((d+time.Second-1)/time.Second)))
	}
	return p.N("wait.minutes", int((d+time.Minute-1)/time.Minute))
}

const userLanguageKey ctxKey = 1

// withUserLanguage remembers the signed-in caller's chosen language for
// the error answer (writeError).
func withUserLanguage(r *http.Request, lang string) *http.Request {
	if lang == "" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), userLanguageKey, lang))
}

func userLanguage(ctx context.Context) string {
	l, _ := ctx.Value(userLanguageKey).(string)
	return l
}

// storageFullError is the 507 of a write the database's disk has no room
// for. Reads keep working, so the client knows what still works.
func storageFullError() *Error {
	return &Error{Status: http.StatusInsufficientStorage, Code: codeStorageFull,
		Message: "The database's disk is full, so nothing can be saved right now; reads keep working. " +
			"An operator must free space on the disk that holds the database (or raise its quota), then try again."}
}

func internalError(ctx context.Context) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Something went wrong on our side. Try again; if it persists, give your administrator this reference: " + requestID(ctx)}
}
