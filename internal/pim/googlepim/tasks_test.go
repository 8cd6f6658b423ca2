package googlepim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/googlepim"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

func TestTasks(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	lists, err := googlepim.TaskLists(ctx, p.c)
	if err != nil || len(lists) != 1 || !lists[0].Default || lists[0].ID != googlefake.DefaultTaskList {
		t.Fatalf("lists: %v %v", lists, err)
	}
	for i := range 120 {
		p.api.PutTask("", map[string]any{"title": fmt.Sprintf("Task %03d", i)})
	}
	done := p.api.PutTask("", map[string]any{"title": "Filed", "status": "completed", "hidden": true, "due": "2024-03-05T15:00:00Z"})
	r := googlepim.NewTasks(p.c, lists[0].ID)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || len(ch.Items) != 121 || ch.Token == "" {
		t.Fatalf("listing: %d items, token %q", len(ch.Items), ch.Token)
	}
	it := fetchOne(t, r, done)
	if it.Fields[pim.FieldStatus].Str != "completed" || it.Fields[pim.FieldDue].Str != "2024-03-05" || it.Fields[pim.FieldCompleted].Str == "" {
		t.Errorf("completed task read as %v", it.Fields)
	}

	// Nothing changed: what the skew brings back (here everything, made
	// within it) has the ETags the engine holds, so it is not read again.
	ch2, err := r.Changes(ctx, ch.Token)
	if err != nil || ch2.Full || len(ch2.Deleted) != 0 {
		t.Fatalf("no change: %+v %v", ch2, err)
	}
	etags := map[string]string{}
	for _, x := range ch.Items {
		etags[x.Href] = x.ETag
	}
	for _, x := range ch2.Items {
		if etags[x.Href] != x.ETag {
			t.Fatalf("unchanged task %s with a new ETag", x.Href)
		}
	}
	p.api.PutTask(done, map[string]any{"title": "Filed again"})
	first := hrefs(ch.Items)[0]
	p.api.DeleteTask(first)
	ch3, err := r.Changes(ctx, ch2.Token)
	if err != nil || !slices.Contains(hrefs(ch3.Items), done) || !slices.Equal(ch3.Deleted, []string{first}) {
		t.Fatalf("changes: %+v %v", ch3, err)
	}

	// Round trip, precondition, deleted.
	uid := pim.StampUID("task-3")
	f := pim.Fields{pim.FieldSummary: pim.Str("Call Ada"), pim.FieldDescription: pim.Str("About the engine"),
		pim.FieldDue: pim.Str("2024-03-05"), pim.FieldStatus: pim.Str("needs_action")}
	c, err := r.Create(ctx, uid, f)
	if err != nil || !c.Fields.Equal(f) || c.UID != uid {
		t.Fatalf("create: %v %v", c, err)
	}
	f[pim.FieldStatus] = pim.Str("completed")
	f[pim.FieldCompleted] = pim.Str("2024-03-04T10:00:00Z")
	u, err := r.Update(ctx, c, f)
	if err != nil || !u.Fields.Equal(f) || u.ETag == c.ETag {
		t.Fatalf("update: %v %v", u, err)
	}
	if _, err := r.Update(ctx, c, f); !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("stale etag: %v", err)
	}
	p.api.DeleteTask(u.Href)
	if _, err := r.Update(ctx, u, f); !errors.Is(err, pim.ErrGone) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestTasksLostCreate(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	r := googlepim.NewTasks(p.c, googlefake.DefaultTaskList)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	uid := pim.StampUID("task-8")
	p.dropOnce(func(r *http.Request) bool { return r.Method == http.MethodPost })
	if _, err := r.Create(ctx, uid, pim.Fields{pim.FieldSummary: pim.Str("Once")}); err == nil {
		t.Fatal("lost answer: no error")
	}
	if n := len(p.api.Tasks()); n != 1 {
		t.Fatalf("%d tasks", n)
	}
	ch, err = r.Changes(ctx, ch.Token)
	if err != nil || len(ch.Items) != 1 {
		t.Fatalf("%+v %v", ch, err)
	}
	got := fetchOne(t, r, ch.Items[0].Href)
	if got.UID != uid || got.Fields[pim.FieldDescription].Str != "" {
		t.Fatalf("stamp: %v", got)
	}
	if w, err := r.Create(ctx, uid, pim.Fields{pim.FieldSummary: pim.Str("Once")}); !errors.Is(err, pim.ErrExists) || w.Href != got.Href {
		t.Fatalf("retried: %v %v", w, err)
	}
}
