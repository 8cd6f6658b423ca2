package graphfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// todoCall sends one request to the fake and decodes its JSON answer.
func todoCall(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	u := path
	if !strings.Contains(u, "://") {
		u = srv.URL + "/v1.0/me/todo/" + path
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer t")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// Writes: unknown or read-only properties are refused, If-Match is
// checked, every write gives a new etag, built-in lists stay.
func TestTodoWrites(t *testing.T) {
	g := NewGraph()
	srv := httptest.NewServer(g)
	defer srv.Close()
	list := g.DefaultTodoList()
	status, task := todoCall(t, srv, "POST", "lists/"+list+"/tasks", `{"title":"A","importance":"high",
		"linkedResources":[{"applicationName":"crmsync","displayName":"CRM","externalId":"x-1"}]}`)
	if status != http.StatusCreated || task["status"] != "notStarted" || task["importance"] != "high" {
		t.Fatalf("create: %d %v", status, task)
	}
	id, etag := task["id"].(string), task["@odata.etag"].(string)
	for _, body := range []string{`{"id":"x"}`, `{"colour":"red"}`, `{"status":"done"}`, `{"dueDateTime":{"dateTime":"tomorrow","timeZone":"UTC"}}`} {
		if status, out := todoCall(t, srv, "PATCH", "lists/"+list+"/tasks/"+id, body); status != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d %v", body, status, out)
		}
	}
	status, out := todoCall(t, srv, "PATCH", "lists/"+list+"/tasks/"+id, `{"status":"completed"}`, "If-Match", etag)
	if status != http.StatusOK || out["@odata.etag"] == etag || out["completedDateTime"] == nil {
		t.Fatalf("PATCH: %d %v", status, out)
	}
	if status, out := todoCall(t, srv, "PATCH", "lists/"+list+"/tasks/"+id, `{"title":"B"}`, "If-Match", etag); status != http.StatusPreconditionFailed || errCode(out) != "resourceModified" {
		t.Errorf("stale PATCH: %d %v", status, out)
	}
	if status, _ := todoCall(t, srv, "DELETE", "lists/"+list+"/tasks/"+id, "", "If-Match", etag); status != http.StatusPreconditionFailed {
		t.Errorf("stale DELETE: %d", status)
	}
	if status, out := todoCall(t, srv, "GET", "lists/"+list+"/tasks/"+id+"?$expand=linkedResources", ""); status != http.StatusOK ||
		len(out["linkedResources"].([]any)) != 1 || out["title"] != "A" {
		t.Errorf("GET: %d %v", status, out)
	}
	if status, _ := todoCall(t, srv, "DELETE", "lists/"+list, ""); status != http.StatusBadRequest {
		t.Errorf("deleting the default list: %d", status)
	}
	if status, _ := todoCall(t, srv, "PATCH", "lists/"+list, `{"displayName":"Mine"}`); status != http.StatusBadRequest {
		t.Errorf("renaming the default list: %d", status)
	}
	other := g.AddList("Clients")
	if status, out := todoCall(t, srv, "PATCH", "lists/"+other, `{"displayName":"Customers"}`); status != http.StatusOK || out["displayName"] != "Customers" {
		t.Errorf("renaming a list: %d %v", status, out)
	}
	if status, out := todoCall(t, srv, "GET", "lists/nope/tasks", ""); status != http.StatusNotFound || errCode(out) != "ErrorItemNotFound" {
		t.Errorf("unknown list: %d %v", status, out)
	}
}

// Delta: pages of maxpagesize with a nextLink, a deltaLink at the end; a
// changed task carries only what changed, a deleted one @removed; tokens
// are bound to their list and can be made to die.
func TestTodoDelta(t *testing.T) {
	g := NewGraph()
	srv := httptest.NewServer(g)
	defer srv.Close()
	list, other := g.DefaultTodoList(), g.AddList("Other")
	var ids []string
	for _, title := range []string{"a", "b", "c"} {
		ids = append(ids, g.AddTask(list, map[string]any{"title": title, "categories": []string{"X"}}))
	}
	_, page := todoCall(t, srv, "GET", "lists/"+list+"/tasks/delta", "", "Prefer", "odata.maxpagesize=2")
	next, _ := page["@odata.nextLink"].(string)
	if len(page["value"].([]any)) != 2 || !strings.Contains(next, "$skiptoken=") {
		t.Fatalf("first page %v", page)
	}
	_, page = todoCall(t, srv, "GET", next, "")
	delta, _ := page["@odata.deltaLink"].(string)
	if len(page["value"].([]any)) != 1 || !strings.Contains(delta, "$deltatoken=") {
		t.Fatalf("last page %v", page)
	}
	g.UpdateTask(ids[0], map[string]any{"importance": "low"})
	g.DeleteTask(ids[1])
	_, page = todoCall(t, srv, "GET", delta, "")
	v := page["value"].([]any)
	if len(v) != 2 {
		t.Fatalf("changes %v", v)
	}
	changed, removed := v[0].(map[string]any), v[1].(map[string]any)
	if changed["importance"] != "low" || changed["title"] != nil || changed["@odata.etag"] == nil || removed["id"] != ids[1] || removed["@removed"] == nil {
		t.Errorf("changes %v", v)
	}
	foreign := strings.Replace(delta, list, other, 1)
	if status, out := todoCall(t, srv, "GET", foreign, ""); status != http.StatusBadRequest {
		t.Errorf("another list's token: %d %v", status, out)
	}
	g.ExpireTodoTokens(true)
	req, _ := http.NewRequest("GET", page["@odata.deltaLink"].(string), nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(resp.Header.Get("Location"), "$deltatoken=") {
		t.Errorf("expired token: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The Location starts a new round: every task.
	_, page = todoCall(t, srv, "GET", resp.Header.Get("Location"), "")
	if len(page["value"].([]any)) != 2 || page["@odata.deltaLink"] == nil {
		t.Errorf("round from the Location: %v", page)
	}
}
