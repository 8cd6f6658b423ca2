// Package graphmail is the mail connector for Microsoft 365 and
// Outlook.com over Microsoft Graph: a mail.Mailbox whose folders are the
// user's mail folders, whose cursors are per-folder message delta links and
// whose ids are immutable ids (Prefer: IdType="ImmutableId"), stable when a
// message moves between folders. Semantics follow
// shared/reference/cloud-apis.md §4–§6.
//
// It knows nothing of storage nor of sign-in: the wiring gives it a token
// source, an HTTP client (the network guard's transport) and the mailbox's
// Gate.
package graphmail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail"
)

// Limits on what one answer may weigh: past them an answer fails with
// connerr.Protocol rather than exhaust the process.
const (
	maxPage    = 32 << 20 // a delta page or a folder listing
	maxSmall   = 1 << 20  // one folder or message's properties
	maxFolders = 10000    // the engine keeps 1,000; more is not read
	maxDepth   = 16       // folder nesting read
	// DefaultMaxMessageBytes bounds one message's MIME, as IMAP's does.
	DefaultMaxMessageBytes = 100 << 20
)

// AutoSelect are the folder roles a Graph account syncs unless the user
// chooses (mailsync.Config.AutoSelect): inbox, sent, archive and the
// user's own folders (role ""), never deleted items nor junk (§4 of the
// issue).
var AutoSelect = []string{string(mail.RoleInbox), string(mail.RoleSent), string(mail.RoleArchive), string(mail.RoleNone)}

// Config is how to reach one mailbox: graph.Config, and the bound on
// one message.
type Config struct {
	graph.Config
	MaxMessageBytes int64
}

// Gate is the mailbox's limits, shared by its connectors (graph.NewGate).
type Gate = cloudapi.Gate

// NewGate returns a Gate for one mailbox.
func NewGate() *Gate { return graph.NewGate() }

// Tokens returns a bearer token (cloudapi.Tokens).
type Tokens = cloudapi.Tokens

// Open returns the Mailbox. It sends nothing: the first call signs in.
func Open(cfg Config) (*Mailbox, error) {
	c, err := graph.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return &Mailbox{max: cfg.MaxMessageBytes, c: c}, nil
}

// Mailbox is one account's mailbox over Graph. Like every mail.Mailbox it
// is driven by one loop and is not safe for concurrent use.
type Mailbox struct {
	c   *cloudapi.Client
	max int64
	// ids maps folder names (display paths) to folder ids, from the last
	// listing; roles maps folder ids to roles (well-known folders do not
	// move, so they are looked up once).
	ids   map[string]string
	roles map[string]mail.Role
	// totals are the folders' message counts at their last round's start.
	totals map[string]int
	// seen keeps the flags and dates of the last delta page's messages,
	// which Fetch hands out with their MIME ($value has neither).
	seen map[mail.ID]meta
}

type meta struct {
	flags mail.Flags
	date  time.Time
}

// GlobalIDs says a message keeps its id when it moves between folders, so
// the store re-attaches a moved message by id (mail.GlobalIDs).
func (*Mailbox) GlobalIDs() bool { return true }

func (m *Mailbox) Close() error { return nil }

// getJSON reads a bounded JSON answer into v.
func (m *Mailbox) getJSON(ctx context.Context, u string, limit int64, v any, prefer ...string) error {
	return graph.GetJSON(ctx, m.c, u, limit, v, prefer...)
}

type graphFolder struct {
	ID               string `json:"id"`
	DisplayName      string `json:"displayName"`
	ChildFolderCount int    `json:"childFolderCount"`
	TotalItemCount   int    `json:"totalItemCount"`
}

// wellKnownRoles are the folders with a role, by the well-known name that
// Graph accepts in place of their id (§6.1). Outbox is left out of the
// listing: it holds mail only while it is being sent.
var wellKnownRoles = []struct {
	name string
	role mail.Role
}{{"inbox", mail.RoleInbox}, {"sentitems", mail.RoleSent}, {"drafts", mail.RoleDrafts},
	{"deleteditems", mail.RoleTrash}, {"junkemail", mail.RoleJunk}, {"archive", mail.RoleArchive}, {"outbox", roleOutbox}}

const roleOutbox mail.Role = "outbox" // never listed

// Folders lists every mail folder, children under their parents' names
// ("Inbox/Clients"), with the roles of the well-known ones.
func (m *Mailbox) Folders(ctx context.Context) ([]mail.FolderInfo, error) {
	if m.roles == nil {
		roles := map[string]mail.Role{}
		for _, w := range wellKnownRoles {
			var f graphFolder
			err := m.getJSON(ctx, "/me/mailFolders/"+w.name+"?$select=id", maxSmall, &f)
			if connerr.KindOf(err) == connerr.Gone {
				continue // no archive yet, say
			}
			if err != nil {
				return nil, err
			}
			roles[f.ID] = w.role
		}
		m.roles = roles
	}
	var out []mail.FolderInfo
	ids := map[string]string{}
	totals := map[string]int{}
	var walk func(u, prefix string, depth int) error
	walk = func(u, prefix string, depth int) error {
		for u != "" && len(out) < maxFolders {
			var page struct {
				Value []graphFolder `json:"value"`
				Next  string        `json:"@odata.nextLink"`
			}
			if err := m.getJSON(ctx, u, maxPage, &page); err != nil {
				return err
			}
			for _, f := range page.Value {
				role := m.roles[f.ID]
				if role == roleOutbox || len(out) >= maxFolders {
					continue
				}
				name := prefix + f.DisplayName
				out = append(out, mail.FolderInfo{Name: name, Role: role})
				ids[name], totals[f.ID] = f.ID, f.TotalItemCount
				if f.ChildFolderCount > 0 && depth < maxDepth {
					if err := walk("/me/mailFolders/"+url.PathEscape(f.ID)+"/childFolders?$top=100", name+"/", depth+1); err != nil {
						return err
					}
				}
			}
			u = page.Next
		}
		return nil
	}
	if err := walk("/me/mailFolders?$top=100", "", 0); err != nil {
		return nil, err
	}
	m.ids, m.totals = ids, totals
	return out, nil
}

// folderID is a folder name's id, listing the folders when it is not
// known yet (a loop's first pass need not be a full one).
func (m *Mailbox) folderID(ctx context.Context, name string) (string, error) {
	if id, ok := m.ids[name]; ok {
		return id, nil
	}
	if _, err := m.Folders(ctx); err != nil {
		return "", err
	}
	if id, ok := m.ids[name]; ok {
		return id, nil
	}
	return "", &connerr.Error{Kind: connerr.Gone, Server: m.c.Server, Message: fmt.Sprintf("The folder %s no longer exists in this mailbox.", name)}
}

// A cursor is the link to follow, prefixed by where the round stands:
// "i " during a folder's first round (every message is new: no flags to
// apply), "d " otherwise.
const (
	initialRound = "i "
	laterRound   = "d "
)

type deltaItem struct {
	ID       string          `json:"id"`
	Removed  json.RawMessage `json:"@removed"`
	IsRead   *bool           `json:"isRead"`
	IsDraft  *bool           `json:"isDraft"`
	Received time.Time       `json:"receivedDateTime"`
	Flag     *struct {
		FlagStatus string `json:"flagStatus"`
	} `json:"flag"`
}

func (it deltaItem) flags() mail.Flags {
	var f mail.Flags
	if it.IsRead != nil {
		f.Seen = *it.IsRead
	}
	if it.IsDraft != nil {
		f.Draft = *it.IsDraft
	}
	f.Flagged = it.Flag != nil && it.Flag.FlagStatus == "flagged"
	return f
}

// Changes reads one page of the folder's message delta. After the first
// round an item's flags are in Flags, and it is in Added too unless it
// carries only the changed fields (then it is known already: no $value
// to fetch); the store skips what it has. @removed entries are Removed. More is true while
// nextLinks remain. limit caps the page (Prefer: odata.maxpagesize).
func (m *Mailbox) Changes(ctx context.Context, folder string, since mail.Cursor, limit int) (mail.Changes, error) {
	var ch mail.Changes
	id, err := m.folderID(ctx, folder)
	if err != nil {
		return ch, err
	}
	round, link, _ := strings.Cut(string(since), " ")
	round += " "
	switch {
	case since == "":
		round, link = initialRound, "/me/mailFolders/"+url.PathEscape(id)+"/messages/delta?$select=isRead,isDraft,flag,receivedDateTime"
	case round != initialRound && round != laterRound || !strings.HasPrefix(link, m.c.Base+"/"):
		// Not ours, or from another Graph URL: start over.
		return ch, &connerr.Error{Kind: connerr.CursorInvalid, Server: m.c.Server, Message: "The folder's sync position is not Microsoft Graph's; crmsync reads the folder again."}
	}
	// A round starts: count the folder for progress.
	if since == "" || round == laterRound && strings.Contains(link, "deltatoken=") {
		var f graphFolder
		if err := m.getJSON(ctx, "/me/mailFolders/"+url.PathEscape(id)+"?$select=totalItemCount", maxSmall, &f); err != nil {
			return ch, err
		}
		if m.totals == nil {
			m.totals = map[string]int{}
		}
		m.totals[id] = f.TotalItemCount
	}
	var page struct {
		Value     []deltaItem `json:"value"`
		Next      string      `json:"@odata.nextLink"`
		DeltaLink string      `json:"@odata.deltaLink"`
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if err := m.getJSON(ctx, link, maxPage, &page, fmt.Sprintf("odata.maxpagesize=%d", limit)); err != nil {
		return ch, err
	}
	// Replays within a round are allowed: the last word on an id wins.
	last := map[string]int{}
	for i, it := range page.Value {
		last[it.ID] = i
	}
	m.seen = map[mail.ID]meta{}
	var added []deltaItem
	for i, it := range page.Value {
		if it.ID == "" || last[it.ID] != i {
			continue
		}
		if it.Removed != nil {
			ch.Removed = append(ch.Removed, mail.ID(it.ID))
			continue
		}
		added = append(added, it)
		if it.IsRead != nil {
			m.seen[mail.ID(it.ID)] = meta{flags: it.flags(), date: it.Received}
		}
	}
	// New mail oldest first; a first round newest first (the order is not
	// Graph's to guarantee).
	slices.SortStableFunc(added, func(a, b deltaItem) int {
		if round == initialRound {
			return b.Received.Compare(a.Received)
		}
		return a.Received.Compare(b.Received)
	})
	for _, it := range added {
		if round == laterRound && it.IsRead != nil {
			ch.Flags = append(ch.Flags, mail.FlagChange{ID: mail.ID(it.ID), Flags: it.flags()})
		}
		// An item that entered the folder carries every selected property;
		// one without its received date is only a change of the fields it
		// carries (reference §6.2): nothing to fetch.
		if round == laterRound && it.Received.IsZero() {
			continue
		}
		ch.Added = append(ch.Added, mail.ID(it.ID))
	}
	switch {
	case page.Next != "":
		ch.Cursor, ch.More = mail.Cursor(round+page.Next), true
	case page.DeltaLink != "":
		ch.Cursor = mail.Cursor(laterRound + page.DeltaLink)
	default:
		return ch, &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Message: "Microsoft Graph ended a folder's changes without a link to go on."}
	}
	ch.Total = m.totals[id]
	return ch, nil
}

// Fetch streams each message's MIME ($value), bounded to MaxMessageBytes;
// a message gone meanwhile is skipped. Flags and dates come from the delta
// page just read, or are asked for.
func (m *Mailbox) Fetch(ctx context.Context, folder string, ids []mail.ID, fn func(*mail.Fetched) error) error {
	// Graph has one message's MIME per request: the requests are
	// pipelined, fetchWindow at once, and handed to fn in order. An
	// answer waiting its turn is not read (the connection holds it, and
	// its slot of the mailbox's gate), so memory does not grow with the
	// window; one slot stays free for the loop's other requests.
	ctx, cancel := context.WithCancel(ctx)
	results := make([]chan fetchResult, len(ids))
	for i := range results {
		results[i] = make(chan fetchResult, 1)
	}
	window := make(chan struct{}, fetchWindow)
	launched, done := 0, make(chan struct{})
	go func() {
		defer close(done)
		for i, id := range ids {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			launched++
			go func() { results[i] <- m.fetchOne(ctx, id) }()
		}
	}()
	consumed := 0
	defer func() {
		cancel()
		<-done
		for _, ch := range results[consumed:launched] { // answers no one will read
			if r := <-ch; r.resp != nil {
				r.resp.Body.Close()
			}
		}
	}()
	for consumed < len(ids) {
		r := <-results[consumed]
		consumed++
		if r.err != nil {
			return r.err
		}
		if r.resp != nil {
			f := &mail.Fetched{ID: r.id, Flags: r.md.flags, InternalDate: r.md.date, Size: r.resp.ContentLength,
				Body: io.LimitReader(r.resp.Body, m.max), Truncated: r.resp.ContentLength > m.max}
			err := fn(f)
			r.resp.Body.Close()
			if err != nil {
				return err
			}
		}
		<-window
	}
	return nil
}

// fetchWindow is how many messages Fetch asks for at once: Graph's limit
// per mailbox, less one.
const fetchWindow = graph.MaxConcurrent - 1

// fetchResult is one message asked for: its answer (nil when it no longer
// exists) or the error.
type fetchResult struct {
	id   mail.ID
	md   meta
	resp *http.Response
	err  error
}

// fetchOne asks for one message's MIME, and its flags and date when the
// last delta page did not give them.
func (m *Mailbox) fetchOne(ctx context.Context, id mail.ID) fetchResult {
	r := fetchResult{id: id}
	md, ok := m.seen[id]
	if !ok {
		var it deltaItem
		err := m.getJSON(ctx, "/me/messages/"+url.PathEscape(string(id))+"?$select=isRead,isDraft,flag,receivedDateTime", maxSmall, &it)
		if connerr.KindOf(err) == connerr.Gone {
			return r
		}
		if err != nil {
			r.err = err
			return r
		}
		md = meta{flags: it.flags(), date: it.Received}
	}
	r.md = md
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: http.MethodGet, URL: "/me/messages/" + url.PathEscape(string(id)) + "/$value"})
	if connerr.KindOf(err) == connerr.Gone {
		return r
	}
	r.resp, r.err = resp, err
	return r
}

// SetFlags makes a message read or not and flagged or not. Graph's
// "complete" flag is left alone unless the message is to be flagged, and
// only what differs is sent.
func (m *Mailbox) SetFlags(ctx context.Context, folder string, id mail.ID, flags mail.Flags) error {
	u := "/me/messages/" + url.PathEscape(string(id))
	var cur deltaItem
	if err := m.getJSON(ctx, u+"?$select=isRead,flag", maxSmall, &cur); err != nil {
		return err
	}
	patch := map[string]any{}
	if cur.IsRead == nil || *cur.IsRead != flags.Seen {
		patch["isRead"] = flags.Seen
	}
	if was := cur.flags().Flagged; was != flags.Flagged {
		status := "notFlagged"
		if flags.Flagged {
			status = "flagged"
		}
		patch["flag"] = map[string]string{"flagStatus": status}
	}
	if len(patch) == 0 {
		return nil
	}
	body, _ := json.Marshal(patch)
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: http.MethodPatch, URL: u, Body: body})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	return resp.Body.Close()
}

// AutoSelect says which folder roles a Graph account syncs unless the user
// chooses (mail.AutoSelecter): AutoSelect.
func (m *Mailbox) AutoSelect() []string { return slices.Clone(AutoSelect) }
