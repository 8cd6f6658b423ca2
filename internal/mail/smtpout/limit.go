package smtpout

import (
	"errors"
	"net"

	"github.com/crmsync/crmsync/internal/connerr"
)

// maxSessionReplies bounds everything one server sends in one session:
// its greeting, EHLO, AUTH and the replies to a message's commands are a
// few kilobytes (RFC 5321 §4.5.3.1.5: a reply line is at most 512 bytes).
// net/smtp reads a reply line, and the lines of a multi-line reply, whole
// and without end, so a server that never ends a line would otherwise
// exhaust memory. The count is of the bytes on the socket (under TLS with
// STARTTLS, over it with implicit TLS), which bounds the clear text too.
const maxSessionReplies = 1 << 20

// errTooMuch is the reading error past maxSessionReplies.
var errTooMuch = errors.New("smtpout: the server sent more than the session allows")

// limitedConn fails reads, for good, past limit bytes. The socket stays
// open until the client closes it: net/smtp answers a failed EHLO with
// HELO, and that must fail on this error too, not on a closed socket.
type limitedConn struct {
	net.Conn
	left int64
}

func newLimitedConn(c net.Conn) *limitedConn {
	return &limitedConn{Conn: c, left: maxSessionReplies}
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooMuch
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

// tooMuch is the error for a server past the limit.
func tooMuch(err error, cfg Config) (*connerr.Error, bool) {
	if !errors.Is(err, errTooMuch) {
		return nil, false
	}
	return cfg.fault(connerr.Protocol, err, "The SMTP server %s sent more than %d KiB of replies in one session (a reply that never ends); crmsync closed the connection.", cfg.Host, maxSessionReplies>>10), true
}

// over reports whether the limit was reached.
func (c *limitedConn) over() bool { return c.left <= 0 }
