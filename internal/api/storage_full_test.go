package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// A full disk answers writes with 507 and words an operator can act on,
// and reads keep working (issue 10 point 7).
func TestStorageFullIs507(t *testing.T) {
	b := setup(t)
	co := b.do("POST", "/api/v1/companies", b.token, map[string]any{"name": "Before"})
	if co.Status != 201 {
		t.Fatalf("create: %d %s", co.Status, co.Raw)
	}
	if err := storetest.FillSQLite(t, b.st.(*sqlstore.DB)); err == nil {
		t.Fatal("the database did not fill")
	}
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/companies", map[string]any{"name": "After"}},
		{"PATCH", fmt.Sprintf("/api/v1/companies/%d", co.ID()), map[string]any{"name": strings.Repeat("Renamed ", 20)}},
	} {
		r := b.do(w.method, w.path, b.token, w.body)
		code, _, msg := r.Err()
		if r.Status != 507 || code != "insufficient_storage" || !strings.Contains(msg, "disk is full") || !strings.Contains(msg, "free space") || !strings.Contains(msg, "reads keep working") {
			t.Errorf("%s %s on a full disk: %d %s", w.method, w.path, r.Status, r.Raw)
		}
	}
	if !strings.Contains(b.logs.String(), "disk is full") {
		t.Error("the operator's log does not say the disk is full")
	}
	if r := b.do("GET", fmt.Sprintf("/api/v1/companies/%d", co.ID()), b.token, nil); r.Status != 200 || r.Str("name") != "Before" {
		t.Errorf("read on a full disk: %d %s", r.Status, r.Raw)
	}
	if r := b.do("GET", "/api/v1/companies", b.token, nil); r.Status != 200 {
		t.Errorf("list on a full disk: %d %s", r.Status, r.Raw)
	}
}
