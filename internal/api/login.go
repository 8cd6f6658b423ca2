package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// OTP is the current code of the user's authenticator app, needed
	// when they turned two-factor authentication on.
	OTP string `json:"otp,omitempty"`
	// RecoveryCode replaces OTP for a user who lost their app; each
	// works once.
	RecoveryCode string `json:"recovery_code,omitempty"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      crm.User  `json:"user"`
}

const badCredentials = "The email or password is wrong. Check both and try again."

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" {
		return required("email", "email is required.")
	}
	if req.Password == "" {
		return required("password", "password is required.")
	}
	client := s.client(r)
	user, err := s.signIn.Password(r.Context(), email, req.Password, client)
	switch {
	case errors.Is(err, signin.ErrBadCredentials):
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidCreds, Message: badCredentials}
	case errors.Is(err, signin.ErrDeactivated):
		return forbidden("Your account was deactivated by an admin of your organisation, so you cannot sign in. Ask them to reactivate it.")
	case err != nil:
		return tooManyAttempts(err, "sign-ins")
	}
	// With two-factor authentication, the password alone opens nothing:
	// no session exists until the code is right.
	if err := s.secondFactor(r, user, req, client); err != nil {
		return err
	}
	sess, err := s.signIn.StartSession(r.Context(), user, client)
	if err != nil {
		return storeError(err, "token")
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: sess.Secret, ExpiresAt: sess.ExpiresAt, User: user})
	return nil
}

const (
	otpRequired = "This account has two-factor authentication: send the current 6-digit code of your authenticator app in \"otp\" with the email and password (or one of your recovery codes in \"recovery_code\")."
	otpWrong    = "The code is wrong. Check the time on your phone and send the current 6-digit code of your authenticator app, or a recovery code."
	otpUsed     = "This code was used already. Wait for the next code of your authenticator app (it changes every 30 seconds) and send that."
	recoveryBad = "The recovery code is wrong or was used already (each works once). Check it, or use the current code of your authenticator app."
)

// secondFactor checks the code of a user with two-factor authentication
// (package signin keeps the rules, shared with the web app's second
// step).
func (s *Server) secondFactor(r *http.Request, user crm.User, req LoginRequest, client signin.Client) error {
	on, err := s.signIn.HasTwoFactor(r.Context(), user)
	if err != nil || !on {
		return err
	}
	field := "otp"
	switch {
	case strings.TrimSpace(req.OTP) != "":
		err = s.signIn.CheckCode(r.Context(), user, req.OTP, client)
	case strings.TrimSpace(req.RecoveryCode) != "":
		field = "recovery_code"
		err = s.signIn.CheckRecoveryCode(r.Context(), user, req.RecoveryCode, client)
	default:
		return &Error{Status: http.StatusUnauthorized, Code: codeOTPRequired, Field: "otp", Message: otpRequired}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, signin.ErrBadCode):
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidOTP, Field: field, Message: otpWrong}
	case errors.Is(err, signin.ErrCodeUsed):
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidOTP, Field: field, Message: otpUsed}
	case errors.Is(err, signin.ErrBadRecoveryCode):
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidOTP, Field: field, Message: recoveryBad}
	}
	return tooManyAttempts(err, "codes")
}

// twoFactorSetup is the refusal of a session of a user whose organisation
// requires two-factor authentication they have not set up.
func twoFactorSetup() *Error {
	return &Error{Status: http.StatusForbidden, Code: codeTwoFactorSetup,
		Message: "Your organisation requires two-factor authentication and you have not set it up, so this session can do nothing else yet. Set it up in the web app (Settings > Security) or with the two-factor routes of the API, which this session may use; API tokens keep working meanwhile."}
}

// logout revokes the token the request carries.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.st.RevokeToken(r.Context(), c.Viewer.OrgID, c.User.ID, c.Token.ID, s.cfg.Now()); err != nil {
		return storeError(err, "token")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	writeJSON(w, http.StatusOK, c.User)
	return nil
}

func (s *Server) org(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.st.GetOrg(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return storeError(err, "organisation")
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}
