package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// TestEndToEndPIMOptionWithoutPassword: on a real Radicale, through the
// API of the real binary, choosing another task list of a calendar
// account asks for no password, and the next sync takes its tasks in.
func TestEndToEndPIMOptionWithoutPassword(t *testing.T) {
	srv := radicale.Start(t, &radicale.Options{Users: 2})
	for i, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			user, pass := srv.User(1 + i)
			cal := srv.CreateCalendar(t, user, "work-"+kind, "Work", "VEVENT")
			first := srv.CreateCalendar(t, user, "todo-"+kind, "To do", "VTODO")
			second := srv.CreateCalendar(t, user, "errands-"+kind, "Errands", "VTODO")
			srv.Put(t, user, second+"milk.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VTODO\r\nUID:milk-"+kind+
				"\r\nDTSTAMP:20261101T090000Z\r\nSUMMARY:Buy milk for the office\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
			e, token := mailDB(t, kind)
			p := e.serve()
			defer p.stop()
			acct := p.mustCall(http.StatusCreated, "POST", "/api/v1/pim-accounts", token, map[string]any{
				"kind": "caldav", "url": srv.URL(), "username": user, "password": pass,
				"options": map[string]any{"collection": cal, "task_collection": first}})
			path := fmt.Sprintf("/api/v1/pim-accounts/%d", int64(acct["id"].(float64)))
			waitPIM(t, p, path, token, func(v map[string]any) bool { return v["state"] == "synced" })
			tasks := func() int {
				out := p.mustCall(http.StatusOK, "GET", "/api/v1/tasks", token, nil)
				d, _ := out["data"].([]any)
				return len(d)
			}
			if n := tasks(); n != 0 {
				t.Fatalf("%d tasks before the change, want 0", n)
			}
			// No password: the choice is checked with the stored one.
			view := p.mustCall(http.StatusOK, "PATCH", path, token, map[string]any{"options": map[string]any{"task_collection": second}})
			if opts, _ := view["options"].(map[string]any); opts["task_collection"] != second {
				t.Fatalf("task list not changed: %v", view)
			}
			p.mustCall(http.StatusAccepted, "POST", path+"/sync", token, nil)
			waitPIM(t, p, path, token, func(map[string]any) bool { return tasks() == 1 })
		})
	}
}
