// Package mailfake is an in-memory mail.Mailbox for the engine's own
// tests: a provider with opaque ids and a change log read through delta
// cursors (as Graph and Gmail do), and faults to inject — a cursor the
// provider forgets (with or without new ids), throttling, lost replies, a
// connection dropped mid-fetch, a message that never arrives. Tests of the
// real connectors run against Dovecot; this one runs in milliseconds.
package mailfake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

// Server holds the folders of one mailbox. It is safe for concurrent use;
// each Dial returns a new connection to it.
type Server struct {
	mu      sync.Mutex
	folders map[string]*folder
	order   []string
	next    int // id counter
	epoch   int // grows when cursors are forgotten
	// ReportPresent makes Changes list every id a folder holds (Present)
	// instead of removals, as IMAP without QRESYNC does.
	ReportPresent bool
	// MaxMessageBytes, when set, cuts a fetched body there and marks it
	// Truncated, as a connector's size limit does.
	MaxMessageBytes int

	throttle   int
	retryAfter time.Duration
	loseReply  int
	failFetch  int // fail a Fetch after delivering this many messages (0: off)
	failSkip   int // Fetch calls to let through before failFetch applies
	never      map[mail.ID]bool
	calls      map[string]int
}

type folder struct {
	info mail.FolderInfo
	msgs []*message // oldest first
	log  []change   // seq = index+1
}

type message struct {
	id    mail.ID
	raw   []byte
	flags mail.Flags
	date  time.Time
	gone  bool
}

type change struct {
	id   mail.ID
	kind byte // 'a' added, 'r' removed, 'f' flags
}

// New returns a server with the given folders (names; "INBOX" and "Sent"
// get their roles).
func New(folders ...string) *Server {
	s := &Server{folders: map[string]*folder{}, never: map[mail.ID]bool{}, calls: map[string]int{}}
	for _, name := range folders {
		role := mail.RoleNone
		switch name {
		case "INBOX":
			role = mail.RoleInbox
		case "Sent":
			role = mail.RoleSent
		}
		s.folders[name] = &folder{info: mail.FolderInfo{Name: name, Role: role}}
		s.order = append(s.order, name)
	}
	return s
}

// Add puts a message in a folder and returns its id.
func (s *Server) Add(folder string, raw []byte, flags mail.Flags) mail.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(folder, raw, flags)
}

func (s *Server) add(name string, raw []byte, flags mail.Flags) mail.ID {
	f := s.folders[name]
	s.next++
	id := mail.ID("m" + strconv.Itoa(s.next))
	f.msgs = append(f.msgs, &message{id: id, raw: raw, flags: flags, date: time.Now()})
	f.log = append(f.log, change{id, 'a'})
	return id
}

// Remove deletes a message from its folder.
func (s *Server) Remove(folder string, id mail.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.folders[folder]
	if m := f.find(id); m != nil {
		m.gone = true
		f.log = append(f.log, change{id, 'r'})
	}
}

// SetFlags changes a message's flags, as another client would.
func (s *Server) SetFlags(folder string, id mail.ID, flags mail.Flags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.folders[folder]
	if m := f.find(id); m != nil {
		m.flags = flags
		f.log = append(f.log, change{id, 'f'})
	}
}

// Flags returns a message's flags on the server.
func (s *Server) Flags(folder string, id mail.ID) mail.Flags {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.folders[folder].find(id); m != nil {
		return m.flags
	}
	return mail.Flags{}
}

// IDs returns the ids a folder holds, oldest first.
func (s *Server) IDs(folder string) []mail.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mail.ID
	for _, m := range s.folders[folder].msgs {
		if !m.gone {
			out = append(out, m.id)
		}
	}
	return out
}

// ForgetCursors makes every cursor issued so far invalid (a delta link
// expired, a history id too old, UIDVALIDITY changed). With renumber the
// messages also get new ids, as IMAP's do.
func (s *Server) ForgetCursors(renumber bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for _, f := range s.folders {
		f.log = nil
		if renumber {
			for _, m := range f.msgs {
				s.next++
				m.id = mail.ID("m" + strconv.Itoa(s.next))
			}
		}
	}
}

// Throttle makes the next n calls fail as throttled, asking for after.
func (s *Server) Throttle(n int, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, after
}

// LoseReplies makes the next n writes (SetFlags, Append) happen on the
// server but answer a dropped connection.
func (s *Server) LoseReplies(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseReply = n
}

// FailFetchAfter makes the next Fetch drop the connection after delivering
// n messages.
func (s *Server) FailFetchAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFetch = n
}

// FailFetchLater is FailFetchAfter for a later Fetch: skip Fetch calls go
// through whole, the one after drops the connection after n messages (a
// connection lost in the middle of a long initial sync).
func (s *Server) FailFetchLater(skip, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFetch, s.failSkip = n, skip
}

// Never makes a message never arrive in a Fetch (a server that cannot
// deliver it).
func (s *Server) Never(id mail.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.never[id] = true
}

// Calls returns how many times each method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (f *folder) find(id mail.ID) *message {
	for _, m := range f.msgs {
		if m.id == id && !m.gone {
			return m
		}
	}
	return nil
}

// Dial returns a connection.
func (s *Server) Dial() mail.Mailbox { return &conn{s: s} }

type conn struct{ s *Server }

var (
	_ mail.Mailbox  = (*conn)(nil)
	_ mail.Appender = (*conn)(nil)
	_ mail.Searcher = (*conn)(nil)
)

// enter counts a call and applies throttling; the caller holds s.mu.
func (c *conn) enter(method string) error {
	c.s.calls[method]++
	if c.s.throttle > 0 {
		c.s.throttle--
		return &connerr.Error{Kind: connerr.Throttled, Server: "fake", RetryAfter: c.s.retryAfter, Message: "Too many requests; the provider asks to wait."}
	}
	return nil
}

func (c *conn) lostReply() error {
	if c.s.loseReply > 0 {
		c.s.loseReply--
		return &connerr.Error{Kind: connerr.Unreachable, Server: "fake", Message: "The connection dropped before the provider answered."}
	}
	return nil
}

func (c *conn) Close() error { return nil }

func (c *conn) Folders(ctx context.Context) ([]mail.FolderInfo, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.enter("Folders"); err != nil {
		return nil, err
	}
	var out []mail.FolderInfo
	for _, n := range c.s.order {
		out = append(out, c.s.folders[n].info)
	}
	return out, nil
}

// A cursor is "EPOCH:SEQ:OFFSET": the change log position it has seen,
// and, while the first listing goes on (OFFSET ≥ 0), how many of the
// messages present at SEQ it has given, newest first.
func parseCursor(c mail.Cursor) (epoch, seq, offset int, ok bool) {
	p := strings.Split(string(c), ":")
	if len(p) != 3 {
		return 0, 0, 0, false
	}
	var n [3]int
	for i, x := range p {
		v, err := strconv.Atoi(x)
		if err != nil {
			return 0, 0, 0, false
		}
		n[i] = v
	}
	return n[0], n[1], n[2], true
}

func cursor(epoch, seq, offset int) mail.Cursor {
	return mail.Cursor(fmt.Sprintf("%d:%d:%d", epoch, seq, offset))
}

func (c *conn) Changes(ctx context.Context, name string, since mail.Cursor, limit int) (mail.Changes, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	var ch mail.Changes
	if err := c.enter("Changes"); err != nil {
		return ch, err
	}
	f, ok := c.s.folders[name]
	if !ok {
		return ch, &connerr.Error{Kind: connerr.Gone, Server: "fake", Message: "No folder " + name + "."}
	}
	present := f.present()
	ch.Total = len(present)
	if c.s.ReportPresent {
		ch.Present = present
	}
	epoch, seq, offset := c.s.epoch, len(f.log), 0
	if since != "" {
		var ok bool
		if epoch, seq, offset, ok = parseCursor(since); !ok || epoch != c.s.epoch || seq > len(f.log) {
			return ch, &connerr.Error{Kind: connerr.CursorInvalid, Server: "fake", Message: "The provider no longer knows where the sync of " + name + " stood; it starts again."}
		}
	}
	if offset >= 0 {
		// The first listing: the messages present when it began, newest
		// first, limit at a time.
		at := f.presentAt(seq)
		slices.Reverse(at)
		for i := offset; i < len(at) && len(ch.Added) < limit; i++ {
			ch.Added = append(ch.Added, at[i])
			ch.Checkpoints = append(ch.Checkpoints, cursor(epoch, seq, i+1))
		}
		if offset+len(ch.Added) < len(at) {
			ch.More, ch.Cursor = true, cursor(epoch, seq, offset+len(ch.Added))
			return ch, nil
		}
	}
	// The change log since seq. Removals and flags come with the added
	// messages of the same stretch; the engine applies them first, so each
	// added message's checkpoint is the log position after it.
	if offset >= 0 && len(ch.Checkpoints) > 0 {
		ch.Checkpoints[len(ch.Checkpoints)-1] = cursor(epoch, seq, -1)
	}
	for i := seq; i < len(f.log); i++ {
		e := f.log[i]
		switch e.kind {
		case 'a':
			if f.find(e.id) == nil || slices.Contains(ch.Added, e.id) {
				continue
			}
			if len(ch.Added) == limit {
				ch.More, ch.Cursor = true, cursor(epoch, i, -1)
				return ch, nil
			}
			ch.Added = append(ch.Added, e.id)
			ch.Checkpoints = append(ch.Checkpoints, cursor(epoch, i+1, -1))
		case 'r':
			if !c.s.ReportPresent {
				ch.Removed = append(ch.Removed, e.id)
			}
		case 'f':
			if m := f.find(e.id); m != nil {
				ch.Flags = append(ch.Flags, mail.FlagChange{ID: e.id, Flags: m.flags})
			}
		}
	}
	ch.Cursor = cursor(epoch, len(f.log), -1)
	return ch, nil
}

// present returns the ids the folder holds, oldest first.
func (f *folder) present() []mail.ID {
	var out []mail.ID
	for _, m := range f.msgs {
		if !m.gone {
			out = append(out, m.id)
		}
	}
	return out
}

// presentAt returns the present ids that were added at or before log
// position seq (the first listing's snapshot), oldest first.
func (f *folder) presentAt(seq int) []mail.ID {
	later := map[mail.ID]bool{}
	for _, e := range f.log[seq:] {
		if e.kind == 'a' {
			later[e.id] = true
		}
	}
	return slices.DeleteFunc(f.present(), func(id mail.ID) bool { return later[id] })
}

func (c *conn) Fetch(ctx context.Context, name string, ids []mail.ID, fn func(*mail.Fetched) error) error {
	c.s.mu.Lock()
	if err := c.enter("Fetch"); err != nil {
		c.s.mu.Unlock()
		return err
	}
	f := c.s.folders[name]
	var out []mail.Fetched
	var raws [][]byte
	for _, id := range ids {
		if m := f.find(id); m != nil && !c.s.never[id] {
			raw, cut := m.raw, false
			if max := c.s.MaxMessageBytes; max > 0 && len(raw) > max {
				raw, cut = raw[:max], true
			}
			out = append(out, mail.Fetched{ID: m.id, Flags: m.flags, InternalDate: m.date, Size: int64(len(m.raw)), Truncated: cut})
			raws = append(raws, raw)
		}
	}
	failAfter := 0
	if c.s.failSkip > 0 {
		c.s.failSkip--
	} else {
		failAfter, c.s.failFetch = c.s.failFetch, 0
	}
	c.s.mu.Unlock()
	for i := range out {
		if failAfter > 0 && i == failAfter {
			return &connerr.Error{Kind: connerr.Unreachable, Server: "fake", Message: "The connection dropped in the middle of a fetch."}
		}
		out[i].Body = bytes.NewReader(raws[i])
		if err := fn(&out[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) SetFlags(ctx context.Context, name string, id mail.ID, flags mail.Flags) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.enter("SetFlags"); err != nil {
		return err
	}
	f := c.s.folders[name]
	m := f.find(id)
	if m == nil {
		return &connerr.Error{Kind: connerr.Gone, Server: "fake", Message: "No such message."}
	}
	m.flags = flags
	f.log = append(f.log, change{id, 'f'})
	return c.lostReply()
}

func (c *conn) Append(ctx context.Context, name string, raw io.Reader, size int64, flags mail.Flags, date time.Time) (mail.ID, error) {
	b, err := io.ReadAll(raw)
	if err != nil {
		return "", err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.enter("Append"); err != nil {
		return "", err
	}
	id := c.s.add(name, b, flags)
	if err := c.lostReply(); err != nil {
		return "", err
	}
	return id, nil
}

func (c *conn) SearchMessageID(ctx context.Context, name, messageID string) ([]mail.ID, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.enter("SearchMessageID"); err != nil {
		return nil, err
	}
	var out []mail.ID
	for _, m := range c.s.folders[name].msgs {
		if !m.gone && bytes.Contains(m.raw, []byte("Message-ID: <"+messageID+">")) {
			out = append(out, m.id)
		}
	}
	return out, nil
}
