package imapsync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/connerr"
)

// framed puts a framing reader (frame.go) over conn, the clear text go-imap
// will read, and keeps it to explain a failure.
func (c *Conn) framed(conn net.Conn) net.Conn {
	f := newFramedConn(conn, defaultFrameLimits(c.cfg.MaxMessageBytes), &c.cfg)
	c.mu.Lock()
	c.frame = f
	c.mu.Unlock()
	return f
}

// startTLS reads the greeting and upgrades the connection with STARTTLS
// (RFC 3501 §6.2.1) before go-imap takes it over. go-imap's own
// NewStartTLS puts the TLS layer inside the client, where no framing
// reader can sit on the clear text; doing the exchange here lets the
// limits of frame.go apply after the upgrade as before it.
//
// A refusal comes back as an *imap.Error, like go-imap's. The capabilities
// of the clear-text greeting are not kept (RFC 3501 §6.2.1): go-imap asks
// again.
func (c *Conn) startTLS(ctx context.Context, conn net.Conn, opts *imapclient.Options) (*imapclient.Client, error) {
	clear := newFramedConn(conn, defaultFrameLimits(0), &c.cfg)
	clear.lim.body = 0 // no message before login
	br := bufio.NewReader(clear)
	fail := func(err error) error {
		if e := clear.violation(); e != nil {
			return e
		}
		return err
	}
	greeting, err := readLine(br)
	if err != nil {
		return nil, fail(err)
	}
	switch {
	case hasPrefixFold(greeting, "* PREAUTH"):
		return nil, errors.New("imapsync: the server sent PREAUTH, which skips STARTTLS (RFC 3501 §7.1.4)")
	case !hasPrefixFold(greeting, "* OK"):
		return nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: strings.TrimSpace(strings.TrimPrefix(greeting, "*"))}
	}
	const tag = "S1"
	if _, err := io.WriteString(conn, tag+" STARTTLS\r\n"); err != nil {
		return nil, err
	}
	// Untagged responses may come first (a CAPABILITY): each is bounded by
	// the framing reader, their number by maxUntagged.
	const maxUntagged = 100
	for i := 0; ; i++ {
		l, err := readLine(br)
		if err != nil {
			return nil, fail(err)
		}
		if !hasPrefixFold(l, tag+" ") {
			if i == maxUntagged {
				return nil, c.cls.fault(connerr.Protocol, nil, "%s sent more than %d responses to STARTTLS without answering it.", c.cfg.Host, maxUntagged)
			}
			continue
		}
		status, text, _ := strings.Cut(strings.TrimSpace(l[len(tag)+1:]), " ")
		if !strings.EqualFold(status, "OK") {
			return nil, &imap.Error{Type: imap.StatusResponseType(strings.ToUpper(status)), Text: text}
		}
		break
	}
	if br.Buffered() > 0 {
		// Clear text after the OK would be read as if it came over TLS
		// (the STARTTLS injection of CVE-2011-0411).
		return nil, c.cls.fault(connerr.TLS, nil, "%s sent data before the TLS handshake after STARTTLS; crmsync does not trust this connection.", c.cfg.Host)
	}
	tc := c.cfg.tlsConfig()
	tlsConn := tls.Client(conn, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	// go-imap waits for a greeting; the server's was before the upgrade.
	return imapclient.New(&greeted{Conn: c.framed(tlsConn), greeting: strings.NewReader("* OK TLS started\r\n")}, opts), nil
}

// readLine reads one line without its CRLF.
func readLine(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("imapsync: reading the STARTTLS exchange: %w", err)
	}
	return strings.TrimRight(l, "\r\n"), nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// greeted replays a greeting before the connection's own bytes.
type greeted struct {
	net.Conn
	greeting *strings.Reader
}

func (g *greeted) Read(p []byte) (int, error) {
	if g.greeting.Len() > 0 {
		return g.greeting.Read(p)
	}
	return g.Conn.Read(p)
}
