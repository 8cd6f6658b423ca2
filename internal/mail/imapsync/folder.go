package imapsync

import (
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

// Mailbox is the IMAP connector as the sync engine sees it: mail.Mailbox
// over a Conn. This file is the only place where UIDs, UIDVALIDITY and
// MODSEQ turn into the engine's opaque ids and cursors (DESIGN §4):
//
//   - a message's id is "UIDVALIDITY:UID", so a renumbered folder never
//     confuses an old UID with a new one;
//   - a folder's cursor is "imap1:UIDVALIDITY:UIDNEXT:HIGHESTMODSEQ:BELOW",
//     where every UID at or above BELOW and below UIDNEXT is stored, and
//     BELOW is 0 once the initial sync is complete.
//
// Without QRESYNC (go-imap v2 has none) IMAP cannot say which messages
// were expunged, so Changes lists every UID (Present) and the engine
// compares. Without CONDSTORE it cannot say which flags changed either:
// every message's flags are then read at most once per flagPoll.
type Mailbox struct {
	c *Conn

	mu        sync.Mutex
	flagsRead map[string]time.Time // without CONDSTORE: when each folder's flags were last read

	// listed is the last UID SEARCH ALL, reused while SELECT reports the
	// same folder state: the pages of one initial sync search once.
	listed struct {
		folder string
		state  FolderState
		uids   []uint32
	}
}

// flagPoll is how often the flags of a folder are read in full from a
// server without CONDSTORE.
const flagPoll = 2 * time.Minute

// NewMailbox returns c as a mail.Mailbox. Closing the Mailbox closes c.
func NewMailbox(c *Conn) *Mailbox { return &Mailbox{c: c, flagsRead: map[string]time.Time{}} }

// Conn is the underlying connection, for IMAP-level tests and tools.
func (m *Mailbox) Conn() *Conn { return m.c }

func (m *Mailbox) Close() error { return m.c.Close() }

func (m *Mailbox) Folders(ctx context.Context) ([]mail.FolderInfo, error) { return m.c.Folders(ctx) }

// cursor is the decoded form of a folder's mail.Cursor.
type cursor struct {
	validity, next uint32
	modseq         uint64
	below          uint32
}

const cursorPrefix = "imap1:"

func (c cursor) encode() mail.Cursor {
	return mail.Cursor(fmt.Sprintf("%s%d:%d:%d:%d", cursorPrefix, c.validity, c.next, c.modseq, c.below))
}

func parseCursor(s mail.Cursor) (cursor, bool) {
	f := strings.Split(strings.TrimPrefix(string(s), cursorPrefix), ":")
	if !strings.HasPrefix(string(s), cursorPrefix) || len(f) != 4 {
		return cursor{}, false
	}
	var n [4]uint64
	for i, x := range f {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil || i != 2 && v > 1<<32-1 {
			return cursor{}, false
		}
		n[i] = v
	}
	return cursor{validity: uint32(n[0]), next: uint32(n[1]), modseq: n[2], below: uint32(n[3])}, n[0] != 0
}

// ID returns the id of a message of the given UIDVALIDITY.
func ID(validity, uid uint32) mail.ID {
	return mail.ID(strconv.FormatUint(uint64(validity), 10) + ":" + strconv.FormatUint(uint64(uid), 10))
}

// ParseID is ID's inverse.
func ParseID(id mail.ID) (validity, uid uint32, ok bool) {
	a, b, found := strings.Cut(string(id), ":")
	v, err1 := strconv.ParseUint(a, 10, 32)
	u, err2 := strconv.ParseUint(b, 10, 32)
	if !found || err1 != nil || err2 != nil || u == 0 {
		return 0, 0, false
	}
	return uint32(v), uint32(u), true
}

// selectFolder selects folder unless it is selected already.
func (m *Mailbox) selectFolder(ctx context.Context, folder string) error {
	if m.c.selected == folder {
		return nil
	}
	_, err := m.c.Select(ctx, folder)
	return err
}

// Changes implements mail.Mailbox: new mail above the cursor's UIDNEXT
// (oldest first), then flag changes, then a slice of the initial sync below
// BELOW (newest first), at most limit messages in all.
func (m *Mailbox) Changes(ctx context.Context, folder string, since mail.Cursor, limit int) (mail.Changes, error) {
	var ch mail.Changes
	if limit <= 0 {
		limit = 1000
	}
	st, err := m.c.Select(ctx, folder)
	if err != nil {
		return ch, err
	}
	cur, ok := parseCursor(since)
	switch {
	case since == "" || !ok && since != "":
		if since != "" {
			return ch, &connerr.Error{Kind: connerr.CursorInvalid, Server: m.c.cfg.Host,
				Message: fmt.Sprintf("The saved position in folder %s is not one crmsync understands; the folder is being matched again.", folder)}
		}
		cur = cursor{validity: st.UIDValidity, next: st.UIDNext, modseq: st.HighestModSeq, below: max(st.UIDNext, 1)}
	case cur.validity != st.UIDValidity:
		return ch, &connerr.Error{Kind: connerr.CursorInvalid, Server: m.c.cfg.Host,
			Message: fmt.Sprintf("The server renumbered folder %s (UIDVALIDITY changed). Its messages are being matched again; nothing is lost or duplicated.", folder)}
	}
	uids, err := m.uids(ctx, folder, st)
	if err != nil {
		return ch, err
	}
	ch.Total = len(uids)
	ch.Present = make([]mail.ID, len(uids))
	for i, u := range uids {
		ch.Present[i] = ID(cur.validity, u)
	}
	add := func(uid uint32, after cursor) {
		ch.Added = append(ch.Added, ID(cur.validity, uid))
		ch.Checkpoints = append(ch.Checkpoints, after.encode())
	}

	// New mail, oldest first.
	i, _ := slices.BinarySearch(uids, cur.next)
	for _, u := range uids[i:] {
		if len(ch.Added) == limit {
			ch.More, ch.Cursor = true, ch.Checkpoints[len(ch.Checkpoints)-1]
			return ch, nil
		}
		cur.next = u + 1
		add(u, cur)
	}
	if st.UIDNext > cur.next {
		cur.next = st.UIDNext
	}

	// Flags: those changed since the cursor's MODSEQ (CONDSTORE), or every
	// message's now and then without it.
	if st.HighestModSeq > 0 && st.HighestModSeq != cur.modseq || st.HighestModSeq == 0 && m.flagsDue(folder) {
		changes, err := m.c.Changes(ctx, cur.modseq)
		if err != nil {
			return ch, err
		}
		for _, c := range changes {
			ch.Flags = append(ch.Flags, mail.FlagChange{ID: ID(cur.validity, c.UID), Flags: c.Flags})
		}
		cur.modseq = st.HighestModSeq
	}
	// Checkpoints of the new mail may be committed before the flags are
	// applied: they keep the older MODSEQ, so those changes come again.

	// The initial sync, newest first.
	if cur.below > 0 {
		j, _ := slices.BinarySearch(uids, cur.below)
		older := uids[:j]
		for k := len(older) - 1; k >= 0; k-- {
			if len(ch.Added) == limit {
				ch.More = true
				break
			}
			cur.below = older[k]
			if k == 0 {
				cur.below = 0 // complete once this one is stored
			}
			add(older[k], cur)
		}
		if len(older) == 0 {
			cur.below = 0
		}
	}
	ch.Cursor = cur.encode()
	return ch, nil
}

// uids returns every UID of the selected folder, searching again only when
// SELECT reported a state other than at the last search (a message added
// moves UIDNEXT, one expunged lowers the count).
func (m *Mailbox) uids(ctx context.Context, folder string, st FolderState) ([]uint32, error) {
	if m.listed.folder == folder && m.listed.state == st && m.listed.uids != nil {
		return m.listed.uids, nil
	}
	uids, err := m.c.UIDs(ctx)
	if err != nil {
		return nil, err
	}
	m.listed.folder, m.listed.state, m.listed.uids = folder, st, uids
	return uids, nil
}

// flagsDue says whether a folder's flags should be read in full now
// (servers without CONDSTORE).
func (m *Mailbox) flagsDue(folder string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.flagsRead[folder]) < flagPoll {
		return false
	}
	m.flagsRead[folder] = time.Now()
	return true
}

// uidsOf returns the UIDs of the ids that belong to the selected folder's
// UIDVALIDITY, with their ids.
func (m *Mailbox) uidsOf(ids []mail.ID) ([]uint32, map[uint32]mail.ID) {
	uids := make([]uint32, 0, len(ids))
	byUID := make(map[uint32]mail.ID, len(ids))
	for _, id := range ids {
		if v, u, ok := ParseID(id); ok && v == m.c.validity {
			uids = append(uids, u)
			byUID[u] = id
		}
	}
	return uids, byUID
}

// Fetch implements mail.Mailbox. Ids of another UIDVALIDITY no longer
// exist, and are skipped like expunged messages.
func (m *Mailbox) Fetch(ctx context.Context, folder string, ids []mail.ID, fn func(*mail.Fetched) error) error {
	if err := m.selectFolder(ctx, folder); err != nil {
		return err
	}
	uids, byUID := m.uidsOf(ids)
	return m.c.Fetch(ctx, uids, func(f *Fetched) error {
		id, ok := byUID[f.UID]
		if !ok {
			io.Copy(io.Discard, f.Body)
			return nil
		}
		return fn(&mail.Fetched{ID: id, Flags: f.Flags, InternalDate: f.InternalDate, Size: f.Size, Body: f.Body, Truncated: f.Truncated})
	})
}

// SetFlags implements mail.Mailbox.
func (m *Mailbox) SetFlags(ctx context.Context, folder string, id mail.ID, flags mail.Flags) error {
	if err := m.selectFolder(ctx, folder); err != nil {
		return err
	}
	v, uid, ok := ParseID(id)
	if !ok || v != m.c.validity {
		return &connerr.Error{Kind: connerr.Gone, Server: m.c.cfg.Host,
			Message: fmt.Sprintf("The message is no longer in folder %s under this number (the folder was renumbered).", folder)}
	}
	clear := mail.Flags{Seen: !flags.Seen, Flagged: !flags.Flagged, Answered: !flags.Answered, Draft: !flags.Draft}
	return m.c.StoreFlags(ctx, uid, flags, clear)
}

// Append implements mail.Appender: the id comes from APPENDUID (RFC 4315),
// "" without UIDPLUS.
func (m *Mailbox) Append(ctx context.Context, folder string, raw io.Reader, size int64, flags mail.Flags, date time.Time) (mail.ID, error) {
	v, uid, err := m.c.appendUID(ctx, folder, raw, size, flags, date)
	if err != nil || uid == 0 || v == 0 {
		return "", err
	}
	return ID(v, uid), nil
}

// SearchMessageID implements mail.Searcher.
func (m *Mailbox) SearchMessageID(ctx context.Context, folder, messageID string) ([]mail.ID, error) {
	if _, err := m.c.Select(ctx, folder); err != nil { // a fresh SELECT sees mail the submission server just filed
		return nil, err
	}
	uids, err := m.c.SearchMessageID(ctx, messageID)
	if err != nil {
		return nil, err
	}
	ids := make([]mail.ID, len(uids))
	for i, u := range uids {
		ids[i] = ID(m.c.validity, u)
	}
	return ids, nil
}

// Idle implements mail.Idler: IDLE on folder (RFC 2177).
func (m *Mailbox) Idle(ctx context.Context, folder string, max time.Duration) (bool, error) {
	if err := m.selectFolder(ctx, folder); err != nil {
		return false, err
	}
	return m.c.Idle(ctx, max)
}
