package mail

import (
	"context"
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

// Searcher is a Mailbox that can find messages of the selected folder by
// Message-ID (IMAP UID SEARCH HEADER), so that a message the outbox sent
// is recognised in the Sent folder.
type Searcher interface {
	// SearchMessageID returns the UIDs of the selected folder's messages
	// whose Message-ID is id (given without angle brackets), ascending.
	SearchMessageID(ctx context.Context, id string) ([]uint32, error)
}
