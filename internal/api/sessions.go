package api

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/internal/access"
	"github.com/crmsync/crmsync/internal/crm"
)

// A password change ends the user's other sessions at once (package
// access, which the command line's `crmsync users password` shares). The
// session making the change, when the user changes their own, stays. API
// tokens stay too; the answer says so and lists them, so that the user can
// revoke those they no longer trust.

// userUpdateResponse is the answer of PATCH /api/v1/users/{id}: the user,
// and what a password change did to their sign-ins.
type userUpdateResponse struct {
	crm.User
	PasswordChange *passwordChange `json:"password_change,omitempty"`
}

// passwordChange tells what a new password ended and what it kept.
type passwordChange struct {
	SessionsEnded int64       `json:"sessions_ended"`
	APITokens     []crm.Token `json:"api_tokens"`
	Message       string      `json:"message"`
}

// endOtherSessions revokes u's session tokens after their password was
// changed, but the caller's own session, and lists the API tokens kept.
func (s *Server) endOtherSessions(ctx context.Context, c *caller, u crm.User) (*passwordChange, error) {
	var except int64
	if c.User.ID == u.ID && c.Token.Kind == crm.TokenSession {
		except = c.Token.ID
	}
	ended, err := access.EndSessions(ctx, s.st, u, except, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	n, tokens := ended.SessionsEnded, ended.APITokens
	pc := &passwordChange{SessionsEnded: n, APITokens: nonNil(tokens),
		Message: fmt.Sprintf("The password was changed and %d other sign-in session(s) ended.", n)}
	if len(tokens) > 0 {
		pc.Message += fmt.Sprintf(" The %d API token(s) listed in api_tokens still work: revoke any you no longer trust.", len(tokens))
	}
	return pc, nil
}
