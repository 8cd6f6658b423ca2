package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/connerr"
)

// verifyError turns a connector's refusal to log in into the 422 the user
// can act on, the same for a mailbox as for an address book or calendar
// (DESIGN §5): the code is the failure's connerr.Kind (auth_failed,
// unreachable, protocol, …), the message its sentence with the server
// named. Anything else (the store, a bug) passes through as it is.
func verifyError(err error) error {
	e := connerr.As(err)
	if e == nil {
		return err
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: string(e.Kind), Message: connerr.Message(e)}
}
