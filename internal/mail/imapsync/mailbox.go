package imapsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

// FolderState is a selected folder's synchronisation state (RFC 3501
// UIDVALIDITY and UIDNEXT; RFC 7162 HIGHESTMODSEQ, 0 without CONDSTORE).
type FolderState struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
}

// Fetched is one message streamed from the server. Body must be read (or
// abandoned) before the next message is asked for: it is the server's
// literal, never buffered whole.
type Fetched struct {
	UID          uint32
	Flags        mail.Flags
	ModSeq       uint64
	InternalDate time.Time
	Size         int64
	Body         io.Reader
	// Truncated is true when the body stops at Config.MaxMessageBytes.
	Truncated bool
}

// FlagChange is a message whose flags changed since a modseq.
type FlagChange struct {
	UID    uint32
	Flags  mail.Flags
	ModSeq uint64
}

// Folders lists every folder (RFC 3501 §6.3.8 LIST "" "*") with its role:
// from SPECIAL-USE attributes (RFC 6154, asked for with RETURN
// (SPECIAL-USE) where LIST-EXTENDED allows it, RFC 5258), else guessed from
// its name.
func (c *Conn) Folders(ctx context.Context) ([]mail.FolderInfo, error) {
	o, err := c.begin(ctx, "LIST")
	if err != nil {
		return nil, err
	}
	defer o.end()
	var opts *imap.ListOptions
	if c.caps.SpecialUse && c.caps.ListExtended {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	cmd := c.c.List("", "*", opts)
	var in []listed
	dropped := 0
	for d := cmd.Next(); d != nil; d = cmd.Next() {
		// Past MaxFolders the list is read on but only the special
		// folders kept (INBOX, SPECIAL-USE): memory stays bounded and the
		// mailbox still syncs. A list that goes on past endlessFolders
		// times that is taken for endless and refused.
		if len(in) >= c.cfg.MaxFolders && !special(d) {
			if dropped++; len(in)+dropped > endlessFolders*c.cfg.MaxFolders {
				return nil, c.tooManyFolders(cmd)
			}
			continue
		}
		in = append(in, listed{name: d.Mailbox, delim: d.Delim, attrs: d.Attrs})
	}
	if err := cmd.Close(); err != nil {
		return nil, o.fail(err)
	}
	if dropped > 0 {
		c.log.Warn("imap server lists more folders than crmsync keeps; the rest are left out", "host", c.cfg.Host, "kept", len(in), "left_out", dropped)
	}
	return assignRoles(in), nil
}

// Select opens folder read-write (RFC 3501 §6.3.1), with CONDSTORE
// (RFC 7162 §3.1.8) when the server has it, so that HIGHESTMODSEQ comes
// back and FETCH can ask for MODSEQ.
func (c *Conn) Select(ctx context.Context, folder string) (FolderState, error) {
	o, err := c.begin(ctx, "SELECT "+folder)
	if err != nil {
		return FolderState{}, err
	}
	defer o.end()
	data, err := c.c.Select(folder, &imap.SelectOptions{CondStore: c.caps.CondStore}).Wait()
	if err != nil {
		// A failed SELECT leaves no folder selected (RFC 3501 §6.3.1).
		c.selected, c.modseq = "", false
		return FolderState{}, o.fail(err)
	}
	if folder != c.selected {
		// Pending news was about the previous folder. News about this one,
		// re-selected, is kept: the next Idle returns at once rather than
		// sit on mail that came in meanwhile.
		c.drainEvents()
	}
	c.selected, c.validity = folder, data.UIDValidity
	// NOMODSEQ (RFC 7162 §3.1.2.2) leaves HighestModSeq at 0.
	c.modseq = c.caps.CondStore && data.HighestModSeq > 0
	return FolderState{
		UIDValidity:   data.UIDValidity,
		UIDNext:       uint32(data.UIDNext),
		HighestModSeq: data.HighestModSeq,
		Messages:      data.NumMessages,
	}, nil
}

func (c *Conn) needSelected(what string) error {
	if c.selected == "" {
		return c.cls.fault(connerr.Protocol, nil, "%s needs a selected folder.", what)
	}
	return nil
}

// UIDs lists the selected folder's UIDs with UID SEARCH ALL (RFC 3501
// §6.4.4), as ranges with ESEARCH RETURN (ALL) (RFC 4731 §3.1).
func (c *Conn) UIDs(ctx context.Context) ([]uint32, error) {
	if err := c.needSelected("UID SEARCH"); err != nil {
		return nil, err
	}
	o, err := c.begin(ctx, "UID SEARCH in "+c.selected)
	if err != nil {
		return nil, err
	}
	defer o.end()
	var opts *imap.SearchOptions
	if c.caps.ESearch {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	// A server may not report expunges during SEARCH (RFC 3501 §7.4.1), and
	// Dovecot answers from the session's view, where messages expunged by
	// another client are still present until it could say so. A NOOP
	// (§6.1.2) first lets it. Not pipelined: Dovecot runs pipelined NOOP
	// and SEARCH together and holds the EXPUNGEs back until both are done.
	if err := c.c.Noop().Wait(); err != nil {
		return nil, o.fail(err)
	}
	data, err := c.c.UIDSearch(&imap.SearchCriteria{}, opts).Wait()
	if err != nil {
		return nil, o.fail(err)
	}
	all := data.AllUIDs()
	uids := make([]uint32, len(all))
	for i, u := range all {
		uids[i] = uint32(u)
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// fetchItems is what Fetch asks for: RFC 3501 §6.4.5, BODY.PEEK[] so that
// \Seen is not set, MODSEQ per RFC 7162 §3.1.4.
func (c *Conn) fetchItems() *imap.FetchOptions {
	return &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		RFC822Size:   true,
		ModSeq:       c.modseq,
		// At most MaxMessageBytes of each message (RFC 3501 §6.4.5
		// partial fetch): a larger one comes cut there, marked Truncated,
		// instead of failing its folder at every pass.
		BodySection: []*imap.FetchItemBodySection{{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: c.cfg.MaxMessageBytes}}},
	}
}

// Fetch streams the given UIDs with UID FETCH (UID FLAGS MODSEQ
// INTERNALDATE RFC822.SIZE BODY.PEEK[]). Each body is the socket itself:
// fn reads what it wants, and the rest is skipped before the next message,
// so memory stays bounded whatever the size. The watchdog is off while fn
// runs and on while fn reads, so slow storage is not taken for a dead
// server. A connection lost mid-body reads as io.ErrUnexpectedEOF, never
// as a short message ending in EOF. After fn fails, the remaining replies
// are read and dropped and fn's error is returned. UIDs that no longer
// exist are skipped, including those another client expunged that this
// session still listed (Dovecot then sends BODY[] NIL).
//
// go-imap routes a FETCH reply to the command by its UID, which must come
// before the body; replies it cannot route end in the unilateral handler.
// If that happened, the UIDs not delivered are fetched once more, and an
// error is returned if they are lost again: a message is never skipped
// silently.
func (c *Conn) Fetch(ctx context.Context, uids []uint32, fn func(*Fetched) error) error {
	if len(uids) == 0 {
		return nil
	}
	if err := c.needSelected("FETCH"); err != nil {
		return err
	}
	want := uids
	for round := 0; round < 2; round++ {
		missing, err := c.fetchRound(ctx, want, fn)
		if err != nil || len(missing) == 0 {
			return err
		}
		c.log.Warn("imap fetch replies could not be matched to their UIDs; fetching again", "folder", c.selected, "count", len(missing))
		want = missing
	}
	return c.cls.fault(connerr.Protocol, nil, "%s sent message bodies in a form crmsync could not match to their messages (folder %s).", c.cfg.Host, c.selected)
}

// fetchRound runs one UID FETCH; it returns the requested UIDs that were
// not delivered when some reply was misrouted or came without its body.
func (c *Conn) fetchRound(ctx context.Context, uids []uint32, fn func(*Fetched) error) (missing []uint32, err error) {
	o, err := c.begin(ctx, "FETCH in "+c.selected)
	if err != nil {
		return nil, err
	}
	defer o.end()
	d := c.cfg.CommandTimeout
	before := c.misrouted.Load()

	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	cmd := c.c.Fetch(set, c.fetchItems())
	delivered := make(map[uint32]bool, len(uids))
	incomplete := false
	var fnErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		f := &Fetched{}
		gotBody, expunged := false, false
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.UID = uint32(it.UID)
			case imapclient.FetchItemDataFlags:
				f.Flags = flagsFromIMAP(it.Flags)
			case imapclient.FetchItemDataModSeq:
				f.ModSeq = it.ModSeq
			case imapclient.FetchItemDataInternalDate:
				f.InternalDate = it.Time
			case imapclient.FetchItemDataRFC822Size:
				f.Size = it.Size
			case imapclient.FetchItemDataBodySection:
				gotBody = true
				if it.Literal == nil {
					// BODY[] NIL: Dovecot's answer for a message another
					// client expunged that this session still lists
					// (followed by EXPUNGE and OK [EXPUNGEISSUED]). It no
					// longer exists: skipped, like a UID that is not there.
					expunged = true
					continue
				}
				if fnErr != nil {
					continue // msg.Next drops the literal
				}
				ar := &armedReader{r: it.Literal, size: it.Literal.Size(), dog: c.dog, d: d}
				f.Body = ar
				f.Truncated = it.Literal.Size() >= c.cfg.MaxMessageBytes
				c.dog.stop()
				fnErr = fn(f)
				f.Body = nil
				// Drop what fn left unread before the next reply.
				c.dog.start(d)
				io.Copy(io.Discard, ar)
				if ar.err != nil {
					// The connection broke inside the literal. go-imap's
					// reader has moved on already: asking it for anything
					// more would read the socket from two goroutines.
					c.kill(killedAfterError)
					return nil, o.fail(ar.err)
				}
			}
		}
		switch {
		case expunged:
		case gotBody && f.UID != 0:
			delivered[f.UID] = true
		default:
			incomplete = true
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, o.fail(err)
	}
	if fnErr != nil {
		return nil, fnErr
	}
	if !incomplete && c.misrouted.Load() == before {
		return nil, nil
	}
	// A reply was misrouted, or one came without its body (an unsolicited
	// flag update for a UID we asked for, taken for ours): ask again for
	// what did not arrive.
	for _, u := range uids {
		if !delivered[u] {
			missing = append(missing, u)
		}
	}
	return missing, nil
}

// Changes reports flag changes in the selected folder: with CONDSTORE,
// UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE modseq) (RFC 7162
// §3.1.4.1) returns exactly the messages changed since; without it (or with
// modseq 0) the flags of every message.
func (c *Conn) Changes(ctx context.Context, modseq uint64) ([]FlagChange, error) {
	if err := c.needSelected("FETCH FLAGS"); err != nil {
		return nil, err
	}
	o, err := c.begin(ctx, "FETCH FLAGS in "+c.selected)
	if err != nil {
		return nil, err
	}
	defer o.end()
	opts := &imap.FetchOptions{UID: true, Flags: true, ModSeq: c.modseq}
	if c.modseq {
		opts.ChangedSince = modseq // 0: not sent, every message
	}
	cmd := c.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, opts) // 1:*
	var out []FlagChange
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var ch FlagChange
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				ch.UID = uint32(it.UID)
			case imapclient.FetchItemDataFlags:
				ch.Flags = flagsFromIMAP(it.Flags)
			case imapclient.FetchItemDataModSeq:
				ch.ModSeq = it.ModSeq
			}
		}
		if ch.UID != 0 {
			out = append(out, ch)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, o.fail(err)
	}
	slices.SortFunc(out, func(a, b FlagChange) int { return cmp.Compare(a.UID, b.UID) })
	return out, nil
}

// StoreFlags adds set and removes clear (a flag in both is set) with UID
// STORE +FLAGS.SILENT / -FLAGS.SILENT (RFC 3501 §6.4.6).
func (c *Conn) StoreFlags(ctx context.Context, uid uint32, set, clear mail.Flags) error {
	if err := c.needSelected("STORE"); err != nil {
		return err
	}
	clear = mail.Flags{
		Seen:     clear.Seen && !set.Seen,
		Flagged:  clear.Flagged && !set.Flagged,
		Answered: clear.Answered && !set.Answered,
		Draft:    clear.Draft && !set.Draft,
	}
	o, err := c.begin(ctx, "STORE in "+c.selected)
	if err != nil {
		return err
	}
	defer o.end()
	for _, s := range []struct {
		op    imap.StoreFlagsOp
		flags []imap.Flag
	}{{imap.StoreFlagsDel, flagsToIMAP(clear)}, {imap.StoreFlagsAdd, flagsToIMAP(set)}} {
		if len(s.flags) == 0 {
			continue
		}
		cmd := c.c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: s.op, Silent: true, Flags: s.flags}, nil)
		if err := cmd.Close(); err != nil {
			return o.fail(err)
		}
	}
	return nil
}

// Append adds a message of exactly size bytes to folder (RFC 3501 §6.3.11)
// and returns its UID from APPENDUID (RFC 4315 §3), or 0 without UIDPLUS.
// A zero date lets the server use the current time.
func (c *Conn) Append(ctx context.Context, folder string, raw io.Reader, size int64, flags mail.Flags, date time.Time) (uint32, error) {
	_, uid, err := c.appendUID(ctx, folder, raw, size, flags, date)
	return uid, err
}

// appendUID is Append that also returns the UIDVALIDITY the new UID
// belongs to (RFC 4315 APPENDUID), 0 and 0 without UIDPLUS.
func (c *Conn) appendUID(ctx context.Context, folder string, raw io.Reader, size int64, flags mail.Flags, date time.Time) (validity, uid uint32, err error) {
	o, err := c.begin(ctx, "APPEND to "+folder)
	if err != nil {
		return 0, 0, err
	}
	defer o.end()
	d := c.cfg.CommandTimeout
	// Blocks until the server's continuation request, or its refusal.
	cmd := c.c.Append(folder, size, &imap.AppendOptions{Flags: flagsToIMAP(flags), Time: date})
	src := &errReader{r: &pausedReader{r: raw, dog: c.dog, d: d}}
	n, copyErr := io.CopyN(cmd, src, size)
	closeErr := cmd.Close()
	if copyErr != nil || closeErr != nil {
		var ie *imap.Error
		if n == 0 && src.err == nil && errors.As(copyErr, &ie) {
			// Refused instead of the continuation request (NO [TRYCREATE],
			// [TOOBIG]): nothing was sent, the session is intact.
			_, err := cmd.Wait()
			if err == nil {
				err = ie
			}
			return 0, 0, o.fail(err)
		}
		// A literal cut short leaves the session out of step: hang up.
		c.kill(killedAfterError)
		e := c.cls.fault(connerr.Unreachable, errors.Join(copyErr, closeErr), "Adding a message to %s on %s failed midway.", folder, c.cfg.Host)
		if src.err != nil {
			e.Kind = connerr.Protocol
			e.Message = fmt.Sprintf("Reading the message to add to %s failed (%v).", folder, src.err)
		} else if copyErr != nil && errors.Is(copyErr, io.EOF) {
			e.Kind = connerr.Protocol
			e.Message = fmt.Sprintf("The message to add to %s was shorter than its size (%d of %d bytes).", folder, n, size)
		}
		c.setBroken(c.cls.fault(connerr.Unreachable, e, "The connection to %s was closed after a failed APPEND.", c.cfg.Host))
		return 0, 0, e
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, 0, o.fail(err)
	}
	if !c.caps.UIDPlus {
		return 0, 0, nil // APPENDUID means nothing without UIDPLUS
	}
	return data.UIDValidity, uint32(data.UID), nil
}

// errReader remembers the source's read error, to tell it from the
// socket's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
