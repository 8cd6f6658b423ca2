package graphfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// call sends one request to g and returns the status and decoded body.
func call(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/v1.0"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestContactETagsAndExtendedProperties(t *testing.T) {
	g := NewGraph()
	srv := httptest.NewServer(g)
	defer srv.Close()
	const prop = "String {b6a4f8d2-7c31-4e0b-9f5a-3d2e1c0b9a87} Name Crm"
	status, c := call(t, srv, "POST", "/me/contacts", `{"givenName":"Ann","singleValueExtendedProperties":[{"id":"`+prop+`","value":"crm-1"}]}`)
	if status != 201 || c["displayName"] != "Ann" {
		t.Fatalf("create: %d %v", status, c)
	}
	id, etag := c["id"].(string), c["@odata.etag"].(string)
	if status, _ := call(t, srv, "POST", "/me/contacts", `{"nope":1}`); status != 400 {
		t.Errorf("unknown property: %d", status)
	}
	status, c = call(t, srv, "PATCH", "/me/contacts/"+id, `{"jobTitle":"CTO"}`, "If-Match", etag)
	if status != 200 || c["@odata.etag"] == etag || c["jobTitle"] != "CTO" {
		t.Fatalf("patch: %d %v", status, c)
	}
	if status, c := call(t, srv, "PATCH", "/me/contacts/"+id, `{"jobTitle":"CEO"}`, "If-Match", etag); status != 412 || c["error"].(map[string]any)["code"] != "resourceModified" {
		t.Errorf("stale If-Match: %d %v", status, c)
	}
	filter := "singleValueExtendedProperties/Any(ep:%20ep/id%20eq%20'" + strings.ReplaceAll(prop, " ", "%20") + "'%20and%20ep/value%20eq%20'CRM-1')"
	if _, c := call(t, srv, "GET", "/me/contacts?$filter="+filter, ""); len(c["value"].([]any)) != 1 {
		t.Errorf("lookup by extended property: %v", c)
	}
	expand := "singleValueExtendedProperties($filter=id%20eq%20'" + strings.ReplaceAll(prop, " ", "%20") + "')"
	_, c = call(t, srv, "GET", "/me/contacts/"+id+"?$expand="+expand, "")
	eps, _ := c["singleValueExtendedProperties"].([]any)
	if len(eps) != 1 || eps[0].(map[string]any)["value"] != "crm-1" {
		t.Errorf("expand: %v", c["singleValueExtendedProperties"])
	}
	if _, c := call(t, srv, "GET", "/me/contacts/"+id, ""); c["singleValueExtendedProperties"] != nil {
		t.Errorf("extended properties without $expand: %v", c)
	}
}

func TestMasterCategories(t *testing.T) {
	g := NewGraph()
	srv := httptest.NewServer(g)
	defer srv.Close()
	status, c := call(t, srv, "POST", "/me/outlook/masterCategories", `{"displayName":"Clients","color":"preset9"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, c)
	}
	id := c["id"].(string)
	for body, want := range map[string]int{
		`{"displayName":"clients","color":"preset1"}`: 409, // unique without case
		`{"displayName":"Other","color":"preset25"}`:  400,
		`{"displayName":"Other","color":"red"}`:       400,
	} {
		if status, _ := call(t, srv, "POST", "/me/outlook/masterCategories", body); status != want {
			t.Errorf("create %s: %d, want %d", body, status, want)
		}
	}
	if status, _ := call(t, srv, "PATCH", "/me/outlook/masterCategories/"+id, `{"displayName":"Customers"}`); status != 400 {
		t.Errorf("rename: %d, want 400 (immutable)", status)
	}
	if status, c := call(t, srv, "PATCH", "/me/outlook/masterCategories/"+id, `{"color":"none"}`); status != 200 || c["color"] != "none" {
		t.Errorf("recolor: %d %v", status, c)
	}
	if status, _ := call(t, srv, "DELETE", "/me/outlook/masterCategories/"+id, ""); status != 204 || len(g.Categories()) != 0 {
		t.Errorf("delete: %d, %v", status, g.Categories())
	}
}

func TestBatch(t *testing.T) {
	g := NewGraph()
	srv := httptest.NewServer(g)
	defer srv.Close()
	id := g.AddContact("", map[string]any{"givenName": "Ann"})
	body := `{"requests":[{"id":"1","method":"GET","url":"/me/contacts/` + id + `"},{"id":"2","method":"GET","url":"/me/contacts/nope"},` +
		`{"id":"3","method":"GET","url":"/me/contacts/` + id + `","dependsOn":["2"]}]}`
	status, c := call(t, srv, "POST", "/$batch", body)
	rs, _ := c["responses"].([]any)
	if status != 200 || len(rs) != 3 {
		t.Fatalf("batch: %d %v", status, c)
	}
	got := map[string]float64{}
	for _, r := range rs {
		m := r.(map[string]any)
		got[m["id"].(string)] = m["status"].(float64)
	}
	if got["1"] != 200 || got["2"] != 404 || got["3"] != 424 || g.Stats().Requests != 2 {
		t.Errorf("parts %v, %d requests counted", got, g.Stats().Requests)
	}
}
