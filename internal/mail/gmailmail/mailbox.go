// Package gmailmail is the mail connector for Gmail and Google Workspace
// over the Gmail API: a mail.Mailbox whose folders are the user's labels
// (INBOX, SENT, user labels…), whose ids are Gmail's message ids — one
// message under several labels is one message, stable when its labels
// change — and whose cursors are history ids. Semantics follow
// shared/reference/cloud-apis.md §9.
//
// A folder's first sync lists the label newest first (messages.list) and
// reads each message's RFC 5322 bytes (messages.get?format=raw) for the
// existing parser; later rounds read history.list from the folder's
// history id. Read and starred are the UNREAD and STARRED labels, both
// ways. It knows nothing of storage nor of sign-in: the wiring gives it a
// token source, an HTTP client and the user's Gate (package google).
package gmailmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/mail"
)

// Limits on what one answer may weigh: past them an answer fails with
// connerr.Protocol (or a message is cut) rather than exhaust the process.
const (
	maxPage   = 32 << 20 // a list or history page, the labels
	maxSmall  = 1 << 20  // one message's labels or headers
	maxLabels = 10000    // the engine keeps 1,000; more is not read
	// maxResults is Gmail's largest page, for lists and history (§9.1).
	maxResults = 500
	// DefaultMaxMessageBytes bounds one message's RFC 5322 bytes, as
	// IMAP's and Graph's connectors do.
	DefaultMaxMessageBytes = 100 << 20
	// MaxSendBytes is the largest message Gmail takes (§9.3: 35 MB).
	MaxSendBytes = 36700160
)

// api is where the user's mailbox is under the API root (§9).
const api = "/gmail/v1/users/me"

// AutoSelect are the folder roles a Gmail account syncs unless the user
// chooses (mailsync.Config.AutoSelect): the inbox, sent mail and the
// user's labels; never spam, trash nor drafts.
var AutoSelect = []string{string(mail.RoleInbox), string(mail.RoleSent), string(mail.RoleNone)}

// Config is how to reach one mailbox: google.Config, and the bound on
// one message.
type Config struct {
	google.Config
	MaxMessageBytes int64
	// UnitsPerMinute paces the calls to the user's Gmail quota (default
	// DefaultUnitsPerMinute; negative: no pacing, for tests).
	UnitsPerMinute int
}

// Open returns the Mailbox. It sends nothing: the first call signs in.
func Open(cfg Config) (*Mailbox, error) {
	c, err := google.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.UnitsPerMinute == 0 {
		cfg.UnitsPerMinute = DefaultUnitsPerMinute
	}
	return &Mailbox{c: c, max: cfg.MaxMessageBytes, window: google.MaxConcurrent, pace: newPacer(cfg.UnitsPerMinute)}, nil
}

// Mailbox is one user's Gmail. Like every mail.Mailbox it is driven by one
// loop and is not safe for concurrent use.
type Mailbox struct {
	c   *cloudapi.Client
	max int64
	// window is how many messages Fetch asks for at once: as many as the
	// Gate lets through, so a first sync keeps them all busy.
	window int
	// pace keeps the calls within the user's quota units. It is this
	// connection's: a send or an attachment fetched on another one spends
	// beside it, which Google's 403 then slows down.
	pace *pacer
	// ids maps folder names to label ids, from the last listing.
	ids map[string]string
	// totals are the labels' message counts (Gmail's estimates).
	totals map[string]int
	// last is the history round read last: every folder whose cursor is
	// the same history id takes its share of it without asking again. It
	// lives for one pass (Folders starts one) and until crmsync changes a
	// message, so no folder takes labels older than its own changes.
	last *round
}

// GlobalIDs says a message keeps its id whatever its labels, so the store
// keeps one message under several labels and re-attaches it by id
// (mail.GlobalIDs).
func (*Mailbox) GlobalIDs() bool { return true }

// AutoSelect says which folder roles are synced unless the user chooses
// (mail.AutoSelecter).
func (*Mailbox) AutoSelect() []string { return slices.Clone(AutoSelect) }

func (m *Mailbox) Close() error { return nil }

// systemFolders are the system labels that are folders, with their roles;
// the others (UNREAD, STARRED, IMPORTANT, CATEGORY_…, CHAT) are states or
// tabs, not places.
var systemFolders = map[string]mail.Role{"INBOX": mail.RoleInbox, "SENT": mail.RoleSent, "DRAFT": mail.RoleDrafts,
	"SPAM": mail.RoleJunk, "TRASH": mail.RoleTrash}

// Folders lists the labels that are folders: INBOX, SENT, DRAFT, SPAM and
// TRASH with their roles, and every user label.
func (m *Mailbox) Folders(ctx context.Context) ([]mail.FolderInfo, error) {
	var list struct {
		Labels []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"labels"`
	}
	if err := m.getJSON(ctx, costLabels, api+"/labels", maxPage, &list); err != nil {
		return nil, err
	}
	var out []mail.FolderInfo
	ids := map[string]string{}
	for _, l := range list.Labels {
		if len(out) >= maxLabels || l.ID == "" || l.Name == "" {
			continue
		}
		role, system := systemFolders[l.ID]
		if l.Type == "system" && !system || ids[l.Name] != "" {
			continue
		}
		out = append(out, mail.FolderInfo{Name: l.Name, Role: role})
		ids[l.Name] = l.ID
	}
	m.ids, m.last = ids, nil
	return out, nil
}

// labelID is a folder's label id, listing the labels when it is not known
// yet (a loop's first pass need not be a full one).
func (m *Mailbox) labelID(ctx context.Context, folder string) (string, error) {
	if id, ok := m.ids[folder]; ok {
		return id, nil
	}
	if _, err := m.Folders(ctx); err != nil {
		return "", err
	}
	if id, ok := m.ids[folder]; ok {
		return id, nil
	}
	return "", &connerr.Error{Kind: connerr.Gone, Server: m.c.Server, Message: fmt.Sprintf("The label %s no longer exists in this Gmail account.", folder)}
}

// A cursor is "i <historyId> <pageToken>" while a folder's first listing
// goes on (the history id taken before it began), then "h <historyId>".
const (
	listing = "i"
	later   = "h"
)

func (m *Mailbox) cursorInvalid(msg string) error {
	return &connerr.Error{Kind: connerr.CursorInvalid, Server: m.c.Server, Message: msg}
}

// Changes lists the label newest first on a folder's first round, one page
// (at most limit) at a time; afterwards it reads the mailbox's history
// since the folder's history id and says what it means for this label:
// messages that entered it (Added, oldest first), whose read or starred
// state changed (Flags), and that left it or were deleted (Removed). A
// history id Gmail has forgotten (404) is connerr.CursorInvalid: the
// engine lists the folder again and re-attaches what it has by id.
func (m *Mailbox) Changes(ctx context.Context, folder string, since mail.Cursor, limit int) (mail.Changes, error) {
	label, err := m.labelID(ctx, folder)
	if err != nil {
		return mail.Changes{}, err
	}
	if limit <= 0 || limit > maxResults {
		limit = maxResults
	}
	kind, rest, _ := strings.Cut(string(since), " ")
	switch {
	case since == "":
		return m.list(ctx, label, "", "", limit)
	case kind == listing:
		if h, tok, ok := strings.Cut(rest, " "); ok && historyID(h) && tok != "" {
			return m.list(ctx, label, h, tok, limit)
		}
	case kind == later && historyID(rest):
		return m.history(ctx, label, rest, limit)
	}
	return mail.Changes{}, m.cursorInvalid("The folder's sync position is not Gmail's; crmsync reads the folder again.")
}

// historyID reports whether s is a history id (an unsigned integer).
func historyID(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// profile returns the mailbox's current history id (§9.1 getProfile).
func (m *Mailbox) profile(ctx context.Context) (string, error) {
	var p struct {
		HistoryID string `json:"historyId"`
	}
	if err := m.getJSON(ctx, costProfile, api+"/profile", maxSmall, &p); err != nil {
		return "", err
	}
	if !historyID(p.HistoryID) {
		return "", &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Message: "Gmail did not say where the mailbox's history stands."}
	}
	return p.HistoryID, nil
}

// listQuery is messages.list for a label: spam and trash are listed only
// when they are the label asked for (includeSpamTrash, §9.1).
func listQuery(label string, size int) url.Values {
	q := url.Values{"labelIds": {label}, "maxResults": {strconv.Itoa(size)}}
	if label == "SPAM" || label == "TRASH" {
		q.Set("includeSpamTrash", "true")
	}
	return q
}

type messageList struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
	NextPageToken      string `json:"nextPageToken"`
	ResultSizeEstimate int    `json:"resultSizeEstimate"`
}

// list reads one page of a folder's first listing. The history id is
// taken before the first page (§9.2), so nothing that happens meanwhile
// is missed: the history round after the listing replays it, and the
// store skips what it has.
func (m *Mailbox) list(ctx context.Context, label, hid, tok string, limit int) (mail.Changes, error) {
	var ch mail.Changes
	if hid == "" {
		var err error
		if hid, err = m.profile(ctx); err != nil {
			return ch, err
		}
	}
	q := listQuery(label, limit)
	if tok != "" {
		q.Set("pageToken", tok)
	}
	var page messageList
	err := m.getJSON(ctx, costList, api+"/messages?"+q.Encode(), maxPage, &page)
	if tok != "" && cloudapi.Status(err) == http.StatusBadRequest {
		// Google requires a page token to be fresh and the query the
		// same: one it no longer takes means listing again.
		return ch, m.cursorInvalid("Gmail no longer continues this folder's listing where it stopped; crmsync reads the folder again, without duplicates.")
	}
	if err != nil {
		return ch, err
	}
	for _, it := range page.Messages {
		if it.ID != "" {
			ch.Added = append(ch.Added, mail.ID(it.ID))
		}
	}
	if m.totals == nil {
		m.totals = map[string]int{}
	}
	if tok == "" {
		m.totals[label] = page.ResultSizeEstimate
	}
	ch.Total = m.totals[label]
	if page.NextPageToken != "" {
		ch.Cursor, ch.More = mail.Cursor(listing+" "+hid+" "+page.NextPageToken), true
	} else {
		ch.Cursor = mail.Cursor(later + " " + hid)
	}
	return ch, nil
}

// round is one page of the mailbox's history, with the labels each
// message it names has now.
type round struct {
	start   string
	next    string // the cursor after it
	more    bool
	touched []*touch // in history order
}

// touch is what a round says of one message.
type touch struct {
	id      string
	arrived bool            // messageAdded
	gone    bool            // messageDeleted, or no longer there
	added   map[string]bool // labels added (messageAdded: its labels then)
	removed map[string]bool
	labels  []string // the message's labels now
}

type historyPage struct {
	History []struct {
		ID            string      `json:"id"`
		MessagesAdded []msgChange `json:"messagesAdded"`
		Deleted       []msgChange `json:"messagesDeleted"`
		LabelsAdded   []msgChange `json:"labelsAdded"`
		LabelsRemoved []msgChange `json:"labelsRemoved"`
	} `json:"history"`
	NextPageToken string `json:"nextPageToken"`
	HistoryID     string `json:"historyId"`
}

type msgChange struct {
	Message struct {
		ID       string   `json:"id"`
		LabelIDs []string `json:"labelIds"`
	} `json:"message"`
	LabelIDs []string `json:"labelIds"`
}

// readHistory reads one page of history from start (§9.2), then each
// named message's labels now (format=minimal: only labels change).
// Records come in ascending order; the next page starts after the last
// record read, so no page token outlives the round.
func (m *Mailbox) readHistory(ctx context.Context, start string, limit int) (*round, error) {
	q := url.Values{"startHistoryId": {start}, "maxResults": {strconv.Itoa(limit)},
		"historyTypes": {"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"}}
	var page historyPage
	err := m.getJSON(ctx, costHistory, api+"/history?"+q.Encode(), maxPage, &page)
	if cloudapi.Status(err) == http.StatusNotFound {
		return nil, m.cursorInvalid("Gmail no longer keeps the changes since this folder was last synced; crmsync reads the folder again, without duplicates.")
	}
	if err != nil {
		return nil, err
	}
	r := &round{start: start}
	byID := map[string]*touch{}
	get := func(id string) *touch {
		t := byID[id]
		if t == nil {
			t = &touch{id: id, added: map[string]bool{}, removed: map[string]bool{}}
			byID[id] = t
			r.touched = append(r.touched, t)
		}
		return t
	}
	lastID := ""
	for _, h := range page.History {
		if historyID(h.ID) {
			lastID = h.ID
		}
		for _, c := range h.MessagesAdded {
			if c.Message.ID != "" {
				t := get(c.Message.ID)
				t.arrived = true
				for _, l := range c.Message.LabelIDs {
					t.added[l] = true
				}
			}
		}
		for _, c := range h.LabelsAdded {
			if c.Message.ID != "" {
				t := get(c.Message.ID)
				for _, l := range c.LabelIDs {
					t.added[l], t.removed[l] = true, false
				}
			}
		}
		for _, c := range h.LabelsRemoved {
			if c.Message.ID != "" {
				t := get(c.Message.ID)
				for _, l := range c.LabelIDs {
					t.removed[l] = true
				}
			}
		}
		for _, c := range h.Deleted {
			if c.Message.ID != "" {
				get(c.Message.ID).gone = true
			}
		}
	}
	switch {
	case page.NextPageToken != "" && lastID != "":
		r.next, r.more = later+" "+lastID, true
	case historyID(page.HistoryID):
		r.next = later + " " + page.HistoryID
	default:
		return nil, &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Message: "Gmail ended the mailbox's changes without saying where they stand."}
	}
	var ask []string
	for _, t := range r.touched {
		if !t.gone {
			ask = append(ask, t.id)
		}
	}
	err = m.each(ctx, ask, func(ctx context.Context, id string) (any, error) {
		var msg struct {
			LabelIDs []string `json:"labelIds"`
		}
		err := m.getJSON(ctx, costGet, api+"/messages/"+url.PathEscape(id)+"?format=minimal", maxSmall, &msg)
		if connerr.KindOf(err) == connerr.Gone {
			return nil, nil
		}
		return msg.LabelIDs, err
	}, func(i int, v any) error {
		t := byID[ask[i]]
		if v == nil {
			t.gone = true
		} else {
			t.labels = v.([]string)
		}
		return nil
	})
	return r, err
}

// in reports whether a message with labels is in label's folder: spam and
// trash hide a message from every other label, as Gmail's lists do.
func in(label string, labels []string) bool {
	if !slices.Contains(labels, label) {
		return false
	}
	for _, hide := range []string{"SPAM", "TRASH"} {
		if label != hide && slices.Contains(labels, hide) {
			return false
		}
	}
	return true
}

// stateLabel reports whether a label is a state or a tab rather than a
// place: changing it moves nothing.
func stateLabel(l string) bool {
	return l == "UNREAD" || l == "STARRED" || l == "IMPORTANT" || strings.HasPrefix(l, "CATEGORY_")
}

// flagsOf maps labels to flags: read is the absence of UNREAD, flagged is
// STARRED, a draft DRAFT (Gmail keeps no answered state).
func flagsOf(labels []string) mail.Flags {
	return mail.Flags{Seen: !slices.Contains(labels, "UNREAD"), Flagged: slices.Contains(labels, "STARRED"),
		Draft: slices.Contains(labels, "DRAFT")}
}

// history gives a folder its share of the history round from start. A
// message that is in the label now is a flag change, and also added when
// it entered the label in the round or left another place (it may be
// stored under a label it lost: the store re-attaches it here by id); one
// that is not, or is deleted, is removed (a no-op where it was never
// stored).
func (m *Mailbox) history(ctx context.Context, label, start string, limit int) (mail.Changes, error) {
	var ch mail.Changes
	r := m.last
	if r == nil || r.start != start {
		var err error
		if r, err = m.readHistory(ctx, start, limit); err != nil {
			return ch, err
		}
		m.last = r
	}
	moved := false
	for _, t := range r.touched {
		id := mail.ID(t.id)
		if t.gone || !in(label, t.labels) {
			ch.Removed = append(ch.Removed, id)
			moved = moved || t.gone || t.removed[label] || t.added["TRASH"] || t.added["SPAM"]
			continue
		}
		ch.Flags = append(ch.Flags, mail.FlagChange{ID: id, Flags: flagsOf(t.labels)})
		entered := t.arrived || t.added[label]
		for l, removed := range t.removed {
			entered = entered || removed && !stateLabel(l)
		}
		if entered {
			ch.Added = append(ch.Added, id)
			moved = true
		}
	}
	ch.Cursor, ch.More = mail.Cursor(r.next), r.more
	if _, known := m.totals[label]; moved || !known {
		if err := m.count(ctx, label); err != nil {
			return ch, err
		}
	}
	ch.Total = m.totals[label]
	return ch, nil
}

// count asks Gmail for a label's size (its estimate), for progress.
func (m *Mailbox) count(ctx context.Context, label string) error {
	var page messageList
	if err := m.getJSON(ctx, costList, api+"/messages?"+listQuery(label, 1).Encode(), maxSmall, &page); err != nil {
		return err
	}
	if m.totals == nil {
		m.totals = map[string]int{}
	}
	m.totals[label] = page.ResultSizeEstimate
	return nil
}

// each runs do for every id, up to window at once (the Gate lets no more
// through anyway), and hands the results to use in ids' order, so that at
// most window answers wait in memory. The first error ends it.
func (m *Mailbox) each(ctx context.Context, ids []string, do func(context.Context, string) (any, error), use func(int, any) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   any
		err error
	}
	res := make([]chan result, len(ids))
	next := 0
	for i := range ids {
		for ; next < len(ids) && next < i+max(m.window, 1); next++ {
			res[next] = make(chan result, 1)
			go func(c chan result, id string) {
				v, err := do(ctx, id)
				c <- result{v, err}
			}(res[next], ids[next])
		}
		r := <-res[i]
		if r.err != nil {
			return r.err
		}
		if err := use(i, r.v); err != nil {
			return err
		}
	}
	return nil
}

type rawMessage struct {
	ID           string   `json:"id"`
	LabelIDs     []string `json:"labelIds"`
	InternalDate string   `json:"internalDate"`
	SizeEstimate int64    `json:"sizeEstimate"`
	Raw          string   `json:"raw"`
}

// Fetch reads each message's RFC 5322 bytes (format=raw), window at a
// time, and hands them out in ids' order with the flags of their labels;
// a message gone meanwhile is skipped. One larger than MaxMessageBytes is
// cut there (Truncated).
func (m *Mailbox) Fetch(ctx context.Context, folder string, ids []mail.ID, fn func(*mail.Fetched) error) error {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = string(id)
	}
	return m.each(ctx, list, func(ctx context.Context, id string) (any, error) {
		f, err := m.fetchOne(ctx, id)
		if f == nil {
			return nil, err // a nil *Fetched in an any would not be nil
		}
		return f, err
	}, func(_ int, v any) error {
		if v == nil {
			return nil
		}
		return fn(v.(*mail.Fetched))
	})
}

// fetchOne reads one message; nil when it is gone.
func (m *Mailbox) fetchOne(ctx context.Context, id string) (*mail.Fetched, error) {
	resp, err := m.do(ctx, costGet, cloudapi.Request{Method: http.MethodGet, URL: api + "/messages/" + url.PathEscape(id) + "?format=raw"})
	if connerr.KindOf(err) == connerr.Gone {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// base64 makes 4 bytes of 3; the rest of the answer is small.
	bound := m.max/3*4 + 8 + maxSmall
	body, err := io.ReadAll(io.LimitReader(resp.Body, bound+1))
	if err != nil {
		return nil, &connerr.Error{Kind: connerr.Unreachable, Server: m.c.Server, Err: err, Message: "Gmail stopped answering while sending a message."}
	}
	var msg rawMessage
	truncated := int64(len(body)) > bound
	if truncated {
		// Too large to keep whole: its beginning, and its labels asked
		// for apart (they may come after the bytes).
		msg.ID, msg.Raw = id, rawPrefix(body)
		var meta rawMessage
		err := m.getJSON(ctx, costGet, api+"/messages/"+url.PathEscape(id)+"?format=minimal", maxSmall, &meta)
		if connerr.KindOf(err) == connerr.Gone {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		msg.LabelIDs, msg.InternalDate, msg.SizeEstimate = meta.LabelIDs, meta.InternalDate, meta.SizeEstimate
	} else if err := json.Unmarshal(body, &msg); err != nil {
		return nil, &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Err: err, Message: "Gmail sent a message crmsync cannot read."}
	}
	raw, err := decodeRaw(msg.Raw)
	if err != nil {
		return nil, &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Err: err, Message: "Gmail sent a message crmsync cannot read."}
	}
	if int64(len(raw)) > m.max {
		raw, truncated = raw[:m.max], true
	}
	f := &mail.Fetched{ID: mail.ID(id), Flags: flagsOf(msg.LabelIDs), Size: max(msg.SizeEstimate, int64(len(raw))),
		Body: bytes.NewReader(raw), Truncated: truncated}
	if ms, err := strconv.ParseInt(msg.InternalDate, 10, 64); err == nil {
		f.InternalDate = time.UnixMilli(ms).UTC()
	}
	return f, nil
}

// rawPrefix is the beginning of the "raw" field of an answer cut short,
// whole base64 quanta only.
func rawPrefix(body []byte) string {
	i := bytes.Index(body, []byte(`"raw"`))
	if i < 0 {
		return ""
	}
	rest := body[i+len(`"raw"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	rest = rest[j+1:]
	if k := bytes.IndexByte(rest, '"'); k >= 0 {
		rest = rest[:k]
	}
	return string(rest[:len(rest)/4*4])
}

// decodeRaw decodes base64url, with or without padding (Google pads; a
// standard-alphabet answer is taken too).
func decodeRaw(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_", "\r", "", "\n", "").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// SetFlags makes a message read or not (UNREAD) and starred or not
// (STARRED) in one messages.modify; adding a label it has or removing one
// it lacks changes nothing, so no read is needed first. A message Gmail no
// longer has is connerr.Gone.
func (m *Mailbox) SetFlags(ctx context.Context, folder string, id mail.ID, flags mail.Flags) error {
	var ch struct {
		Add    []string `json:"addLabelIds"`
		Remove []string `json:"removeLabelIds"`
	}
	if flags.Seen {
		ch.Remove = append(ch.Remove, "UNREAD")
	} else {
		ch.Add = append(ch.Add, "UNREAD")
	}
	if flags.Flagged {
		ch.Add = append(ch.Add, "STARRED")
	} else {
		ch.Remove = append(ch.Remove, "STARRED")
	}
	body, _ := json.Marshal(ch)
	m.last = nil
	resp, err := m.do(ctx, costModify, cloudapi.Request{Method: http.MethodPost, URL: api + "/messages/" + url.PathEscape(string(id)) + "/modify", Body: body})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	return resp.Body.Close()
}

// SearchMessageID finds a folder's messages whose Message-ID is the one
// given (mail.Searcher: did a send go through?). Gmail's search finds
// candidates (rfc822msgid:); each is checked against its header, so a
// search Gmail answers loosely finds nothing wrong.
func (m *Mailbox) SearchMessageID(ctx context.Context, folder, messageID string) ([]mail.ID, error) {
	label, err := m.labelID(ctx, folder)
	if err != nil {
		return nil, err
	}
	want := strings.Trim(strings.TrimSpace(messageID), "<>")
	if want == "" {
		return nil, nil
	}
	q := listQuery(label, 10)
	q.Set("q", "rfc822msgid:"+want)
	var page messageList
	if err := m.getJSON(ctx, costList, api+"/messages?"+q.Encode(), maxPage, &page); err != nil {
		return nil, err
	}
	var out []mail.ID
	// Newest first from Gmail: the caller takes the last, so oldest first.
	for i := len(page.Messages) - 1; i >= 0; i-- {
		id := page.Messages[i].ID
		var msg struct {
			Payload struct {
				Headers []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"headers"`
			} `json:"payload"`
		}
		err := m.getJSON(ctx, costGet, api+"/messages/"+url.PathEscape(id)+"?format=metadata&metadataHeaders=Message-ID", maxSmall, &msg)
		if connerr.KindOf(err) == connerr.Gone {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, h := range msg.Payload.Headers {
			if strings.EqualFold(h.Name, "Message-ID") && strings.Trim(strings.TrimSpace(h.Value), "<>") == want {
				out = append(out, mail.ID(id))
				break
			}
		}
	}
	return out, nil
}
