package graphfake

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The mail side of Graph (§6): folders, per-folder message delta with
// nextLink/deltaLink paging and @removed, immutable ids, $value and PATCH
// of isRead and flag. Sending, listing and attachments are in send.go.

// wellKnown are the folders every mailbox has, by their well-known name
// (usable in place of an id, §6.1) and display name.
var wellKnown = []struct{ name, display string }{
	{"inbox", "Inbox"}, {"sentitems", "Sent Items"}, {"drafts", "Drafts"}, {"deleteditems", "Deleted Items"},
	{"junkemail", "Junk Email"}, {"archive", "Archive"}, {"outbox", "Outbox"},
}

type fakeFolder struct {
	id, display, parent, wellKnown string
	removals                       []fakeRemoval // messages that left the folder, by seq
}

type fakeRemoval struct {
	id  string
	seq uint64
}

type fakeMessage struct {
	id, folder string
	raw        []byte
	isRead     bool
	flagStatus string
	received   time.Time
	added, seq uint64 // when it entered its folder; when it last changed
}

type mailStore struct {
	seq      uint64
	folders  []*fakeFolder // in creation order
	messages map[string]*fakeMessage
	delta    deltaTokens
	send     sendState // send.go
}

func newMailStore() *mailStore {
	s := &mailStore{messages: map[string]*fakeMessage{}}
	for _, w := range wellKnown {
		s.folders = append(s.folders, &fakeFolder{id: "AQMkAD" + randomID(), display: w.display, wellKnown: w.name})
	}
	return s
}

// randomID is an opaque, case-sensitive id like Graph's.
func randomID() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// folder finds a folder by id, well-known name or display path
// ("Inbox/Clients").
func (s *mailStore) folder(key string) *fakeFolder {
	for _, f := range s.folders {
		if f.id == key || strings.EqualFold(f.wellKnown, key) && key != "" || s.path(f) == key {
			return f
		}
	}
	return nil
}

func (s *mailStore) path(f *fakeFolder) string {
	if f.parent == "" {
		return f.display
	}
	return s.path(s.folder(f.parent)) + "/" + f.display
}

// message finds a message by its immutable id or by its regular id (which
// names its folder too, so it changes on a move, §4).
func (s *mailStore) message(id string) *fakeMessage {
	if m := s.messages[id]; m != nil {
		return m
	}
	imm, folder, ok := strings.Cut(id, ".")
	if m := s.messages[imm]; ok && m != nil && m.folder == folder {
		return m
	}
	return nil
}

func (m *fakeMessage) idFor(immutable bool) string {
	if immutable {
		return m.id
	}
	return m.id + "." + m.folder
}

// --- helpers: the mailbox as another client changes it ---

// AddFolder creates a folder under parent (a display path, well-known name
// or id; "" for the top level) and returns its id.
func (g *Graph) AddFolder(parent, name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := &fakeFolder{id: "AQMkAD" + randomID(), display: name}
	if parent != "" {
		f.parent = g.mustFolder(parent).id
	}
	g.mail.folders = append(g.mail.folders, f)
	return f.id
}

func (g *Graph) mustFolder(key string) *fakeFolder {
	f := g.mail.folder(key)
	if f == nil {
		panic("graphfake: no folder " + key)
	}
	return f
}

// AddMessage delivers raw into folder (display path, well-known name or
// id) and returns its immutable id.
func (g *Graph) AddMessage(folder string, raw []byte, read bool) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.mail
	s.seq++
	m := &fakeMessage{id: "AAkALg" + randomID(), folder: g.mustFolder(folder).id, raw: raw, isRead: read,
		flagStatus: "notFlagged", received: g.now().UTC().Truncate(time.Second), added: s.seq, seq: s.seq}
	s.messages[m.id] = m
	g.notifyChange("created", m, m.folder)
	return m.id
}

// MoveMessage moves a message to folder; its immutable id stays.
func (g *Graph) MoveMessage(id, folder string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.mail
	m := s.messages[id]
	to := g.mustFolder(folder)
	s.seq++
	from := s.folder(m.folder)
	from.removals = append(from.removals, fakeRemoval{id: m.id, seq: s.seq})
	m.folder, m.added, m.seq = to.id, s.seq, s.seq
	g.notifyChange("deleted", m, from.id)
	g.notifyChange("created", m, to.id)
}

// DeleteMessage deletes a message for good.
func (g *Graph) DeleteMessage(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.mail
	m := s.messages[id]
	s.seq++
	f := s.folder(m.folder)
	f.removals = append(f.removals, fakeRemoval{id: m.id, seq: s.seq})
	delete(s.messages, id)
	g.notifyChange("deleted", m, f.id)
}

// SetRead and SetFlag change a message as Outlook would.
func (g *Graph) SetRead(id string, read bool) { g.change(id, func(m *fakeMessage) { m.isRead = read }) }

// SetFlag sets flag.flagStatus: notFlagged, flagged or complete.
func (g *Graph) SetFlag(id, status string) {
	g.change(id, func(m *fakeMessage) { m.flagStatus = status })
}

func (g *Graph) change(id string, fn func(*fakeMessage)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mail.messages[id]
	fn(m)
	g.mail.seq++
	m.seq = g.mail.seq
	g.notifyChange("updated", m, m.folder)
}

// MessageState is a message as the fake holds it.
type MessageState struct {
	Folder     string // display path
	IsRead     bool
	FlagStatus string
}

// Message returns a message's state, false when it does not exist.
func (g *Graph) Message(id string) (MessageState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mail.messages[id]
	if m == nil {
		return MessageState{}, false
	}
	return MessageState{Folder: g.mail.path(g.mail.folder(m.folder)), IsRead: m.isRead, FlagStatus: m.flagStatus}, true
}

// ExpireDeltaTokens forgets every delta and skip token issued so far: the
// next use answers 410 syncStateNotFound, or, withLocation, 410 with a
// Location naming a fresh delta request (§5, tenant maintenance).
func (g *Graph) ExpireDeltaTokens(withLocation bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mail.delta.expire(withLocation)
}

// DuplicateInRound makes each delta page after a round's first repeat an
// entry of the page before, as Graph may (§1: replays within a round are
// allowed).
func (g *Graph) DuplicateInRound(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mail.delta.duplicate = on
}

// --- HTTP ---

// serveMail answers path (after /v1.0/me/).
func (g *Graph) serveMail(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(normalizePath(path), "/")
	g.mu.Lock()
	defer g.mu.Unlock()
	immutable := preferImmutable(r)
	switch {
	case r.Method == http.MethodGet && len(seg) == 1 && seg[0] == "mailfolders":
		g.listFolders(w, r, "")
	case r.Method == http.MethodGet && len(seg) >= 2 && seg[0] == "mailfolders":
		f := g.mail.folder(seg[1])
		if f == nil {
			graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		switch {
		case len(seg) == 2:
			writeGraphJSON(w, g.folderJSON(f))
		case len(seg) == 3 && seg[2] == "childfolders":
			g.listFolders(w, r, f.id)
		case len(seg) == 4 && seg[2] == "messages" && seg[3] == "delta":
			g.delta(w, r, f, immutable)
		case len(seg) == 3 && seg[2] == "messages":
			g.listMessages(w, r, f, immutable)
		default:
			graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported segment.")
		}
	case r.Method == http.MethodGet && len(seg) == 1 && seg[0] == "messages":
		g.listMessages(w, r, nil, immutable)
	case len(seg) >= 2 && seg[0] == "messages":
		m := g.mail.message(seg[1])
		if m == nil {
			graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		switch {
		case r.Method == http.MethodGet && len(seg) == 2:
			writeGraphJSON(w, g.messageJSON(m, immutable, true))
		case r.Method == http.MethodGet && len(seg) == 3 && seg[2] == "$value":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(m.raw)))
			w.Write(m.raw)
		case len(seg) >= 3 && seg[2] == "attachments":
			g.serveAttachments(w, r, m, seg[3:])
		case r.Method == http.MethodPatch && len(seg) == 2:
			g.patchMessage(w, r, m, immutable)
		default:
			graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
		}
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

// normalizePath lower-cases collection names and turns mailFolders('x')
// into mailfolders/x; ids keep their case (they are case-sensitive).
func normalizePath(p string) string {
	var out []string
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		if name, key, ok := strings.Cut(s, "('"); ok {
			out = append(out, strings.ToLower(name), strings.TrimSuffix(key, "')"))
			continue
		}
		switch l := strings.ToLower(s); l {
		case "mailfolders", "childfolders", "messages", "delta", "$value", "attachments":
			out = append(out, l)
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// preferImmutable reports Prefer: IdType="ImmutableId"; Prefer values may
// come in one header, comma-separated, or in several.
func preferImmutable(r *http.Request) bool {
	_, ok := prefer(r)["idtype"]
	return ok && strings.EqualFold(strings.Trim(prefer(r)["idtype"], `"`), "ImmutableId")
}

func prefer(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			out[strings.ToLower(k)] = v
		}
	}
	return out
}

func (g *Graph) folderJSON(f *fakeFolder) map[string]any {
	children, total, unread := 0, 0, 0
	for _, c := range g.mail.folders {
		if c.parent == f.id {
			children++
		}
	}
	for _, m := range g.mail.messages {
		if m.folder == f.id {
			total++
			if !m.isRead {
				unread++
			}
		}
	}
	return map[string]any{"id": f.id, "displayName": f.display, "parentFolderId": f.parent, "childFolderCount": children,
		"totalItemCount": total, "unreadItemCount": unread, "isHidden": false}
}

// listFolders lists the folders under parent ("" the top level), $top at
// a time (default 10) with a nextLink carrying $skip.
func (g *Graph) listFolders(w http.ResponseWriter, r *http.Request, parent string) {
	var all []map[string]any
	for _, f := range g.mail.folders {
		if f.parent == parent {
			all = append(all, g.folderJSON(f))
		}
	}
	writeSkipPage(w, r, all)
}

// skipLink is the request's absolute URL asking for the page at skip:
// a listing's nextLink ($top, $skip).
func skipLink(r *http.Request, skip, top int) string {
	u := *r.URL
	u.Scheme, u.Host = scheme(r), r.Host
	v := u.Query()
	v.Set("$skip", strconv.Itoa(skip))
	v.Set("$top", strconv.Itoa(top))
	u.RawQuery = v.Encode()
	return u.String()
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func (g *Graph) messageJSON(m *fakeMessage, immutable, full bool) map[string]any {
	out := map[string]any{"@odata.type": "#microsoft.graph.message", "@odata.etag": fmt.Sprintf(`W/"CQAAABYAAA%d"`, m.seq),
		"id": m.idFor(immutable), "isRead": m.isRead, "flag": map[string]any{"flagStatus": m.flagStatus}}
	if full {
		out["receivedDateTime"] = m.received.Format(time.RFC3339)
		out["parentFolderId"] = m.folder
		out["isDraft"] = false
		out["subject"] = header(m.raw, "Subject")
		out["internetMessageId"] = header(m.raw, "Message-ID")
	}
	return out
}

// header is a raw message's header field, unfolded and undecoded: enough
// for a fake's subject.
func header(raw []byte, name string) string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (g *Graph) patchMessage(w http.ResponseWriter, r *http.Request, m *fakeMessage, immutable bool) {
	var body struct {
		IsRead *bool `json:"isRead"`
		Flag   *struct {
			FlagStatus string `json:"flagStatus"`
		} `json:"flag"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not JSON.")
		return
	}
	if body.Flag != nil {
		switch body.Flag.FlagStatus {
		case "notFlagged", "flagged", "complete":
		default:
			graphError(w, http.StatusBadRequest, "invalidRequest", "Invalid flagStatus.")
			return
		}
		m.flagStatus = body.Flag.FlagStatus
	}
	if body.IsRead != nil {
		m.isRead = *body.IsRead
	}
	g.mail.seq++
	m.seq = g.mail.seq
	g.notifyChange("updated", m, m.folder)
	writeGraphJSON(w, g.messageJSON(m, immutable, true))
}

// delta answers one page of a folder's message delta (§6.2).
func (g *Graph) delta(w http.ResponseWriter, r *http.Request, f *fakeFolder, immutable bool) {
	s := g.mail
	s.delta.serve(w, r, deltaArea{scope: f.id, what: "folder", odataType: "#microsoft.graph.message",
		context: "https://graph.microsoft.com/v1.0/$metadata#Collection(message)", option: immutable,
		start: func(since uint64, initial bool) ([]string, map[string]bool, uint64) {
			return s.startRound(f, since, initial)
		},
		item: func(id string, round *deltaToken) map[string]any {
			if m := s.messages[id]; m != nil && m.folder == f.id {
				return g.messageJSON(m, round.option, round.full[id])
			}
			return nil
		},
		link: func(param, token string) string { return g.deltaURL(r, f, param, token) }})
}

// startRound lists what changed in f after since: every message now in it
// on an initial round; else those that entered or changed (the ones that
// entered in full, the others with their changed properties only), and
// @removed for those that left.
func (s *mailStore) startRound(f *fakeFolder, since uint64, initial bool) (rest []string, full map[string]bool, end uint64) {
	full = map[string]bool{}
	var ids []*fakeMessage
	for _, m := range s.messages {
		if m.folder == f.id && (initial || m.seq > since) {
			ids = append(ids, m)
		}
	}
	// Graph's order is not guaranteed; the fake's is by arrival.
	sortMessages(ids)
	for _, m := range ids {
		rest = append(rest, m.id)
		full[m.id] = initial || m.added > since
	}
	if !initial {
		seen := map[string]bool{}
		for _, r := range f.removals {
			if m := s.messages[r.id]; r.seq > since && !seen[r.id] && (m == nil || m.folder != f.id) {
				seen[r.id] = true
				rest = append(rest, "-"+r.id)
			}
		}
	}
	return rest, full, s.seq
}

func sortMessages(ms []*fakeMessage) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].added < ms[j].added })
}

// deltaURL is the absolute link of a folder's delta with one token.
func (g *Graph) deltaURL(r *http.Request, f *fakeFolder, param, token string) string {
	return scheme(r) + "://" + r.Host + "/v1.0/me/mailFolders('" + url.PathEscape(f.id) + "')/messages/delta?" + param + "=" + url.QueryEscape(token)
}
