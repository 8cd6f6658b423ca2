package oauth

import "fmt"

// Error codes of refusals the user or admin can act on. The API uses them
// as its codes.
const (
	CodeRequired        = "required"
	CodeInvalid         = "invalid_value"
	CodeUnknownProvider = "not_found"
	CodeNotConfigured   = "oauth_app_missing"
	CodeDenied          = "oauth_denied"
	CodeStateInvalid    = "oauth_state_invalid"
	CodeConsumerAccount = "consumer_account_not_allowed"
)

// Error is a refusal with a code, the field concerned if any, and words
// for people. Failures talking to the provider are *connerr.Error instead.
type Error struct {
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("oauth: %s (%s): %s", e.Code, e.Field, e.Message)
	}
	return "oauth: " + e.Code + ": " + e.Message
}

func fieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

var errStateInvalid = &Error{Code: CodeStateInvalid,
	Message: "This sign-in link has expired or was already used: start connecting again from crmsync."}
