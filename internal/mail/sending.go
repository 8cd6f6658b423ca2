package mail

import (
	"errors"
)

// Sending failures are *connerr.Error values whose chain also holds one of
// these, so that the outbox knows whether to try again (DESIGN §5: decided
// once, in the connector).
var (
	// ErrPermanent: the server refused for good (a 5xx answer, a refused
	// login, a TLS setting that cannot work). Trying again sends nothing
	// more; the user must change something.
	ErrPermanent = errors.New("mail: refused permanently")
	// ErrUncertain: the connection failed after the whole message was
	// handed over and before the server answered. It may have been
	// accepted: sending it again could deliver it twice.
	ErrUncertain = errors.New("mail: outcome unknown")
)
