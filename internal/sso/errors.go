package sso

import "fmt"

// Error codes of refusals the user or admin can act on; the API uses
// them as its codes and the web app translates them (code.<code>).
const (
	CodeRequired      = "required"
	CodeInvalid       = "invalid_value"
	CodeNotConfigured = "sso_not_configured"
	CodeDiscovery     = "sso_discovery_failed"
	CodeStateInvalid  = "sso_state_invalid"
	CodeDenied        = "sso_denied"
	CodeTokenInvalid  = "sso_token_invalid"
	CodeUnverified    = "sso_email_unverified"
	CodeNotMember     = "sso_not_member"
	CodeDeactivated   = "sso_deactivated"
)

// Error is a refusal with a code, the field concerned if any, and words
// for people (English; the web app shows its own translation of the
// code). Failures reaching the provider are *connerr.Error instead.
type Error struct {
	Code    string
	Field   string
	Message string
	// Email is who the provider said signed in (CodeNotMember).
	Email string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("sso: %s (%s): %s", e.Code, e.Field, e.Message)
	}
	return "sso: " + e.Code + ": " + e.Message
}

func fieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	errNotConfigured = &Error{Code: CodeNotConfigured,
		Message: "Single sign-on is not set up for this organisation: an admin sets it up in the organisation's settings."}
	errStateInvalid = &Error{Code: CodeStateInvalid,
		Message: "This sign-in link has expired, was already used or was not started in this browser: start signing in again."}
	errUnverified = &Error{Code: CodeUnverified,
		Message: "The identity provider has not verified your email address: verify it with the provider, then sign in again."}
	errDeactivated = &Error{Code: CodeDeactivated,
		Message: "Your crmsync account was deactivated: ask your admin to reactivate it."}
)

// notMember is the refusal of someone the provider knows but the
// organisation does not.
func notMember(email string) *Error {
	return &Error{Code: CodeNotMember, Email: email,
		Message: fmt.Sprintf("%s is not a user of this organisation in crmsync: ask your admin to add you.", email)}
}
