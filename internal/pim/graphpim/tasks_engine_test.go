package graphpim_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/engine/enginetest"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// todoEnv is one user's task list on the Graph fake, synced by the
// engine through graphpim.Tasks over HTTP.
type todoEnv struct {
	*enginetest.Env
	t      *testing.T
	g      *graphfake.Graph
	list   string
	c      *cloudapi.Client
	events []string
}

func newTodoEnv(t *testing.T, wrap func(http.Handler) http.Handler) *todoEnv {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	// The account's kind is the lead's wiring; the engine does not read it.
	env := enginetest.New(t, storetest.SQLite, crm.PIMCalDAV, store.PIMCollection{Href: list, Kind: pim.Tasks, DisplayName: "Tasks"})
	var handler http.Handler = g
	if wrap != nil {
		handler = wrap(g)
	}
	return &todoEnv{Env: env, t: t, g: g, list: list, c: todoClient(t, handler)}
}

// run runs one pass with a new Tasks, as the loop would after a restart.
func (e *todoEnv) run(policy pim.Policy) (engine.Result, error) {
	return e.Pass(engine.Config{Remote: graphpim.NewTasks(e.c, e.list), Policy: policy,
		Event: func(_ context.Context, kind, _ string) { e.events = append(e.events, kind) }})
}

// pass runs one pass that must succeed.
func (e *todoEnv) pass(policy pim.Policy) engine.Stats {
	e.t.Helper()
	res, err := e.run(policy)
	if err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	if len(res.ItemErrors) > 0 {
		e.t.Fatalf("item errors: %v", res.ItemErrors)
	}
	return res.Stats
}

func (e *todoEnv) createTask(task crm.Task) crm.Task {
	e.t.Helper()
	task.OrgID, task.OwnerID = e.Viewer.OrgID, e.Viewer.UserID
	if task.Status == "" {
		task.Status = crm.TaskNeedsAction
	}
	task, err := e.Store.CreateTask(e.Ctx, e.Viewer, task)
	if err != nil {
		e.t.Fatal(err)
	}
	return task
}

func (e *todoEnv) updateTask(id int64, fn func(*crm.Task)) {
	e.t.Helper()
	if _, err := e.Store.UpdateTask(e.Ctx, e.Viewer, id, func(t *crm.Task) error { fn(t); return nil }); err != nil {
		e.t.Fatal(err)
	}
}

// crmTasks returns the CRM's tasks by summary; two of one fail the test.
func (e *todoEnv) crmTasks() map[string]crm.Task {
	e.t.Helper()
	p, err := e.Store.ListTasks(e.Ctx, e.Viewer, store.TaskFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]crm.Task{}
	for _, task := range p.Items {
		if _, dup := out[task.Summary]; dup {
			e.t.Fatalf("two CRM tasks %q", task.Summary)
		}
		out[task.Summary] = task
	}
	return out
}

// todoTasks returns the list's tasks by title; two of one fail the test.
func (e *todoEnv) todoTasks() map[string]map[string]any {
	e.t.Helper()
	out := map[string]map[string]any{}
	for _, id := range e.g.Tasks(e.list) {
		task, _ := e.g.Task(id)
		title, _ := task["title"].(string)
		if _, dup := out[title]; dup {
			e.t.Fatalf("two To Do tasks %q", title)
		}
		out[title] = task
	}
	return out
}

func stampOf(task map[string]any) string {
	links, _ := task["linkedResources"].([]any)
	for _, l := range links {
		if s, _ := l.(map[string]any)["externalId"].(string); s != "" {
			return s
		}
	}
	return ""
}

// Both ways: CRM tasks go to To Do stamped, To Do tasks come into the CRM
// mapped; later changes on either side follow; a quiet pass does nothing;
// a task deleted in To Do stays in the CRM.
func TestTodoEngineBothWays(t *testing.T) {
	t.Parallel()
	e := newTodoEnv(t, nil)
	report := e.createTask(crm.Task{Summary: "Write report", Due: "2026-12-01", Priority: 1, Categories: []string{"Customer"}})
	e.createTask(crm.Task{Summary: "Archive", Status: crm.TaskCompleted, CompletedAt: "2026-11-01T09:00:00Z"})
	call := e.g.AddTask(e.list, map[string]any{"title": "Call Acme", "importance": "low",
		"dueDateTime": map[string]any{"dateTime": "2026-12-02T00:00:00.0000000", "timeZone": "UTC"}})
	e.g.AddTask(e.list, map[string]any{"title": "Waiting", "status": "inProgress"})

	s := e.pass(pim.NewestWins)
	if s.CreatedCRM != 2 || s.CreatedRemote != 2 {
		t.Fatalf("first pass: %+v", s)
	}
	crmT, todo := e.crmTasks(), e.todoTasks()
	if c := crmT["Call Acme"]; c.Due != "2026-12-02" || c.Priority != 9 || c.Status != crm.TaskNeedsAction {
		t.Errorf("imported %+v", c)
	}
	if w := crmT["Waiting"]; w.Status != crm.TaskInProcess {
		t.Errorf("imported %+v", w)
	}
	if r := todo["Write report"]; stampOf(r) != pim.StampUID(fmt.Sprintf("task-%d", report.ID)) || r["importance"] != "high" {
		t.Errorf("created %v", r)
	}
	if a := todo["Archive"]; a["status"] != "completed" {
		t.Errorf("created %v", a)
	}
	if s := e.pass(pim.NewestWins); s != (engine.Stats{}) {
		t.Errorf("quiet pass did %+v", s)
	}

	e.g.UpdateTask(call, map[string]any{"status": "completed", "title": "Called Acme"})
	e.updateTask(report.ID, func(t *crm.Task) { t.Description = "Q4 numbers" })
	s = e.pass(pim.NewestWins)
	if s.ToCRM != 1 || s.ToRemote != 1 {
		t.Errorf("changes pass: %+v", s)
	}
	crmT, todo = e.crmTasks(), e.todoTasks()
	if c := crmT["Called Acme"]; c.Status != crm.TaskCompleted || c.CompletedAt == "" {
		t.Errorf("CRM after a To Do change: %+v", c)
	}
	if body, _ := todo["Write report"]["body"].(map[string]any); body["content"] != "Q4 numbers" {
		t.Errorf("To Do after a CRM change: %v", todo["Write report"])
	}

	e.g.DeleteTask(call)
	if s := e.pass(pim.NewestWins); s.Tombstoned != 1 {
		t.Errorf("delete pass: %+v", s)
	}
	if _, ok := e.crmTasks()["Called Acme"]; !ok {
		t.Error("a task deleted in To Do was deleted in the CRM")
	}
}

// One field changed on both sides is decided by the policy; fields
// changed on one side only are merged.
func TestTodoEngineConflictPolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range pim.Policies {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			e := newTodoEnv(t, nil)
			task := e.createTask(crm.Task{Summary: "Plan"})
			e.pass(policy)
			id := e.g.Tasks(e.list)[0]
			e.updateTask(task.ID, func(t *crm.Task) { t.Summary, t.Priority = "Plan (CRM)", 9 })
			time.Sleep(20 * time.Millisecond) // the provider's change is the newer
			e.g.UpdateTask(id, map[string]any{"title": "Plan (To Do)", "dueDateTime": map[string]any{"dateTime": "2026-12-24T00:00:00.0000000", "timeZone": "UTC"}})
			if s := e.pass(policy); s.Conflicts != 1 {
				t.Errorf("stats %+v", s)
			}
			want := map[pim.Policy]string{pim.NewestWins: "Plan (To Do)", pim.ProviderWins: "Plan (To Do)", pim.CRMWins: "Plan (CRM)"}[policy]
			crmT, todo := e.crmTasks(), e.todoTasks()
			c, ok := crmT[want]
			if !ok || todo[want] == nil || len(crmT) != 1 || len(todo) != 1 {
				t.Fatalf("want %q on both sides: CRM %v, To Do %v", want, crmT, todo)
			}
			if c.Priority != 9 || c.Due != "2026-12-24" || todo[want]["importance"] != "low" {
				t.Errorf("merged: CRM %+v, To Do %v", c, todo[want])
			}
		})
	}
}

// An expired delta token (with or without a Location) makes the engine
// list again: nothing is duplicated on either side, and the change made
// meanwhile comes in.
func TestTodoEngineExpiredToken(t *testing.T) {
	t.Parallel()
	for _, loc := range []bool{false, true} {
		e := newTodoEnv(t, nil)
		e.createTask(crm.Task{Summary: "From CRM"})
		id := e.g.AddTask(e.list, map[string]any{"title": "From To Do"})
		e.pass(pim.NewestWins)
		e.g.ExpireTodoTokens(loc)
		e.g.UpdateTask(id, map[string]any{"importance": "high"})
		e.pass(pim.NewestWins)
		crmT, todo := e.crmTasks(), e.todoTasks()
		if len(crmT) != 2 || len(todo) != 2 || crmT["From To Do"].Priority != 1 {
			t.Errorf("location %v: CRM %v, To Do %d tasks", loc, crmT, len(todo))
		}
		if len(e.events) != 1 || e.events[0] != "token_reset" {
			t.Errorf("events %v", e.events)
		}
	}
}

// A create whose answer was lost is linked, not made again.
func TestTodoEngineLostCreate(t *testing.T) {
	t.Parallel()
	e := newTodoEnv(t, func(h http.Handler) http.Handler { d, _ := dropFirst(h, isPost); return d })
	e.createTask(crm.Task{Summary: "Only once"})
	s := e.pass(pim.NewestWins)
	if s.Linked != 1 || len(e.todoTasks()) != 1 {
		t.Errorf("stats %+v, %d To Do tasks", s, len(e.todoTasks()))
	}
	if s := e.pass(pim.NewestWins); s != (engine.Stats{}) {
		t.Errorf("next pass did %+v", s)
	}
}

// A create whose answer was lost, and whose search for its stamp failed
// too, fails the pass; the next pass finds the task in the delta and
// links it: one task, never two.
func TestTodoEngineLostCreateAcrossPasses(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	e := newTodoEnv(t, func(h http.Handler) http.Handler {
		d, _ := dropFirst(h, isPost)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tasks") {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			d.ServeHTTP(w, r)
		})
	})
	e.pass(pim.NewestWins)
	task := e.createTask(crm.Task{Summary: "Only once"})
	down.Store(true)
	if _, err := e.run(pim.NewestWins); err == nil {
		t.Fatal("the pass succeeded without knowing whether its create was made")
	}
	down.Store(false)
	s := e.pass(pim.NewestWins)
	todo := e.todoTasks()
	if len(todo) != 1 || stampOf(todo["Only once"]) != pim.StampUID(fmt.Sprintf("task-%d", task.ID)) || s.CreatedRemote != 0 || len(e.crmTasks()) != 1 {
		t.Errorf("stats %+v, To Do %v", s, todo)
	}
}

// A task changed in To Do between the engine's read and its write: the
// write is refused (412), the engine reads it again and merges, and both
// changes are kept.
func TestTodoEnginePrecondition(t *testing.T) {
	t.Parallel()
	var g *graphfake.Graph
	var id string
	raced := false
	e := newTodoEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && !raced && id != "" {
				raced = true
				g.UpdateTask(id, map[string]any{"importance": "high"}) // the user, meanwhile
			}
			h.ServeHTTP(w, r)
		})
	})
	g = e.g
	task := e.createTask(crm.Task{Summary: "Draft"})
	e.pass(pim.NewestWins)
	id = e.g.Tasks(e.list)[0]
	e.updateTask(task.ID, func(t *crm.Task) { t.Summary = "Draft v2" })
	s := e.pass(pim.NewestWins)
	if !raced || s.ToRemote != 1 || s.ToCRM != 1 {
		t.Errorf("raced %v, stats %+v", raced, s)
	}
	got, _ := e.g.Task(id)
	if got["title"] != "Draft v2" || got["importance"] != "high" || e.crmTasks()["Draft v2"].Priority != 1 {
		t.Errorf("To Do %v, CRM %+v", got, e.crmTasks())
	}
}
