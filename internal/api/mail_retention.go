package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
)

// Disconnect, retention and reconnect (DESIGN §8) are the accounts
// service's: DELETE asks for confirmation, then disconnects; connecting
// the same address before retained_until reattaches the account.

// boolParam reads an optional true/false query parameter.
func boolParam(q query, name string) (bool, error) {
	if !q.has(name) {
		return false, nil
	}
	switch q.str(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest(codeInvalidParameter, name, "%s=%q is not accepted: give true or false.", name, q.str(name))
}

// disconnectMailAccount stops a mailbox's sync and starts its retention
// (accounts.Service.DisconnectMail). Without ?confirm_data_loss=true it
// only says what would happen (409).
func (s *Server) disconnectMailAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	confirmed, err := boolParam(q, "confirm_data_loss")
	if err != nil {
		return err
	}
	a, err := s.acc.DisconnectMail(r.Context(), c.Viewer, id, accounts.DisconnectRequest{ConfirmDataLoss: confirmed, By: c.User.Email})
	if err != nil {
		return accountError(err, "mail account")
	}
	return s.writeAccount(w, r, a)
}

func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, a crm.MailAccount) error {
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
