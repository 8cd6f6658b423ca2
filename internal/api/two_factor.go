package api

import (
	"errors"
	"net/http"

	"github.com/crmsync/crmsync/internal/signin"
)

// A user's two-factor authentication over the API, for those who never
// open the web app: the same workflow as its security page (package
// signin). A sign-in session of a user whose organisation requires it
// may call these routes, and only these and logout, until it is on.

// twoFactorPath is the prefix of the routes a session blocked by the
// policy may still call.
const twoFactorPath = "/api/v1/me/two_factor"

// TwoFactorCodeRequest is the body of POST /api/v1/me/two_factor/confirm.
type TwoFactorCodeRequest struct {
	OTP string `json:"otp"`
}

// TwoFactorDisableRequest is the body of POST
// /api/v1/me/two_factor/disable: a current code, or the password.
type TwoFactorDisableRequest struct {
	OTP      string `json:"otp,omitempty"`
	Password string `json:"password,omitempty"`
}

type twoFactorState struct {
	Enabled           bool `json:"enabled"`
	Pending           bool `json:"pending"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
	Required          bool `json:"required"`
}

type twoFactorEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
	Message       string   `json:"message"`
}

const recoveryCodesShownOnce = "Keep these recovery codes somewhere safe: they are shown only this once, and each signs you in once without your authenticator app."

func (s *Server) getTwoFactor(w http.ResponseWriter, r *http.Request, c *caller) error {
	st, err := s.signIn.TwoFactor(r.Context(), c.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, twoFactorState{Enabled: st.Enabled, Pending: st.Pending, RecoveryCodesLeft: st.RecoveryCodesLeft, Required: st.Required})
	return nil
}

func (s *Server) beginTwoFactor(w http.ResponseWriter, r *http.Request, c *caller) error {
	e, err := s.signIn.BeginTOTP(r.Context(), c.User)
	switch {
	case errors.Is(err, signin.ErrTwoFactorOn):
		return &Error{Status: http.StatusConflict, Code: codeConflict, Message: "Two-factor authentication is on already. To set it up with a new key, turn it off first."}
	case errors.Is(err, signin.ErrNoKeys):
		return &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "This server has no secret key to protect two-factor secrets with. Ask your administrator to configure one."}
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, twoFactorEnrolment{Secret: e.Secret, OTPAuthURL: e.URL})
	return nil
}

func (s *Server) confirmTwoFactor(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req TwoFactorCodeRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OTP == "" {
		return required("otp", "otp is required: the current 6-digit code of your authenticator app.")
	}
	codes, err := s.signIn.ConfirmTOTP(r.Context(), c.User, req.OTP, s.client(r))
	if errors.Is(err, signin.ErrNotEnrolling) {
		return &Error{Status: http.StatusConflict, Code: codeConflict, Message: "No two-factor set-up was started (or it is on already). Start one first."}
	}
	if err != nil {
		return otpError(err, "otp")
	}
	writeJSON(w, http.StatusOK, recoveryCodes{RecoveryCodes: codes, Message: recoveryCodesShownOnce})
	return nil
}

func (s *Server) disableTwoFactor(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req TwoFactorDisableRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OTP == "" && req.Password == "" {
		return required("otp", "otp or password is required: prove it is you with a current code or your password.")
	}
	st, err := s.signIn.TwoFactor(r.Context(), c.User)
	if err != nil {
		return err
	}
	if !st.Enabled {
		return notFound("two-factor authentication")
	}
	if st.Required {
		return forbidden("Your organisation requires two-factor authentication, so it cannot be turned off.")
	}
	if err := s.signIn.ProveIdentity(r.Context(), c.User, req.OTP, req.Password, s.client(r)); err != nil {
		if errors.Is(err, signin.ErrBadCredentials) {
			return invalid("password", "The password is wrong.")
		}
		return otpError(err, "otp")
	}
	if err := s.signIn.DisableTOTP(r.Context(), c.User); err != nil && !errors.Is(err, signin.ErrNoTwoFactor) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request, c *caller) error {
	codes, err := s.signIn.RegenerateRecoveryCodes(r.Context(), c.User)
	if errors.Is(err, signin.ErrNoTwoFactor) {
		return notFound("two-factor authentication")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recoveryCodes{RecoveryCodes: codes, Message: recoveryCodesShownOnce})
	return nil
}

// otpError answers a refused code (field names the code's field).
func otpError(err error, field string) error {
	switch {
	case errors.Is(err, signin.ErrBadCode):
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeInvalidOTP, Field: field, Message: otpWrong}
	case errors.Is(err, signin.ErrCodeUsed):
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeInvalidOTP, Field: field, Message: otpUsed}
	case errors.Is(err, signin.ErrBadRecoveryCode):
		return &Error{Status: http.StatusUnprocessableEntity, Code: codeInvalidOTP, Field: field, Message: recoveryBad}
	}
	return tooManyAttempts(err, "codes")
}
