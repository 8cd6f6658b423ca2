package imapsync

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Limits on what one server may send. go-imap reads a line or a literal
// that is not a message body into memory whole, and keeps reading as long
// as the server sends: a LIST answered with a 4 GB literal, or a line that
// never ends, would take the process down. The framing reader below
// follows the IMAP framing (RFC 3501 §4.3, §7.5: lines, and {N} literals
// inside them) on the clear text between TLS and go-imap, and cuts the
// connection as soon as the server goes past these.
const (
	// maxLine bounds one line of a response (between the start or the
	// end of a literal and the next CRLF). ENVELOPE, BODYSTRUCTURE and
	// LIST lines are a few kilobytes.
	maxLine = 64 << 10
	// maxSearchLine bounds a SEARCH, SORT or ESEARCH line: without ESEARCH
	// (Gmail) a folder's UIDs come as one line of numbers, about 8 bytes
	// each, so this allows two million messages.
	maxSearchLine = 16 << 20
	// maxLiteral bounds a literal that is not a message body: a folder
	// name, an ENVELOPE field.
	maxLiteral = 1 << 20
	// maxResponse bounds all of one response outside message bodies: its
	// lines and its small literals together.
	maxResponse = 4 << 20
	// DefaultMaxMessageBytes is Config.MaxMessageBytes' default.
	DefaultMaxMessageBytes = 100 << 20
)

// frameLimits are the limits one connection applies.
type frameLimits struct {
	line, searchLine, response int64
	literal, body              int64
}

func defaultFrameLimits(maxMessage int64) frameLimits {
	return frameLimits{line: maxLine, searchLine: maxSearchLine, response: maxResponse + maxSearchLine,
		literal: maxLiteral, body: maxMessage}
}

// A literal announced at the end of a line ({N}, ~{N} for BINARY,
// RFC 3516, and {N+}), and the FETCH items whose literal is a message
// body (RFC 3501 §7.4.2: BODY[section]<origin>, RFC822, RFC822.HEADER,
// RFC822.TEXT; RFC 3516: BINARY[section]).
var (
	literalRe   = regexp.MustCompile(`~?\{([0-9]+)\+?\}\r\n$`)
	bodyItemRe  = regexp.MustCompile(`(?i)(?:BODY\[[^\]]*\]|BINARY\[[^\]]*\]|RFC822(?:\.HEADER|\.TEXT)?)(?:<[0-9]+>)? ~?\{[0-9]+\+?\}\r\n$`)
	fetchHeadRe = regexp.MustCompile(`(?i)^\* [0-9]+ FETCH `)
	searchRe    = regexp.MustCompile(`(?i)^\* (?:SEARCH|SORT|ESEARCH)\b`)
)

const (
	tailKeep = 256 // bytes of the current line kept to recognise a literal
	headKeep = 48  // bytes of the response kept to name it in an error
)

// framedConn is the connection as go-imap reads it (the clear text, under
// TLS when there is TLS). Read passes the bytes on while following the
// framing, and fails, for good, with a connerr.Protocol error naming the
// server when the server goes past a limit. Writes pass through.
type framedConn struct {
	net.Conn
	lim    frameLimits
	server string // host:port, for the error
	host   string

	inLiteral bool
	litLeft   int64 // bytes of the current literal still to come
	litBody   bool  // the current literal is a message body
	lineLen   int64 // bytes of the current line so far
	respLen   int64 // bytes of the current response outside bodies
	tail      []byte
	head      []byte

	mu  sync.Mutex
	err *connerr.Error
}

func newFramedConn(conn net.Conn, lim frameLimits, cfg *Config) *framedConn {
	return &framedConn{Conn: conn, lim: lim, server: cfg.addr(), host: cfg.Host}
}

func (f *framedConn) Read(p []byte) (int, error) {
	if err := f.violation(); err != nil {
		return 0, err
	}
	n, err := f.Conn.Read(p)
	if n > 0 {
		if e := f.scan(p[:n]); e != nil {
			f.mu.Lock()
			f.err = e
			f.mu.Unlock()
			// Nothing of this read reaches go-imap: it stops here, and
			// the socket is closed so the server stops too.
			f.Conn.Close()
			return 0, e
		}
	}
	return n, err
}

// violation is the limit the server went past, nil if none.
func (f *framedConn) violation() *connerr.Error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	return f.err
}

// scan follows the framing over b.
func (f *framedConn) scan(b []byte) *connerr.Error {
	for len(b) > 0 {
		if f.inLiteral {
			k := int64(len(b))
			if k > f.litLeft {
				k = f.litLeft
			}
			f.litLeft -= k
			if !f.litBody {
				f.respLen += k
				if f.respLen > f.lim.response {
					return f.fault("a response larger than %s", size(f.lim.response))
				}
			}
			b = b[k:]
			if f.litLeft == 0 {
				f.inLiteral = false
			}
			continue
		}
		c := b[0]
		b = b[1:]
		f.lineLen++
		f.respLen++
		if len(f.head) < headKeep {
			f.head = append(f.head, c)
		}
		f.tail = append(f.tail, c)
		if len(f.tail) > 2*tailKeep {
			f.tail = append(f.tail[:0], f.tail[len(f.tail)-tailKeep:]...)
		}
		if c == '\n' {
			if e := f.endOfLine(); e != nil {
				return e
			}
			continue
		}
		if f.lineLen > f.lim.line {
			lineMax := f.lim.line
			if searchRe.Match(f.head) {
				lineMax = f.lim.searchLine
			}
			if f.lineLen > lineMax {
				return f.fault("a line longer than %s without an end", size(lineMax))
			}
		}
		if f.respLen > f.lim.response {
			return f.fault("a response larger than %s", size(f.lim.response))
		}
	}
	return nil
}

// endOfLine decides, at a LF, whether a literal follows or the response
// is over.
func (f *framedConn) endOfLine() *connerr.Error {
	m := literalRe.FindSubmatch(f.tail)
	f.lineLen = 0
	if m == nil {
		f.respLen, f.head, f.tail = 0, f.head[:0], f.tail[:0]
		return nil
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	body := fetchHeadRe.Match(f.head) && bodyItemRe.Match(f.tail)
	f.tail = f.tail[:0]
	limit, what := f.lim.literal, "a literal"
	if body {
		limit, what = f.lim.body, "a message"
	}
	if err != nil || n > limit {
		return f.fault("%s of %s bytes; crmsync accepts at most %s there", what, m[1], size(limit))
	}
	f.inLiteral, f.litLeft, f.litBody = n > 0, n, body
	return nil
}

// fault is the error for a server that went past a limit, naming it and
// quoting the start of the response.
func (f *framedConn) fault(format string, args ...any) *connerr.Error {
	what := fmt.Sprintf(format, args...)
	return &connerr.Error{Kind: connerr.Protocol, Server: f.server,
		Err:     fmt.Errorf("imapsync: %s from %s", what, f.server),
		Message: fmt.Sprintf("%s sent %s (in the response starting %q); crmsync closed the connection.", f.host, what, f.head)}
}

// size formats a byte count for a message.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// DefaultMaxFolders is Config.MaxFolders' default: how many folders
// Folders returns at most (plus the special ones listed after them). The
// sync engine keeps fewer still (mailsync.DefaultMaxFolders), special and
// chosen folders first.
const DefaultMaxFolders = 10000

// endlessFolders is how many times MaxFolders a LIST answer may go on
// (a million entries by default): past it the server is taken to send an
// endless list, and the connection is closed.
const endlessFolders = 100

// special reports whether a listed folder must be kept past MaxFolders:
// the inbox and the folders with a SPECIAL-USE attribute.
func special(d *imap.ListData) bool {
	if strings.EqualFold(d.Mailbox, "INBOX") {
		return true
	}
	for _, a := range d.Attrs {
		switch a {
		case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive, imap.MailboxAttrAll:
			return true
		}
	}
	return false
}

// tooManyFolders stops a LIST that goes past endlessFolders: the rest
// of the answer may never end, so the connection is closed rather than
// read to its end. What go-imap already parsed is drained so its reader
// is not left blocked on the command.
func (c *Conn) tooManyFolders(cmd *imapclient.ListCommand) error {
	c.kill(killedAfterError)
	for cmd.Next() != nil {
	}
	cmd.Close()
	e := c.cls.fault(connerr.Protocol, nil, "%s listed more than %d folders without end; crmsync stopped reading and closed the connection. Remove or unsubscribe folders on the server.", c.cfg.Host, endlessFolders*c.cfg.MaxFolders)
	c.setBroken(e)
	return e
}
