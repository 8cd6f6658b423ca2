package googlefake

// The Gmail API (reference §9): labels, messages stored as raw RFC 5322
// bytes, messages.list newest first, messages.get in its four formats, an
// ascending and non-contiguous history with a configurable horizon past
// which history.list answers 404, modify/batchModify, send, trash,
// getProfile and watch/stop (with Pub/Sub's push, pubsub.go), each spending its quota units (§9.6, the
// older table: the costs the reference gives for every method).

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Gmail quota units per method (§9.6, the table the reference gives for
// every method; watch and stop as Google's quota page lists them).
const (
	costLabelsList   = 1
	costProfile      = 1
	costHistoryList  = 2
	costMessagesList = 5
	costMessagesGet  = 5
	costModify       = 5
	costTrash        = 5
	costDelete       = 10
	costBatchModify  = 50
	costSend         = 100
	costWatch        = 100
	costStop         = 50
)

// The system labels every mailbox has (§9.1: type "system").
var systemLabels = []string{"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
	"CHAT", "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"}

func init() { routes = append(routes, route{prefix: "gmail/v1/users/me", serve: serveGmail}) }

// Gmail is the fake's mailbox of the user "me". Its methods are test
// helpers, safe for concurrent use with the requests served.
type Gmail struct {
	mu      sync.Mutex
	email   string
	labels  map[string]*gLabel // by id
	lorder  []string
	msgs    map[string]*gMessage
	seq     int      // insertion order
	nextID  uint64   // message ids
	hid     uint64   // the last history id given
	history []record // ascending ids
	horizon uint64   // a startHistoryId below it is forgotten: 404
	watch   *WatchState
	push    pushState
	now     func() time.Time
}

type gLabel struct{ id, name, typ string }

type gMessage struct {
	id, thread string
	raw        []byte
	labels     []string
	date       int64 // internalDate, epoch ms
	history    uint64
	seq        int
}

// record is one history record: one change of one message.
type record struct {
	id     uint64
	kind   string // messageAdded, messageDeleted, labelAdded, labelRemoved
	msg    string
	thread string
	labels []string // messageAdded: the message's labels then; label changes: those changed
}

// WatchState is the last watch asked for (users.watch).
type WatchState struct {
	TopicName  string
	LabelIDs   []string
	Expiration time.Time
}

// Gmail returns the user's mailbox, made on first use.
func (a *API) Gmail() *Gmail {
	return area(a, "gmail", func() *Gmail {
		g := &Gmail{email: "me@example.com", labels: map[string]*gLabel{}, msgs: map[string]*gMessage{},
			nextID: 0x18c0000000000000, hid: 1000, now: a.now}
		for _, l := range systemLabels {
			g.labels[l] = &gLabel{id: l, name: l, typ: "system"}
			g.lorder = append(g.lorder, l)
		}
		return g
	})
}

// SetEmail sets the user's address (getProfile; default me@example.com).
func (g *Gmail) SetEmail(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.email = addr
}

// AddLabel adds a user label and returns its id.
func (g *Gmail) AddLabel(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := fmt.Sprintf("Label_%d", len(g.lorder)-len(systemLabels)+1)
	g.labels[id] = &gLabel{id: id, name: name, typ: "user"}
	g.lorder = append(g.lorder, id)
	return id
}

// next returns a new history id: increasing, never contiguous (§9.2).
func (g *Gmail) next() uint64 {
	g.hid += 2 + g.hid%5
	return g.hid
}

func (g *Gmail) log(kind string, m *gMessage, labels []string) {
	id := g.next()
	m.history = id
	g.history = append(g.history, record{id: id, kind: kind, msg: m.id, thread: m.thread, labels: slices.Clone(labels)})
	g.publish(append(slices.Clone(m.labels), labels...))
}

// AddMessage delivers raw with the given label ids (INBOX, UNREAD, a user
// label's id…) and returns its id. Its internalDate is its Date header's,
// else now.
func (g *Gmail) AddMessage(raw []byte, labels ...string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.add(raw, "", labels).id
}

func (g *Gmail) add(raw []byte, thread string, labels []string) *gMessage {
	g.nextID += 0x1f3
	g.seq++
	id := strconv.FormatUint(g.nextID, 16)
	if thread == "" {
		thread = id
	}
	date := g.now()
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if d, err := msg.Header.Date(); err == nil {
			date = d
		}
	}
	m := &gMessage{id: id, thread: thread, raw: slices.Clone(raw), date: date.UnixMilli(), seq: g.seq}
	for _, l := range labels {
		if !slices.Contains(m.labels, l) {
			m.labels = append(m.labels, l)
		}
	}
	g.msgs[id] = m
	g.log("messageAdded", m, m.labels)
	return m
}

// Modify adds and removes labels of a message, as the user would in
// Gmail. It reports whether the message exists.
func (g *Gmail) Modify(id string, add, remove []string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.msgs[id]
	if m == nil {
		return false
	}
	g.modify(m, add, remove)
	return true
}

// modify changes m's labels and logs what changed.
func (g *Gmail) modify(m *gMessage, add, remove []string) {
	var added, removed []string
	for _, l := range add {
		if !slices.Contains(m.labels, l) && !slices.Contains(added, l) {
			added = append(added, l)
		}
	}
	for _, l := range remove {
		if slices.Contains(m.labels, l) && !slices.Contains(add, l) && !slices.Contains(removed, l) {
			removed = append(removed, l)
		}
	}
	if len(added) > 0 {
		m.labels = append(m.labels, added...)
		g.log("labelAdded", m, added)
	}
	if len(removed) > 0 {
		m.labels = slices.DeleteFunc(m.labels, func(l string) bool { return slices.Contains(removed, l) })
		g.log("labelRemoved", m, removed)
	}
}

// Trash moves a message to the trash: the TRASH label is added, which
// history shows as labelAdded TRASH (§9.2); its other labels stay, hidden
// from lists that leave out spam and trash.
func (g *Gmail) Trash(id string) bool { return g.Modify(id, []string{"TRASH"}, nil) }

// Delete deletes a message for good: history shows messageDeleted.
func (g *Gmail) Delete(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.msgs[id]
	if m == nil {
		return false
	}
	delete(g.msgs, id)
	g.log("messageDeleted", m, nil)
	return true
}

// ExpireHistory forgets the history so far: history.list from any
// startHistoryId before the current one answers 404 (§9.2, the horizon).
func (g *Gmail) ExpireHistory() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.horizon = g.hid
	g.history = nil
}

// MessageState is a message as the fake holds it.
type MessageState struct {
	ID, ThreadID string
	Labels       []string
	Raw          []byte
	HistoryID    uint64
}

// Message returns a message's state.
func (g *Gmail) Message(id string) (MessageState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.msgs[id]
	if m == nil {
		return MessageState{}, false
	}
	return MessageState{ID: m.id, ThreadID: m.thread, Labels: slices.Clone(m.labels), Raw: slices.Clone(m.raw), HistoryID: m.history}, true
}

// Messages returns the ids of the messages with every label given,
// newest first.
func (g *Gmail) Messages(labels ...string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, m := range g.sorted() {
		if hasAll(m, labels) {
			out = append(out, m.id)
		}
	}
	return out
}

// Watch returns the current watch, nil if none.
func (g *Gmail) Watch() *WatchState {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.watch == nil {
		return nil
	}
	w := *g.watch
	return &w
}

// sorted returns every message newest first (internalDate, then arrival).
func (g *Gmail) sorted() []*gMessage {
	all := make([]*gMessage, 0, len(g.msgs))
	for _, m := range g.msgs {
		all = append(all, m)
	}
	slices.SortFunc(all, func(a, b *gMessage) int {
		if a.date != b.date {
			return cmpInt(b.date, a.date)
		}
		return b.seq - a.seq
	})
	return all
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hasAll(m *gMessage, labels []string) bool {
	for _, l := range labels {
		if !slices.Contains(m.labels, l) {
			return false
		}
	}
	return true
}

func serveGmail(a *API, w http.ResponseWriter, r *http.Request, path string) {
	g := a.Gmail()
	p := strings.TrimPrefix(strings.TrimPrefix(path, "gmail/v1/users/me"), "/")
	seg := strings.Split(p, "/")
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case p == "profile" && get:
		if a.Admit(w, costProfile) {
			g.profile(w)
		}
	case p == "labels" && get:
		if a.Admit(w, costLabelsList) {
			g.listLabels(w)
		}
	case p == "history" && get:
		if a.Admit(w, costHistoryList) {
			g.listHistory(w, r)
		}
	case p == "messages" && get:
		if a.Admit(w, costMessagesList) {
			g.listMessages(w, r)
		}
	case p == "messages/send" && post:
		if a.Admit(w, costSend) {
			g.send(w, r)
		}
	case p == "messages/batchModify" && post:
		if a.Admit(w, costBatchModify) {
			g.batchModify(w, r)
		}
	case len(seg) == 2 && seg[0] == "messages" && get:
		if a.Admit(w, costMessagesGet) {
			g.getMessage(w, r, seg[1])
		}
	case len(seg) == 2 && seg[0] == "messages" && r.Method == http.MethodDelete:
		if a.Admit(w, costDelete) {
			if !g.Delete(seg[1]) {
				notFound(w)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	case len(seg) == 3 && seg[0] == "messages" && post && (seg[2] == "modify" || seg[2] == "trash" || seg[2] == "untrash"):
		cost := costModify
		if seg[2] != "modify" {
			cost = costTrash
		}
		if a.Admit(w, cost) {
			g.modifyOne(w, r, seg[1], seg[2])
		}
	case p == "watch" && post:
		if a.Admit(w, costWatch) {
			g.startWatch(w, r)
		}
	case p == "stop" && post:
		if a.Admit(w, costStop) {
			g.mu.Lock()
			g.watch = nil
			g.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		if a.Admit(w, 1) {
			notFound(w)
		}
	}
}

func notFound(w http.ResponseWriter) {
	Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Requested entity was not found.")
}

func (g *Gmail) profile(w http.ResponseWriter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	threads := map[string]bool{}
	for _, m := range g.msgs {
		threads[m.thread] = true
	}
	JSON(w, map[string]any{"emailAddress": g.email, "messagesTotal": len(g.msgs), "threadsTotal": len(threads),
		"historyId": strconv.FormatUint(g.hid, 10)})
}

func (g *Gmail) listLabels(w http.ResponseWriter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := []map[string]string{}
	for _, id := range g.lorder {
		l := g.labels[id]
		out = append(out, map[string]string{"id": l.id, "name": l.name, "type": l.typ})
	}
	JSON(w, map[string]any{"labels": out})
}

// pageSize reads maxResults: default 100, at most 500 (§9.1, §9.2).
func pageSize(r *http.Request) (int, bool) {
	v := r.URL.Query().Get("maxResults")
	if v == "" {
		return 100, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false
	}
	return min(n, 500), true
}

// A page token names the last item of the page before (a message's
// position, a history record's id): paging stays right while mail
// arrives.
func pageToken(parts ...int64) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = strconv.FormatInt(p, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte("p:" + strings.Join(s, ":")))
}

func readPageToken(tok string, n int) ([]int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, false
	}
	f := strings.Split(strings.TrimPrefix(string(b), "p:"), ":")
	if !strings.HasPrefix(string(b), "p:") || len(f) != n {
		return nil, false
	}
	out := make([]int64, n)
	for i, s := range f {
		if out[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, false
		}
	}
	return out, true
}

// rfc822msgid is the one search operator the fake knows (q); any other
// query matches nothing rather than everything.
var rfc822msgid = regexp.MustCompile(`^rfc822msgid:\s*<?([^<>\s]+)>?$`)

func (g *Gmail) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, ok := pageSize(r)
	if !ok {
		badRequest(w, "Invalid maxResults.")
		return
	}
	labels := q["labelIds"]
	spamTrash := q.Get("includeSpamTrash") == "true"
	var msgID string
	if s := strings.TrimSpace(q.Get("q")); s != "" {
		mm := rfc822msgid.FindStringSubmatch(s)
		if mm == nil {
			msgID = "\x00" // unknown operators: nothing
		} else {
			msgID = mm[1]
		}
	}
	var after []int64
	if tok := q.Get("pageToken"); tok != "" {
		if after, ok = readPageToken(tok, 2); !ok {
			badRequest(w, "Invalid pageToken.")
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range labels {
		if g.labels[l] == nil {
			badRequest(w, "Invalid label: "+l)
			return
		}
	}
	var match []*gMessage
	for _, m := range g.sorted() {
		if !hasAll(m, labels) {
			continue
		}
		// includeSpamTrash=false hides spam and trash unless asked by label.
		if !spamTrash && (slices.Contains(m.labels, "SPAM") && !slices.Contains(labels, "SPAM") ||
			slices.Contains(m.labels, "TRASH") && !slices.Contains(labels, "TRASH")) {
			continue
		}
		if msgID != "" && headerMessageID(m.raw) != msgID {
			continue
		}
		match = append(match, m)
	}
	start := 0
	if after != nil {
		start = len(match)
		for i, m := range match {
			if m.date < after[0] || m.date == after[0] && int64(m.seq) < after[1] {
				start = i
				break
			}
		}
	}
	page := match[start:min(start+size, len(match))]
	out := map[string]any{"resultSizeEstimate": len(match)}
	list := make([]map[string]string, 0, len(page))
	for _, m := range page {
		list = append(list, map[string]string{"id": m.id, "threadId": m.thread})
	}
	if len(list) > 0 {
		out["messages"] = list
	}
	if start+size < len(match) {
		last := page[len(page)-1]
		out["nextPageToken"] = pageToken(last.date, int64(last.seq))
	}
	JSON(w, out)
}

func headerMessageID(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>")
}

// resource is a message in the given format (§9.1).
func (g *Gmail) resource(m *gMessage, format string, headers []string) map[string]any {
	out := map[string]any{"id": m.id, "threadId": m.thread, "labelIds": slices.Clone(m.labels),
		"historyId": strconv.FormatUint(m.history, 10), "internalDate": strconv.FormatInt(m.date, 10),
		"sizeEstimate": len(m.raw), "snippet": snippet(m.raw)}
	switch format {
	case "raw":
		out["raw"] = base64.URLEncoding.EncodeToString(m.raw)
	case "metadata":
		hdr, _ := readHeader(m.raw)
		out["payload"] = map[string]any{"mimeType": mimeType(hdr), "headers": headerList(hdr, headers)}
	case "full":
		out["payload"] = fullPayload(m.raw)
	case "minimal":
		delete(out, "snippet")
	}
	return out
}

func (g *Gmail) getMessage(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	format := q.Get("format")
	switch format {
	case "":
		format = "full"
	case "raw", "minimal", "metadata", "full":
	default:
		badRequest(w, "Invalid format.")
		return
	}
	g.mu.Lock()
	m := g.msgs[id]
	if m == nil {
		g.mu.Unlock()
		notFound(w)
		return
	}
	res := g.resource(m, format, q["metadataHeaders"])
	g.mu.Unlock()
	JSON(w, res)
}

type labelChange struct {
	IDs            []string `json:"ids"`
	AddLabelIDs    []string `json:"addLabelIds"`
	RemoveLabelIDs []string `json:"removeLabelIds"`
}

// checkLabels refuses unknown label ids (400), as Gmail does.
func (g *Gmail) checkLabels(w http.ResponseWriter, ls ...[]string) bool {
	for _, l := range ls {
		for _, id := range l {
			if g.labels[id] == nil {
				badRequest(w, "Invalid label: "+id)
				return false
			}
		}
	}
	return true
}

func (g *Gmail) modifyOne(w http.ResponseWriter, r *http.Request, id, op string) {
	var ch labelChange
	if op == "modify" {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ch); err != nil {
			badRequest(w, "Invalid JSON payload.")
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.msgs[id]
	if m == nil {
		notFound(w)
		return
	}
	if !g.checkLabels(w, ch.AddLabelIDs, ch.RemoveLabelIDs) {
		return
	}
	switch op {
	case "trash":
		g.modify(m, []string{"TRASH"}, nil)
	case "untrash":
		g.modify(m, nil, []string{"TRASH"})
	default:
		g.modify(m, ch.AddLabelIDs, ch.RemoveLabelIDs)
	}
	JSON(w, g.resource(m, "minimal", nil))
}

func (g *Gmail) batchModify(w http.ResponseWriter, r *http.Request) {
	var ch labelChange
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ch); err != nil {
		badRequest(w, "Invalid JSON payload.")
		return
	}
	if len(ch.IDs) == 0 || len(ch.IDs) > 1000 {
		badRequest(w, "ids must hold 1 to 1000 message ids.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.checkLabels(w, ch.AddLabelIDs, ch.RemoveLabelIDs) {
		return
	}
	for _, id := range ch.IDs {
		if m := g.msgs[id]; m != nil {
			g.modify(m, ch.AddLabelIDs, ch.RemoveLabelIDs)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// send files the message in SENT under a new id (§9.3). The reference
// states no rule on From: the message is kept as given; Gmail refuses one
// without any recipient.
func (g *Gmail) send(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Raw      string `json:"raw"`
		ThreadID string `json:"threadId"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 48<<20)).Decode(&in); err != nil {
		badRequest(w, "Invalid JSON payload.")
		return
	}
	raw, err := base64.URLEncoding.DecodeString(in.Raw)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(in.Raw, "=")); err != nil {
			badRequest(w, "Invalid value for ByteString: raw.")
			return
		}
	}
	if len(raw) > 36700160 {
		Error(w, http.StatusRequestEntityTooLarge, "uploadTooLarge", "INVALID_ARGUMENT", "Message too large.")
		return
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		badRequest(w, "Invalid raw message.")
		return
	}
	if msg.Header.Get("To") == "" && msg.Header.Get("Cc") == "" && msg.Header.Get("Bcc") == "" {
		badRequest(w, "Recipient address required")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	thread := ""
	if in.ThreadID != "" && g.threadExists(in.ThreadID) {
		thread = in.ThreadID
	}
	// Bcc is not kept in the sent copy's headers by the fake either:
	// what the recipients see is what is stored (Gmail keeps Bcc in the
	// sender's copy; the reference is silent, so the bytes stay as sent).
	m := g.add(raw, thread, []string{"SENT"})
	JSON(w, map[string]any{"id": m.id, "threadId": m.thread, "labelIds": slices.Clone(m.labels)})
}

func (g *Gmail) threadExists(id string) bool {
	for _, m := range g.msgs {
		if m.thread == id {
			return true
		}
	}
	return false
}

var topicName = regexp.MustCompile(`^projects/[^/]+/topics/[^/]+$`)

// startWatch records a watch of 7 days (§9.4).
func (g *Gmail) startWatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TopicName string   `json:"topicName"`
		LabelIDs  []string `json:"labelIds"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || !topicName.MatchString(in.TopicName) {
		badRequest(w, "Invalid topicName.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	exp := g.now().Add(7 * 24 * time.Hour)
	g.watch = &WatchState{TopicName: in.TopicName, LabelIDs: in.LabelIDs, Expiration: exp}
	JSON(w, map[string]string{"historyId": strconv.FormatUint(g.hid, 10), "expiration": strconv.FormatInt(exp.UnixMilli(), 10)})
}

var historyTypes = []string{"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"}

// listHistory answers history.list (§9.2): records after startHistoryId
// in ascending order, of the types asked (all by default), about labelId
// when given; 404 for a start before the horizon.
func (g *Gmail) listHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err := strconv.ParseUint(q.Get("startHistoryId"), 10, 64)
	if err != nil {
		badRequest(w, "Invalid startHistoryId.")
		return
	}
	size, ok := pageSize(r)
	if !ok {
		badRequest(w, "Invalid maxResults.")
		return
	}
	types := q["historyTypes"]
	for _, t := range types {
		if !slices.Contains(historyTypes, t) {
			badRequest(w, "Invalid historyTypes: "+t)
			return
		}
	}
	if len(types) == 0 {
		types = historyTypes
	}
	label := q.Get("labelId")
	after := start
	if tok := q.Get("pageToken"); tok != "" {
		p, ok := readPageToken(tok, 1)
		if !ok {
			badRequest(w, "Invalid pageToken.")
			return
		}
		after = uint64(p[0])
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if start < g.horizon {
		notFound(w)
		return
	}
	var out []map[string]any
	next := ""
	for _, rec := range g.history {
		if rec.id <= after || !slices.Contains(types, rec.kind) {
			continue
		}
		if label != "" && !slices.Contains(rec.labels, label) {
			if m := g.msgs[rec.msg]; m == nil || !slices.Contains(m.labels, label) {
				continue
			}
		}
		if len(out) == size {
			next = pageToken(int64(out[len(out)-1]["id"].(uint64)))
			break
		}
		ref := map[string]string{"id": rec.msg, "threadId": rec.thread}
		h := map[string]any{"id": rec.id, "messages": []any{ref}}
		switch rec.kind {
		case "messageAdded":
			h["messagesAdded"] = []any{map[string]any{"message": map[string]any{"id": rec.msg, "threadId": rec.thread, "labelIds": rec.labels}}}
		case "messageDeleted":
			h["messagesDeleted"] = []any{map[string]any{"message": ref}}
		case "labelAdded":
			h["labelsAdded"] = []any{map[string]any{"message": ref, "labelIds": rec.labels}}
		case "labelRemoved":
			h["labelsRemoved"] = []any{map[string]any{"message": ref, "labelIds": rec.labels}}
		}
		out = append(out, h)
	}
	// History ids are strings on the wire, as every Google uint64.
	for _, h := range out {
		h["id"] = strconv.FormatUint(h["id"].(uint64), 10)
	}
	res := map[string]any{"historyId": strconv.FormatUint(g.hid, 10)}
	if len(out) > 0 {
		res["history"] = out
	}
	if next != "" {
		res["nextPageToken"] = next
	}
	JSON(w, res)
}

// Message formats' pieces.

func snippet(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(msg.Body, 200))
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "")
	}
	return s
}

func readHeader(raw []byte) (textproto.MIMEHeader, error) {
	return textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
}

func mimeType(h textproto.MIMEHeader) string {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		return "text/plain"
	}
	return mt
}

// headerList is the payload's headers, only those named
// in only when it is not empty (metadataHeaders).
func headerList(h textproto.MIMEHeader, only []string) []map[string]string {
	var order []string
	for k := range h {
		order = append(order, k)
	}
	slices.Sort(order) // textproto keeps no order: by name, stable
	out := []map[string]string{}
	for _, k := range order {
		if len(only) > 0 && !slices.ContainsFunc(only, func(o string) bool { return strings.EqualFold(o, k) }) {
			continue
		}
		for _, v := range h[k] {
			out = append(out, map[string]string{"name": k, "value": v})
		}
	}
	return out
}

// fullPayload is the parsed MIME tree (format=full): headers, bodies as
// base64url data, parts, attachments named by filename.
func fullPayload(raw []byte) map[string]any {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return map[string]any{"partId": "", "mimeType": "text/plain", "body": map[string]any{"size": 0}}
	}
	return part("", textproto.MIMEHeader(msg.Header), msg.Body, 0)
}

func part(id string, h textproto.MIMEHeader, body io.Reader, depth int) map[string]any {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		mt = "text/plain"
	}
	p := map[string]any{"partId": id, "mimeType": mt, "headers": headerList(h, nil), "filename": ""}
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		p["filename"] = dp["filename"]
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < 10 {
		mr := multipart.NewReader(body, params["boundary"])
		var parts []any
		for i := 0; ; i++ {
			sub, err := mr.NextRawPart()
			if err != nil {
				break
			}
			sid := strconv.Itoa(i)
			if id != "" {
				sid = id + "." + sid
			}
			parts = append(parts, part(sid, sub.Header, sub, depth+1))
		}
		p["parts"] = parts
		p["body"] = map[string]any{"size": 0}
		return p
	}
	b, _ := io.ReadAll(io.LimitReader(body, 50<<20))
	p["body"] = map[string]any{"size": len(b), "data": base64.URLEncoding.EncodeToString(b)}
	return p
}
