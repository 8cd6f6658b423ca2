package graphfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Microsoft To Do (§8.3, with §4–§5 and §15's delta row): task lists (the
// built-in defaultList and flaggedEmails, user lists), tasks with
// @odata.etag and If-Match, linkedResources (the place To Do gives an
// application for its own id: todoTask has no extended properties, §7.3),
// and a per-list tasks delta with nextLink/deltaLink paging, @removed,
// updated items carrying only their changed properties, and tokens that
// can be made to expire (410 syncStateNotFound, or 410 with a Location).

type todoList struct {
	id, display, wellKnown string
	removals               []fakeRemoval // tasks that left the list, by seq
}

type todoTask struct {
	id, list string
	props    map[string]any    // the writable properties, as JSON decoded them
	changed  map[string]uint64 // property → seq of its last change
	links    []map[string]any  // linkedResources
	created  time.Time
	modified time.Time
	added    uint64 // seq when it entered its list
	seq      uint64 // seq of its last change: its etag
}

type todoStore struct {
	seq   uint64
	lists []*todoList
	tasks map[string]*todoTask
	delta deltaTokens
}

func init() { routes = append(routes, route{prefix: "todo", serve: (*Graph).serveTodo}) }

// todoState returns the mailbox's To Do, made on first use with its
// built-in lists. The caller holds g.mu.
func (g *Graph) todoState() *todoStore {
	if g.todo == nil {
		g.todo = &todoStore{tasks: map[string]*todoTask{}}
		g.todo.lists = []*todoList{
			{id: todoListID(), display: "Tasks", wellKnown: "defaultList"},
			{id: todoListID(), display: "Flagged Emails", wellKnown: "flaggedEmails"},
		}
	}
	return g.todo
}

// todoListID looks like Graph's list ids, "=" padding included, so that a
// client that does not escape ids in paths is caught.
func todoListID() string { return "AQMkADAwATM0" + randomID() + "AAAA==" }

func (s *todoStore) list(id string) *todoList {
	for _, l := range s.lists {
		if l.id == id {
			return l
		}
	}
	return nil
}

// --- helpers: To Do as another client (the To Do app) changes it ---

// DefaultTodoList returns the id of the built-in "Tasks" list.
func (g *Graph) DefaultTodoList() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.todoState().lists {
		if l.wellKnown == "defaultList" {
			return l.id
		}
	}
	panic("graphfake: no default list")
}

// AddList creates a user list and returns its id.
func (g *Graph) AddList(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	l := &todoList{id: todoListID(), display: name, wellKnown: "none"}
	s.lists = append(s.lists, l)
	return l.id
}

// DeleteList deletes a user list and its tasks.
func (g *Graph) DeleteList(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	s.lists = slices.DeleteFunc(s.lists, func(l *todoList) bool { return l.id == id })
	for tid, t := range s.tasks {
		if t.list == id {
			delete(s.tasks, tid)
		}
	}
}

// AddTask creates a task in list with props (todoTask properties as JSON
// would carry them: "title", "status", "dueDateTime"…; "linkedResources"
// too) and returns its id. Bad props panic.
func (g *Graph) AddTask(list string, props map[string]any) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	if s.list(list) == nil {
		panic("graphfake: no list " + list)
	}
	t, err := s.create(list, roundTrip(props), g.now())
	if err != nil {
		panic("graphfake: " + err.Error())
	}
	return t.id
}

// UpdateTask changes a task's properties as the To Do app would (a nil
// value removes one). Bad props panic.
func (g *Graph) UpdateTask(id string, props map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	t := s.tasks[id]
	if t == nil {
		panic("graphfake: no task " + id)
	}
	if err := s.patch(t, roundTrip(props), g.now()); err != nil {
		panic("graphfake: " + err.Error())
	}
}

// DeleteTask deletes a task.
func (g *Graph) DeleteTask(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	if t := s.tasks[id]; t != nil {
		s.remove(t)
	}
}

// MoveTask moves a task to another list; like Graph, it gets a new id
// there (§8.3), which MoveTask returns.
func (g *Graph) MoveTask(id, list string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	t := s.tasks[id]
	s.remove(t)
	s.seq++
	t.id, t.list, t.added, t.seq = "AAMkAG"+randomID(), list, s.seq, s.seq
	s.tasks[t.id] = t
	return t.id
}

// Task returns a task as GET with $expand=linkedResources shows it, plus
// "parentListId" (the fake's, not Graph's); false when there is none.
func (g *Graph) Task(id string) (map[string]any, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.todoState().tasks[id]
	if t == nil {
		return nil, false
	}
	out := roundTrip(t.json(true))
	out["parentListId"] = t.list
	return out, true
}

// Tasks returns the ids of a list's tasks, in creation order.
func (g *Graph) Tasks(list string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, t := range g.todoState().sorted(list) {
		out = append(out, t.id)
	}
	return out
}

// ExpireTodoTokens forgets every tasks delta token issued so far: the
// next use answers 410 syncStateNotFound, or, withLocation, 410 with a
// Location naming a fresh delta request (§5).
func (g *Graph) ExpireTodoTokens(withLocation bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.todoState().delta.expire(withLocation)
}

// DuplicateTodoInRound makes each delta page after a round's first repeat
// the last entry of the page before (§1: replays within a round).
func (g *Graph) DuplicateTodoInRound(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.todoState().delta.duplicate = on
}

// roundTrip deep-copies v through JSON, as a request body would arrive.
func roundTrip(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// --- the store ---

// todoWritable are the todoTask properties a client may write, with
// their check ([G-TODO]); everything else is read-only or unknown, and
// refused as Graph refuses an unknown property.
var todoWritable = map[string]func(any) error{
	"title":      isString,
	"body":       checkItemBody,
	"status":     isOneOf("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"),
	"importance": isOneOf("low", "normal", "high"),
	"isReminderOn": func(v any) error {
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("isReminderOn is not a boolean")
		}
		return nil
	},
	"reminderDateTime":  checkDateTimeTimeZone,
	"startDateTime":     checkDateTimeTimeZone,
	"dueDateTime":       checkDateTimeTimeZone,
	"completedDateTime": checkDateTimeTimeZone,
	"categories": func(v any) error {
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("categories is not an array")
		}
		for _, e := range l {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("categories holds a non-string")
			}
		}
		return nil
	},
	"recurrence": func(v any) error {
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("recurrence is not an object")
		}
		return nil
	},
}

func isString(v any) error {
	if _, ok := v.(string); !ok {
		return fmt.Errorf("not a string")
	}
	return nil
}

func isOneOf(vals ...string) func(any) error {
	return func(v any) error {
		if s, ok := v.(string); ok && slices.Contains(vals, s) {
			return nil
		}
		return fmt.Errorf("%v is not one of %v", v, vals)
	}
}

func checkItemBody(v any) error {
	b, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("body is not an itemBody")
	}
	if ct, ok := b["contentType"]; ok && ct != "text" && ct != "html" {
		return fmt.Errorf("body.contentType is %v", ct)
	}
	if c, ok := b["content"]; ok && isString(c) != nil {
		return fmt.Errorf("body.content is not a string")
	}
	return nil
}

// checkDateTimeTimeZone checks a dateTimeTimeZone: dateTime in ISO 8601
// without offset (7 fractional digits allowed), a timeZone.
func checkDateTimeTimeZone(v any) error {
	d, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not a dateTimeTimeZone")
	}
	dt, _ := d["dateTime"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.9999999", dt); err != nil {
		return fmt.Errorf("dateTime %q is not a date and time", dt)
	}
	if tz, _ := d["timeZone"].(string); tz == "" {
		return fmt.Errorf("timeZone is missing")
	}
	return nil
}

// checkLinks checks linkedResources as given on a create: applicationName
// and displayName are needed, webUrl is optional ([G-TODO] linkedResource).
func checkLinks(v any) ([]map[string]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("linkedResources is not an array")
	}
	var out []map[string]any
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("a linkedResource is not an object")
		}
		if err := checkLink(m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func checkLink(m map[string]any) error {
	for k, v := range m {
		switch k {
		case "applicationName", "displayName", "externalId", "webUrl":
			if isString(v) != nil {
				return fmt.Errorf("linkedResource %s is not a string", k)
			}
		case "@odata.type":
		default:
			return fmt.Errorf("linkedResource has no property %s", k)
		}
	}
	if m["applicationName"] == nil || m["displayName"] == nil {
		return fmt.Errorf("a linkedResource needs applicationName and displayName")
	}
	m["id"] = randomID()
	return nil
}

func (s *todoStore) create(list string, body map[string]any, now time.Time) (*todoTask, error) {
	links, err := []map[string]any(nil), error(nil)
	if v, ok := body["linkedResources"]; ok {
		if links, err = checkLinks(v); err != nil {
			return nil, err
		}
		delete(body, "linkedResources")
	}
	if err := checkTaskProps(body); err != nil {
		return nil, err
	}
	s.seq++
	t := &todoTask{id: "AAMkAG" + randomID(), list: list, props: map[string]any{}, changed: map[string]uint64{},
		links: links, created: now.UTC(), added: s.seq}
	// Defaults of a new task, as Graph shows them.
	body = withDefaults(body)
	s.apply(t, body, now)
	s.tasks[t.id] = t
	return t, nil
}

func withDefaults(body map[string]any) map[string]any {
	def := map[string]any{"title": "", "status": "notStarted", "importance": "normal", "isReminderOn": false,
		"categories": []any{}, "body": map[string]any{"content": "", "contentType": "text"}}
	for k, v := range body {
		def[k] = v
	}
	return def
}

func checkTaskProps(body map[string]any) error {
	for k, v := range body {
		check, ok := todoWritable[k]
		if !ok {
			return fmt.Errorf("the property %s does not exist on todoTask or is read-only", k)
		}
		if v == nil {
			continue // a null clears it
		}
		if err := check(v); err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
	}
	return nil
}

func (s *todoStore) patch(t *todoTask, body map[string]any, now time.Time) error {
	if err := checkTaskProps(body); err != nil {
		return err
	}
	s.seq++
	s.apply(t, body, now)
	return nil
}

// apply writes body's properties over t's, with what To Do does on its
// own: completing a task stamps completedDateTime (unless given), reopening
// it clears it.
func (s *todoStore) apply(t *todoTask, body map[string]any, now time.Time) {
	set := func(k string, v any) {
		if v == nil {
			delete(t.props, k)
		} else {
			t.props[k] = v
		}
		t.changed[k] = s.seq
	}
	for k, v := range body {
		set(k, v)
	}
	if st, ok := body["status"]; ok {
		_, given := body["completedDateTime"]
		switch {
		case st == "completed" && !given && t.props["completedDateTime"] == nil:
			set("completedDateTime", map[string]any{"dateTime": now.UTC().Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"})
		case st != "completed" && !given && t.props["completedDateTime"] != nil:
			set("completedDateTime", nil)
		}
	}
	if _, ok := body["body"]; ok {
		set("bodyLastModifiedDateTime", now.UTC().Format(time.RFC3339Nano))
	}
	t.modified, t.seq = now.UTC(), s.seq
}

func (s *todoStore) remove(t *todoTask) {
	s.seq++
	l := s.list(t.list)
	if l != nil {
		l.removals = append(l.removals, fakeRemoval{id: t.id, seq: s.seq})
	}
	delete(s.tasks, t.id)
}

// sorted returns a list's tasks by arrival.
func (s *todoStore) sorted(list string) []*todoTask {
	var out []*todoTask
	for _, t := range s.tasks {
		if t.list == list {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *todoTask) int { return int(a.added) - int(b.added) })
	return out
}

func (t *todoTask) etag() string { return fmt.Sprintf(`W/"4rfRVIPi9Eq%d"`, t.seq) }

// json is the task as Graph shows it; expand adds its linkedResources.
func (t *todoTask) json(expand bool) map[string]any {
	out := map[string]any{"@odata.etag": t.etag(), "id": t.id,
		"createdDateTime":      t.created.Format("2006-01-02T15:04:05.0000000Z"),
		"lastModifiedDateTime": t.modified.Format("2006-01-02T15:04:05.0000000Z"),
		"hasAttachments":       false}
	for k, v := range t.props {
		out[k] = v
	}
	if expand {
		out["linkedResources"] = t.linksJSON()
	}
	return out
}

func (t *todoTask) linksJSON() []map[string]any {
	out := []map[string]any{}
	for _, l := range t.links {
		out = append(out, l)
	}
	return out
}

// partialJSON is a task changed (not added) since since, as an
// incremental delta round shows it: its id, etag and the properties that
// changed (§15).
func (t *todoTask) partialJSON(since uint64) map[string]any {
	out := map[string]any{"@odata.etag": t.etag(), "id": t.id,
		"lastModifiedDateTime": t.modified.Format("2006-01-02T15:04:05.0000000Z")}
	for k, seq := range t.changed {
		if seq > since {
			out[k] = t.props[k] // nil: cleared
		}
	}
	return out
}

// --- HTTP ---

// serveTodo answers paths under /v1.0/me/todo.
func (g *Graph) serveTodo(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/") // unescaped already
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.todoState()
	notFound := func() {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	if len(seg) < 2 || !strings.EqualFold(seg[1], "lists") {
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
		return
	}
	if len(seg) == 2 {
		switch r.Method {
		case http.MethodGet:
			g.listTodoLists(w, r)
		case http.MethodPost:
			var body struct {
				DisplayName string `json:"displayName"`
			}
			if !readBody(w, r, &body) {
				return
			}
			if body.DisplayName == "" {
				graphError(w, http.StatusBadRequest, "invalidRequest", "displayName is required.")
				return
			}
			l := &todoList{id: todoListID(), display: body.DisplayName, wellKnown: "none"}
			s.lists = append(s.lists, l)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(listJSON(l))
		default:
			graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
		}
		return
	}
	l := s.list(seg[2])
	if l == nil {
		notFound()
		return
	}
	switch {
	case len(seg) == 3 && r.Method == http.MethodGet:
		writeGraphJSON(w, listJSON(l))
	case len(seg) == 3 && r.Method == http.MethodPatch:
		var body struct {
			DisplayName string `json:"displayName"`
		}
		if !readBody(w, r, &body) {
			return
		}
		if l.wellKnown != "none" || body.DisplayName == "" {
			graphError(w, http.StatusBadRequest, "invalidRequest", "A built-in list cannot be renamed, and a list needs a name.")
			return
		}
		l.display = body.DisplayName
		writeGraphJSON(w, listJSON(l))
	case len(seg) == 3 && r.Method == http.MethodDelete:
		if l.wellKnown != "none" {
			graphError(w, http.StatusBadRequest, "invalidRequest", "A built-in list cannot be deleted.")
			return
		}
		s.lists = slices.DeleteFunc(s.lists, func(x *todoList) bool { return x == l })
		w.WriteHeader(http.StatusNoContent)
	case len(seg) == 4 && seg[3] == "tasks" && r.Method == http.MethodGet:
		g.listTasks(w, r, l)
	case len(seg) == 4 && seg[3] == "tasks" && r.Method == http.MethodPost:
		var body map[string]any
		if !readBody(w, r, &body) {
			return
		}
		t, err := s.create(l.id, body, g.now())
		if err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(t.json(len(t.links) > 0))
	case len(seg) == 5 && seg[3] == "tasks" && seg[4] == "delta" && r.Method == http.MethodGet:
		g.todoDelta(w, r, l)
	case len(seg) >= 5 && seg[3] == "tasks":
		t := s.tasks[seg[4]]
		if t == nil || t.list != l.id {
			notFound()
			return
		}
		g.serveTask(w, r, t, seg[5:])
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

func (g *Graph) serveTask(w http.ResponseWriter, r *http.Request, t *todoTask, rest []string) {
	s := g.todo
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeGraphJSON(w, t.json(expands(r)))
	case len(rest) == 0 && r.Method == http.MethodPatch:
		var body map[string]any
		if !readBody(w, r, &body) || !ifMatch(w, r, t.etag()) {
			return
		}
		if err := s.patch(t, body, g.now()); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
		writeGraphJSON(w, t.json(false))
	case len(rest) == 0 && r.Method == http.MethodDelete:
		if !ifMatch(w, r, t.etag()) {
			return
		}
		s.remove(t)
		w.WriteHeader(http.StatusNoContent)
	case len(rest) == 1 && rest[0] == "linkedResources" && r.Method == http.MethodGet:
		writeGraphJSON(w, map[string]any{"value": t.linksJSON()})
	case len(rest) == 1 && rest[0] == "linkedResources" && r.Method == http.MethodPost:
		var body map[string]any
		if !readBody(w, r, &body) {
			return
		}
		if err := checkLink(body); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
		s.seq++
		t.links = append(t.links, body)
		t.seq = s.seq
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(body)
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

// expands reports $expand=linkedResources.
func expands(r *http.Request) bool {
	for _, e := range strings.Split(r.URL.Query().Get("$expand"), ",") {
		if strings.EqualFold(strings.TrimSpace(e), "linkedResources") {
			return true
		}
	}
	return false
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err == nil {
		d := json.NewDecoder(bytes.NewReader(b))
		err = d.Decode(v)
	}
	if err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not JSON.")
		return false
	}
	return true
}

func listJSON(l *todoList) map[string]any {
	return map[string]any{"@odata.etag": `W/"m1fdwWoFiE2YS9yegTKoYwAA/ZGlTQ=="`, "id": l.id, "displayName": l.display,
		"isOwner": true, "isShared": false, "wellknownListName": l.wellKnown}
}

// listTodoLists lists the lists, $top at a time (default 10) with a
// nextLink carrying $skip.
func (g *Graph) listTodoLists(w http.ResponseWriter, r *http.Request) {
	var all []map[string]any
	for _, l := range g.todo.lists {
		all = append(all, listJSON(l))
	}
	writeSkipPage(w, r, all)
}

// listTasks lists a list's tasks, $top at a time (default 10) with a
// nextLink carrying $skip.
func (g *Graph) listTasks(w http.ResponseWriter, r *http.Request, l *todoList) {
	all := []map[string]any{}
	for _, t := range g.todo.sorted(l.id) {
		all = append(all, t.json(expands(r)))
	}
	writeSkipPage(w, r, all)
}

// todoDelta answers one page of a list's tasks delta ([G-TODO], §15):
// tasks added since the token whole, changed ones with their changed
// properties only.
func (g *Graph) todoDelta(w http.ResponseWriter, r *http.Request, l *todoList) {
	s := g.todo
	s.delta.serve(w, r, deltaArea{scope: l.id, what: "list", odataType: "#microsoft.graph.todoTask",
		context: "https://graph.microsoft.com/v1.0/$metadata#Collection(todoTask)", option: expands(r),
		start: func(since uint64, initial bool) ([]string, map[string]bool, uint64) {
			return s.startRound(l, since, initial)
		},
		item: func(id string, round *deltaToken) map[string]any {
			t := s.tasks[id]
			switch {
			case t == nil || t.list != l.id:
				return nil
			case round.full[id]:
				return t.json(round.option)
			}
			return t.partialJSON(round.since)
		},
		link: func(param, token string) string { return todoDeltaURL(r, l, param, token) }})
}

// startRound lists what changed in l after since: every task on an
// initial round; else those added (whole) or changed, and "-id" for those
// that left.
func (s *todoStore) startRound(l *todoList, since uint64, initial bool) (rest []string, full map[string]bool, end uint64) {
	full = map[string]bool{}
	for _, task := range s.sorted(l.id) {
		if initial || task.seq > since {
			rest = append(rest, task.id)
			full[task.id] = initial || task.added > since
		}
	}
	if !initial {
		seen := map[string]bool{}
		for _, r := range l.removals {
			if task := s.tasks[r.id]; r.seq > since && !seen[r.id] && (task == nil || task.list != l.id) {
				seen[r.id] = true
				rest = append(rest, "-"+r.id)
			}
		}
	}
	return rest, full, s.seq
}

func todoDeltaURL(r *http.Request, l *todoList, param, token string) string {
	return scheme(r) + "://" + r.Host + "/v1.0/me/todo/lists/" + url.PathEscape(l.id) + "/tasks/delta?" + param + "=" + url.QueryEscape(token)
}
