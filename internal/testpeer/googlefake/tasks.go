package googlefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tasks API (§12) under tasks/v1: task lists and their tasks. There is no
// sync token: clients poll with updatedMin on each task's updated time,
// which the fake keeps strictly increasing. A deleted task stays, with
// deleted: true, for clients that ask showDeleted.

func init() {
	routes = append(routes, route{prefix: "tasks/v1", serve: serveTasks})
}

// DefaultTaskList is the id of the user's default list ("My Tasks").
const DefaultTaskList = "MDk5NzY0NTk2Mjc0"

type tasksState struct {
	next  int
	last  time.Time
	lists map[string]*taskList
	order []string
}

type taskList struct {
	title   string
	updated time.Time
	tasks   map[string]*task
}

type task struct {
	body    map[string]json.RawMessage
	seq     int
	updated time.Time
}

func (a *API) tasks() *tasksState {
	return area(a, "tasks", func() *tasksState {
		return &tasksState{lists: map[string]*taskList{DefaultTaskList: {title: "My Tasks", tasks: map[string]*task{}}},
			order: []string{DefaultTaskList}}
	})
}

// stamp returns a modification time later than every one before. Caller
// holds a.mu.
func (s *tasksState) stamp(now time.Time) time.Time {
	now = now.UTC().Truncate(time.Millisecond)
	if !now.After(s.last) {
		now = s.last.Add(time.Millisecond)
	}
	s.last = now
	return now
}

func (t *task) etag() string { return `"` + strconv.Itoa(t.seq) + `"` }

func (t *task) str(k string) string {
	var v string
	_ = json.Unmarshal(t.body[k], &v)
	return v
}

func (t *task) flag(k string) bool {
	var v bool
	_ = json.Unmarshal(t.body[k], &v)
	return v
}

func (t *task) render() map[string]any {
	out := map[string]any{}
	for k, v := range t.body {
		out[k] = v
	}
	out["kind"] = "tasks#task"
	out["etag"] = t.etag()
	out["updated"] = t.updated.Format("2006-01-02T15:04:05.000Z")
	return out
}

// setTask writes in over t's body (PATCH: only the fields in in), with
// what Google does to them: a due date loses its time, a completed task
// gets a completion time. Caller holds a.mu.
func (s *tasksState) setTask(t *task, in map[string]json.RawMessage, now time.Time) {
	if t.body == nil {
		t.body = map[string]json.RawMessage{}
	}
	for k, v := range in {
		switch k {
		case "id", "etag", "updated", "kind", "selfLink", "position", "parent":
			continue
		}
		if string(v) == "null" {
			delete(t.body, k)
		} else {
			t.body[k] = v
		}
	}
	if d := t.str("due"); d != "" {
		if tm, err := time.Parse(time.RFC3339, d); err == nil {
			t.body["due"], _ = json.Marshal(tm.UTC().Format("2006-01-02") + "T00:00:00.000Z")
		}
	}
	if t.str("status") == "" {
		t.body["status"] = json.RawMessage(`"needsAction"`)
	}
	t.updated = s.stamp(now)
	switch t.str("status") {
	case "completed":
		if t.str("completed") == "" {
			t.body["completed"], _ = json.Marshal(t.updated.Format("2006-01-02T15:04:05.000Z"))
		}
	default:
		delete(t.body, "completed")
	}
	s.next++
	t.seq = s.next
}

func serveTasks(a *API, w http.ResponseWriter, r *http.Request, path string) {
	if !a.Admit(w, 1) {
		return
	}
	s := a.tasks()
	rest := strings.TrimPrefix(path, "tasks/v1/")
	bad := func(msg string) { Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", msg) }
	notFound := func() { Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Not Found") }
	a.mu.Lock()
	defer a.mu.Unlock()
	if rest == "users/@me/lists" && r.Method == http.MethodGet {
		items := []map[string]any{}
		for _, id := range s.order {
			l := s.lists[id]
			items = append(items, map[string]any{"kind": "tasks#taskList", "id": id, "etag": `"l` + id + `"`, "title": l.title,
				"updated": l.updated.UTC().Format("2006-01-02T15:04:05.000Z")})
		}
		JSON(w, map[string]any{"kind": "tasks#taskLists", "items": items})
		return
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || parts[0] != "lists" || parts[2] != "tasks" || len(parts) > 4 {
		notFound()
		return
	}
	l := s.lists[parts[1]]
	if parts[1] == "@default" {
		l = s.lists[DefaultTaskList]
	}
	if l == nil {
		notFound()
		return
	}
	if len(parts) == 3 {
		switch r.Method {
		case http.MethodGet:
			a.listTasks(l, w, r)
		case http.MethodPost:
			var in map[string]json.RawMessage
			if readBody(r, &in) != nil {
				bad("Invalid JSON payload")
				return
			}
			s.next++
			id := fmt.Sprintf("MTA3NjE%08d", s.next)
			t := &task{}
			s.setTask(t, in, a.now())
			t.body["id"], _ = json.Marshal(id)
			l.tasks[id] = t
			JSON(w, t.render())
		default:
			notFound()
		}
		return
	}
	t := l.tasks[parts[3]]
	if t == nil || (t.flag("deleted") && r.Method != http.MethodGet) {
		notFound()
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && r.Method != http.MethodGet && m != t.etag() {
		Error(w, http.StatusPreconditionFailed, "conditionNotMet", "FAILED_PRECONDITION", "Precondition Failed")
		return
	}
	switch r.Method {
	case http.MethodGet:
		JSON(w, t.render())
	case http.MethodPatch, http.MethodPut:
		var in map[string]json.RawMessage
		if readBody(r, &in) != nil {
			bad("Invalid JSON payload")
			return
		}
		if r.Method == http.MethodPut {
			keep := map[string]json.RawMessage{"id": t.body["id"]}
			t.body = keep
		}
		s.setTask(t, in, a.now())
		JSON(w, t.render())
	case http.MethodDelete:
		s.setTask(t, map[string]json.RawMessage{"deleted": json.RawMessage("true")}, a.now())
		w.WriteHeader(http.StatusNoContent)
	default:
		notFound()
	}
}

// listTasks is tasks.list (§12).
func (a *API) listTasks(l *taskList, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 20
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", "Invalid value for maxResults: at most 100")
			return
		}
		size = n
	}
	var since time.Time
	if v := q.Get("updatedMin"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", "Invalid value for updatedMin")
			return
		}
		since = t
	}
	flag := func(k string, def bool) bool {
		if v := q.Get(k); v != "" {
			return v == "true"
		}
		return def
	}
	showDeleted, showHidden, showCompleted := flag("showDeleted", false), flag("showHidden", false), flag("showCompleted", true)
	sig := q.Get("updatedMin") + "|" + strconv.FormatBool(showDeleted) + strconv.FormatBool(showHidden) + strconv.FormatBool(showCompleted)
	off := 0
	if pt := q.Get("pageToken"); pt != "" {
		cur, ok := decodeCursor(pt)
		if !ok || cur.Sig != sig {
			Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", "Invalid page token")
			return
		}
		off = cur.Off
	}
	var ids []string
	for id, t := range l.tasks {
		switch {
		case t.updated.Before(since):
		case t.flag("deleted") && !showDeleted:
		case t.flag("hidden") && !showHidden:
		case t.str("status") == "completed" && !showCompleted:
		default:
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = ids[min(off, len(ids)):]
	out := map[string]any{"kind": "tasks#tasks", "etag": `"tl"`}
	if len(ids) > size {
		out["nextPageToken"] = encodeCursor(cursor{Off: off + size, Sig: sig})
		ids = ids[:size]
	}
	items := []map[string]any{}
	for _, id := range ids {
		items = append(items, l.tasks[id].render())
	}
	out["items"] = items
	JSON(w, out)
}

// Test side.

// PutTask creates (id "") or patches a task in the default list as
// another client would, and returns its id. "hidden": true is a task
// cleared from the list in the UI.
func (a *API) PutTask(id string, fields map[string]any) string {
	s := a.tasks()
	b, _ := json.Marshal(fields)
	var in map[string]json.RawMessage
	_ = json.Unmarshal(b, &in)
	a.mu.Lock()
	defer a.mu.Unlock()
	l := s.lists[DefaultTaskList]
	t := l.tasks[id]
	if t == nil {
		s.next++
		id = fmt.Sprintf("MTA3NjE%08d", s.next)
		t = &task{body: map[string]json.RawMessage{}}
		t.body["id"], _ = json.Marshal(id)
		l.tasks[id] = t
	}
	s.setTask(t, in, a.now())
	return id
}

// DeleteTask deletes a task of the default list as another client would.
func (a *API) DeleteTask(id string) {
	s := a.tasks()
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := s.lists[DefaultTaskList].tasks[id]; t != nil {
		s.setTask(t, map[string]json.RawMessage{"deleted": json.RawMessage("true")}, a.now())
	}
}

// Tasks returns the default list's live tasks as the API shows them, by id.
func (a *API) Tasks() map[string]map[string]any {
	s := a.tasks()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]any{}
	for id, t := range s.lists[DefaultTaskList].tasks {
		if !t.flag("deleted") {
			out[id] = t.render()
		}
	}
	return out
}
