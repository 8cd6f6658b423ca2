package accounts

import (
	"errors"
	"fmt"

	"github.com/crmsync/crmsync/internal/store"
)

// FieldError refuses a value of a request: Field names it as the client
// sent it ("imap.port", "options.collection"), Code is a stable word
// (required, invalid_value, plaintext_refused, settings_not_found,
// forwarding_disabled) and Message tells the user what to give instead.
// Front ends show it next to the field.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("accounts: %s (%s): %s", e.Code, e.Field, e.Message)
}

// Codes of FieldError.
const (
	CodeRequired           = "required"
	CodeInvalidValue       = "invalid_value"
	CodePlaintextRefused   = "plaintext_refused"
	CodeSettingsNotFound   = "settings_not_found"
	CodeForwardingDisabled = "forwarding_disabled"
)

func required(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: CodeRequired, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: CodeInvalidValue, Message: fmt.Sprintf(format, args...)}
}

// The kinds of Error, for errors.Is. Each front end maps them once (the
// REST API: 409, 409, 403, 503).
var (
	// ErrConflict: the request collides with an account that exists, or
	// with the state the account is in (connected already, disconnected,
	// in forwarding mode).
	ErrConflict = errors.New("accounts: conflict")
	// ErrConfirmationRequired: a destructive request came without the
	// user's confirmation; the message says what would be lost.
	ErrConfirmationRequired = errors.New("accounts: confirmation required")
	// ErrForbidden: the caller may not do this (connect another user's
	// mailbox, allow a plain-text login without being an admin).
	ErrForbidden = errors.New("accounts: forbidden")
	// ErrUnavailable: the server does not run what the request needs
	// (no mail or PIM connector).
	ErrUnavailable = errors.New("accounts: unavailable")
	// ErrNotFound: no account with this id that the viewer may see. It is
	// the store's error, so that either may be tested for.
	ErrNotFound = store.ErrNotFound
)

// Error is a refusal of a whole request. Kind is one of the Err… values
// above; Field, when set, names the part of the request at fault; Message
// is for the user.
type Error struct {
	Kind    error
	Field   string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s", e.Kind, e.Message)
}

// Unwrap makes errors.Is(err, ErrConflict) work.
func (e *Error) Unwrap() error { return e.Kind }

func conflict(field, format string, args ...any) *Error {
	return &Error{Kind: ErrConflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *Error {
	return &Error{Kind: ErrForbidden, Message: fmt.Sprintf(format, args...)}
}

// isDuplicate reports whether the store refused a write because the
// account exists already.
func isDuplicate(err error) bool {
	var fe *store.FieldError
	return errors.As(err, &fe) && fe.Code == "duplicate"
}
