package graphpim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// todoClient is a Graph client on h (the fake, or a wrapper of it) over
// HTTP.
func todoClient(t *testing.T, h http.Handler) *cloudapi.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tokens := func(context.Context, string) (string, error) { return "tok", nil }
	c, err := graph.New(graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func todoFetchAll(t *testing.T, r *graphpim.Tasks, ch pim.RemoteChanges) map[string]pim.RemoteItem {
	t.Helper()
	var hrefs []string
	for _, ref := range ch.Items {
		hrefs = append(hrefs, ref.Href)
	}
	items, bad, missing, err := r.Fetch(context.Background(), hrefs)
	if err != nil || len(bad) > 0 || len(missing) > 0 {
		t.Fatalf("fetch: %v, bad %v, missing %v", err, bad, missing)
	}
	out := map[string]pim.RemoteItem{}
	for _, it := range items {
		out[it.Href] = it
	}
	return out
}

func str(it pim.RemoteItem, field string) string { return it.Fields[field].String() }

func TestTaskLists(t *testing.T) {
	g := graphfake.NewGraph()
	clients := g.AddList("Clients")
	lists, err := graphpim.TaskLists(context.Background(), todoClient(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 3 {
		t.Fatalf("lists %+v", lists)
	}
	for _, l := range lists {
		if l.Default != (l.ID == g.DefaultTodoList()) || (l.ID == clients) != (l.Name == "Clients") {
			t.Errorf("list %+v", l)
		}
	}
}

// A first sync reads every task from the delta pages (several, with a
// replayed entry) and maps them as the CalDAV side maps a VTODO; Fetch
// then asks Graph for none of them again.
func TestTodoFirstSync(t *testing.T) {
	g := graphfake.NewGraph()
	g.DuplicateTodoInRound(true)
	list := g.DefaultTodoList()
	a := g.AddTask(list, map[string]any{"title": "Call  Acme", "importance": "high", "categories": []string{"Customer", "Base"},
		"dueDateTime":  map[string]any{"dateTime": "2026-11-21T00:00:00.0000000", "timeZone": "UTC"},
		"body":         map[string]any{"contentType": "html", "content": "<p>Ask about <b>renewal</b></p>"},
		"isReminderOn": true, "reminderDateTime": map[string]any{"dateTime": "2026-11-20T08:00:00.0000000", "timeZone": "UTC"}})
	b := g.AddTask(list, map[string]any{"title": "Send quote", "status": "completed", "importance": "low",
		"completedDateTime": map[string]any{"dateTime": "2026-11-02T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"dueDateTime":       map[string]any{"dateTime": "2026-11-03T17:30:00.0000000", "timeZone": "Pacific Standard Time"}})
	c := g.AddTask(list, map[string]any{"title": "Waiting", "status": "waitingOnOthers",
		"linkedResources": []any{map[string]any{"applicationName": "crmsync", "displayName": "CRM record", "externalId": pim.StampUID("task-7")}}})
	for i := range 4 {
		g.AddTask(list, map[string]any{"title": "filler " + string(rune('a'+i))})
	}
	r := graphpim.NewTasks(todoClient(t, g), list)
	r.PageSize = 2
	ch, err := r.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || len(ch.Items) != 7 || len(ch.Deleted) != 0 || ch.Token == "" {
		t.Fatalf("changes: full %v, %d items, %d deleted, token %q", ch.Full, len(ch.Items), len(ch.Deleted), ch.Token)
	}
	before := g.Stats().Requests
	items := todoFetchAll(t, r, ch)
	if n := g.Stats().Requests - before; n != 0 {
		t.Errorf("Fetch after a first round sent %d requests, want 0", n)
	}
	want := map[string]map[string]string{
		a: {"summary": "Call Acme", "description": "Ask about renewal", "due": "2026-11-21", "priority": "1",
			"status": "needs_action", "categories": "Base, Customer"},
		b: {"summary": "Send quote", "status": "completed", "priority": "9", "completed": "2026-11-02T09:00:00Z",
			"due": "2026-11-03T17:30:00[America/Los_Angeles]"},
		c: {"summary": "Waiting", "status": "in_process", "priority": ""},
	}
	for id, fields := range want {
		it := items[id]
		for f, v := range fields {
			if got := str(it, f); got != v {
				t.Errorf("%s %s = %q, want %q", it.Fields[pim.FieldSummary].Str, f, got, v)
			}
		}
		if it.ETag == "" || it.Type != pim.RecordTask || it.Modified.IsZero() {
			t.Errorf("item %+v", it)
		}
	}
	if items[c].UID != pim.StampUID("task-7") || items[a].UID != "" {
		t.Errorf("stamps: %q, %q", items[c].UID, items[a].UID)
	}
	// Handed out once: a second Fetch reads it from Graph.
	before = g.Stats().Requests
	if got, _, _, err := r.Fetch(context.Background(), []string{a}); err != nil || len(got) != 1 || str(got[0], "summary") != "Call Acme" {
		t.Fatalf("refetch: %v %+v", err, got)
	}
	if g.Stats().Requests-before != 1 {
		t.Errorf("second fetch sent %d requests", g.Stats().Requests-before)
	}
}

// An incremental round lists changed tasks (whose delta entries carry
// only the changed properties) and deleted ones; Fetch reads the changed
// ones whole.
func TestTodoDeltaChangesAndDeletes(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.AddList("Clients")
	keep := g.AddTask(list, map[string]any{"title": "Keep"})
	change := g.AddTask(list, map[string]any{"title": "Change me", "importance": "high", "categories": []string{"A"}})
	gone := g.AddTask(list, map[string]any{"title": "Delete me"})
	r := graphpim.NewTasks(todoClient(t, g), list)
	ch, err := r.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	g.UpdateTask(change, map[string]any{"status": "inProgress"})
	g.DeleteTask(gone)
	added := g.AddTask(list, map[string]any{"title": "New one"})
	ch2, err := r.Changes(context.Background(), ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	if ch2.Full || len(ch2.Items) != 2 || len(ch2.Deleted) != 1 || ch2.Deleted[0] != gone || ch2.Token == ch.Token {
		t.Fatalf("changes %+v", ch2)
	}
	items := todoFetchAll(t, r, ch2)
	if it := items[change]; str(it, "summary") != "Change me" || str(it, "status") != "in_process" || str(it, "priority") != "1" || str(it, "categories") != "A" {
		t.Errorf("changed task read as %v", it.Fields)
	}
	if str(items[added], "summary") != "New one" {
		t.Errorf("added task %v", items[added].Fields)
	}
	if _, ok := items[keep]; ok {
		t.Error("an unchanged task is listed")
	}
	// Nothing since: an empty round, the same list.
	ch3, err := r.Changes(context.Background(), ch2.Token)
	if err != nil || len(ch3.Items)+len(ch3.Deleted) != 0 {
		t.Fatalf("quiet round: %v %+v", err, ch3)
	}
	// A task gone by the time it is fetched is missing.
	g.DeleteTask(added)
	if _, _, missing, err := r.Fetch(context.Background(), []string{added}); err != nil || len(missing) != 1 {
		t.Errorf("fetch of a deleted task: %v %v", err, missing)
	}
	// The list itself deleted: Gone.
	g.DeleteList(list)
	for _, tok := range []string{ch3.Token, ""} {
		if _, err := r.Changes(context.Background(), tok); !errors.Is(err, connerr.ErrGone) {
			t.Errorf("changes of a deleted list: %v", err)
		}
	}
}

// A token Graph evicted is pim.ErrTokenInvalid, with or without a
// Location (§5).
func TestTodoExpiredToken(t *testing.T) {
	for _, loc := range []bool{false, true} {
		g := graphfake.NewGraph()
		list := g.DefaultTodoList()
		g.AddTask(list, map[string]any{"title": "One"})
		r := graphpim.NewTasks(todoClient(t, g), list)
		ch, err := r.Changes(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		g.ExpireTodoTokens(loc)
		if _, err := r.Changes(context.Background(), ch.Token); !errors.Is(err, pim.ErrTokenInvalid) {
			t.Errorf("location %v: %v, want ErrTokenInvalid", loc, err)
		}
	}
}

// Create stamps the task, and writes what To Do can hold; the task reads
// back as written. A second create of the same uid (another Tasks, so the
// list is searched) is ErrExists with the task's href.
func TestTodoCreateRoundTrip(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	c := todoClient(t, g)
	r := graphpim.NewTasks(c, list)
	uid := pim.StampUID("task-42")
	f := pim.Fields{
		pim.FieldSummary: pim.Str("Renewal"), pim.FieldDescription: pim.Str("line 1\nline 2"),
		pim.FieldDue: pim.Str("2026-12-01T15:00:00[Europe/Paris]"), pim.FieldStatus: pim.Str("completed"),
		pim.FieldCompleted: pim.Str("2026-11-30T10:00:00Z"), pim.FieldPriority: pim.Str("2"),
		pim.FieldCategories: pim.SetOf("Customer", "Base"),
	}
	it, err := r.Create(context.Background(), uid, f)
	if err != nil {
		t.Fatal(err)
	}
	if it.Href == "" || it.ETag == "" || it.UID != uid {
		t.Fatalf("created %+v", it)
	}
	task, _ := g.Task(it.Href)
	links, _ := task["linkedResources"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["externalId"] != uid || task["importance"] != "high" {
		t.Errorf("stored %v", task)
	}
	got, _, _, err := graphpim.NewTasks(c, list).Fetch(context.Background(), []string{it.Href})
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	want := f.Clone()
	want[pim.FieldPriority] = pim.Str("1") // high
	if !got[0].Fields.Equal(want) || got[0].UID != uid {
		t.Errorf("read back %v (uid %q), want %v", got[0].Fields, got[0].UID, want)
	}
	again, err := graphpim.NewTasks(c, list).Create(context.Background(), uid, f)
	if !errors.Is(err, pim.ErrExists) || again.Href != it.Href {
		t.Errorf("second create: %v, %+v", err, again)
	}
	if n := len(g.Tasks(list)); n != 1 {
		t.Errorf("%d tasks", n)
	}
	// A value To Do cannot hold is refused, naming the field.
	if _, err := r.Create(context.Background(), pim.StampUID("task-43"), pim.Fields{pim.FieldDue: pim.Str("soon")}); !errors.Is(err, pim.ErrRefused) || !strings.Contains(err.Error(), "due") {
		t.Errorf("bad due: %v", err)
	}
}

// dropFirst serves h, but drops the connection after h handled the first
// request match accepts: the change is made, its answer lost.
func dropFirst(h http.Handler, match func(*http.Request) bool) (http.Handler, *atomic.Int32) {
	var dropped atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) && dropped.CompareAndSwap(0, 1) {
			h.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		h.ServeHTTP(w, r)
	}), &dropped
}

func isPost(r *http.Request) bool { return r.Method == http.MethodPost }

// A create whose answer is lost is not made twice: the next try finds
// the stamp and says ErrExists with the task's href.
func TestTodoLostCreateAnswer(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	h, dropped := dropFirst(g, isPost)
	r := graphpim.NewTasks(todoClient(t, h), list)
	uid := pim.StampUID("task-1")
	it, err := r.Create(context.Background(), uid, pim.Fields{pim.FieldSummary: pim.Str("Once")})
	if dropped.Load() != 1 {
		t.Fatal("no answer was dropped")
	}
	if !errors.Is(err, pim.ErrExists) || it.Href == "" {
		t.Fatalf("create after a lost answer: %v %+v", err, it)
	}
	if ids := g.Tasks(list); len(ids) != 1 || ids[0] != it.Href {
		t.Errorf("tasks %v, want only %s", ids, it.Href)
	}
}

// Update sends only what changed, with If-Match: a task changed meanwhile
// is ErrPrecondition, a deleted one ErrGone; what the CRM does not map
// (reminder, a waitingOnOthers status it reads as in_process) is kept.
func TestTodoUpdate(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	id := g.AddTask(list, map[string]any{"title": "Follow up", "status": "waitingOnOthers", "isReminderOn": true,
		"reminderDateTime": map[string]any{"dateTime": "2026-11-20T08:00:00.0000000", "timeZone": "UTC"}})
	r := graphpim.NewTasks(todoClient(t, g), list)
	ch, err := r.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	prev := todoFetchAll(t, r, ch)[id]
	f := prev.Fields.Clone()
	f[pim.FieldSummary] = pim.Str("Follow up with Acme")
	f[pim.FieldDue] = pim.Str("2026-11-25")
	written, err := r.Update(context.Background(), prev, f)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := g.Task(id)
	if task["title"] != "Follow up with Acme" || task["status"] != "waitingOnOthers" || task["isReminderOn"] != true || task["reminderDateTime"] == nil {
		t.Errorf("stored %v", task)
	}
	if written.ETag == prev.ETag || task["@odata.etag"] != written.ETag || str(written, "due") != "2026-11-25" {
		t.Errorf("written %+v", written)
	}
	// The same update again from the old version: 412.
	if _, err := r.Update(context.Background(), prev, pim.Fields{pim.FieldSummary: pim.Str("stale")}); !errors.Is(err, pim.ErrPrecondition) {
		t.Errorf("stale update: %v", err)
	}
	// Reopening a completed task clears its completion.
	f2 := written.Fields.Clone()
	f2[pim.FieldStatus] = pim.Str("completed")
	f2[pim.FieldCompleted] = pim.Str("2026-11-26T12:00:00Z")
	if written, err = r.Update(context.Background(), written, f2); err != nil {
		t.Fatal(err)
	}
	f2[pim.FieldStatus], f2[pim.FieldCompleted] = pim.Str("needs_action"), pim.Value{}
	if written, err = r.Update(context.Background(), written, f2); err != nil {
		t.Fatal(err)
	}
	if task, _ := g.Task(id); task["status"] != "notStarted" || task["completedDateTime"] != nil {
		t.Errorf("reopened %v", task)
	}
	g.DeleteTask(id)
	if _, err := r.Update(context.Background(), written, pim.Fields{pim.FieldSummary: pim.Str("late")}); !errors.Is(err, pim.ErrGone) {
		t.Errorf("update of a deleted task: %v", err)
	}
}

// A 429 in the middle of a round is waited out (Retry-After) and the
// round goes on; nothing is sent before the wait is over.
func TestTodoThrottled(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	for _, title := range []string{"a", "b", "c"} {
		g.AddTask(list, map[string]any{"title": title})
	}
	r := graphpim.NewTasks(todoClient(t, g), list)
	r.PageSize = 1
	g.ThrottleAfter(1, time.Second)
	start := time.Now()
	ch, err := r.Changes(context.Background(), "")
	if err != nil || len(ch.Items) != 3 {
		t.Fatalf("changes: %v %+v", err, ch)
	}
	if time.Since(start) < time.Second || g.Stats().Early != 0 {
		t.Errorf("took %v, %d requests during the wait", time.Since(start), g.Stats().Early)
	}
	// A create refused with 429 is sent again once allowed, without a
	// search: Graph did not look at it.
	g.ThrottleAfter(0, time.Second)
	before := g.Stats().Requests
	if _, err := r.Create(context.Background(), pim.StampUID("task-9"), pim.Fields{pim.FieldSummary: pim.Str("d")}); err != nil {
		t.Fatal(err)
	}
	if n := g.Stats().Requests - before; n != 2 || g.Stats().Early != 0 || len(g.Tasks(list)) != 4 {
		t.Errorf("%d requests (%d early), %d tasks", n, g.Stats().Early, len(g.Tasks(list)))
	}
}

// After a full round, a create needs no search of the list (the round
// read every stamp); without one, a single listing is made and kept.
func TestTodoCreateSearchesOnce(t *testing.T) {
	g := graphfake.NewGraph()
	list := g.DefaultTodoList()
	c := todoClient(t, g)
	sent := func(fn func()) int {
		before := g.Stats().Requests
		fn()
		return g.Stats().Requests - before
	}
	create := func(r *graphpim.Tasks, id string) {
		if _, err := r.Create(context.Background(), pim.StampUID(id), pim.Fields{pim.FieldSummary: pim.Str(id)}); err != nil {
			t.Fatal(err)
		}
	}
	cold := graphpim.NewTasks(c, list)
	if n := sent(func() { create(cold, "task-1"); create(cold, "task-2") }); n != 3 {
		t.Errorf("two creates without a round sent %d requests, want 3 (one search)", n)
	}
	warm := graphpim.NewTasks(c, list)
	if _, err := warm.Changes(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if n := sent(func() { create(warm, "task-3") }); n != 1 {
		t.Errorf("a create after a full round sent %d requests, want 1", n)
	}
	if _, err := warm.Create(context.Background(), pim.StampUID("task-1"), nil); !errors.Is(err, pim.ErrExists) {
		t.Errorf("create of a stamp the round read: %v", err)
	}
}
