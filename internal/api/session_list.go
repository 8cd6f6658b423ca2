package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/access"
	"github.com/crmsync/crmsync/internal/crm"
)

// A user sees where they are signed in — each session with when it began,
// when it was last used, and the client it came from — and ends any of
// them, or all at once ("sign out everywhere") after losing a device.
// Only sessions: API tokens are listed and revoked with the token routes,
// since signing out everywhere must not break the user's integrations.

// session is one entry of the caller's list of sessions.
type session struct {
	crm.Token
	// Current marks the session the request was made with.
	Current bool `json:"current"`
}

type sessionList struct {
	Data []session `json:"data"`
}

// sessionsEnded answers "sign out everywhere".
type sessionsEnded struct {
	SessionsEnded int64 `json:"sessions_ended"`
	CurrentKept   bool  `json:"current_kept"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	toks, err := access.Sessions(r.Context(), s.st, c.User, s.cfg.Now())
	if err != nil {
		return storeError(err, "session")
	}
	out := sessionList{Data: make([]session, 0, len(toks))}
	for _, t := range toks {
		out.Data = append(out.Data, session{Token: t, Current: t.ID == c.Token.ID})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeSession ends one of the caller's sessions. An id that is not one
// of the caller's active sessions — another user's, an API token's, one
// already ended — is not found, so that ids reveal nothing.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := access.EndSession(r.Context(), s.st, c.User, id, s.cfg.Now()); err != nil {
		return storeError(err, "session")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAllSessions signs the caller out everywhere: every session ends,
// the one making the request too unless keep_current=true. API tokens
// keep working.
func (s *Server) revokeAllSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	keepCurrent, err := boolParam(q, "keep_current")
	if err != nil {
		return err
	}
	var keep int64
	if keepCurrent && c.Token.Kind == crm.TokenSession {
		keep = c.Token.ID
	}
	n, err := access.SignOutEverywhere(r.Context(), s.st, c.User, keep, s.cfg.Now())
	if err != nil {
		return storeError(err, "session")
	}
	writeJSON(w, http.StatusOK, sessionsEnded{SessionsEnded: n, CurrentKept: keep != 0})
	return nil
}
