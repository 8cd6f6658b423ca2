package googlepim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// TaskLists lists the user's task lists; the first (Google's default
// list) is Default.
func TaskLists(ctx context.Context, c *cloudapi.Client) ([]Collection, error) {
	var out []Collection
	type listPage struct {
		pageEnd
		Items []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"items"`
	}
	at := func(page string) string {
		return "/tasks/v1/users/@me/lists" + query("maxResults", "100", "pageToken", page)
	}
	err := eachPage(ctx, c, at, func(ans *listPage) error {
		for _, it := range ans.Items {
			out = append(out, Collection{ID: it.ID, Name: it.Title, Default: len(out) == 0})
		}
		return nil
	})
	return out, err
}

// Tasks is one Google task list as a pim.Remote. Google keeps no sync
// token for tasks (§12): the cursor is the latest modification time seen,
// and each round asks for what changed since (a little before, for
// tasks stored in the same instant: those seen again have their ETag and
// are not read twice), deleted and hidden ones included.
//
// Fields are those of a CalDAV VTODO (summary, description, due, status,
// completed); Google keeps only a due date, and two statuses: in_process
// is written as needsAction and cancelled as completed. The CRM stamp is
// the last line of the notes, as Google has no other place for it.
type Tasks struct {
	c    *cloudapi.Client
	list string

	listed listed[gtask]

	stamps stamps
}

// NewTasks returns the task list listID (from TaskLists). It sends
// nothing.
func NewTasks(c *cloudapi.Client, listID string) *Tasks {
	return &Tasks{c: c, list: listID}
}

// pageSize is the most tasks.list gives at once (§12).
const pageSize = 100

// skew is how far before the latest modification seen a round starts.
const skew = 2 * time.Second

type gtask struct {
	ID        string `json:"id"`
	Etag      string `json:"etag"`
	Title     string `json:"title"`
	Notes     string `json:"notes"`
	Status    string `json:"status"`
	Due       string `json:"due"`
	Completed string `json:"completed"`
	Updated   string `json:"updated"`
	Deleted   bool   `json:"deleted"`
	Hidden    bool   `json:"hidden"`
}

func (r *Tasks) base() string { return "/tasks/v1/lists/" + url.PathEscape(r.list) + "/tasks" }

// tokenPrefix marks crmsync's cursor for a task list.
const tokenPrefix = "updated:"

// Changes lists the task list (token ""), or what changed since the time
// token names.
func (r *Tasks) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	out := pim.RemoteChanges{Full: token == ""}
	var mark time.Time
	var since string
	if token != "" {
		s, ok := strings.CutPrefix(token, tokenPrefix)
		if !ok {
			return pim.RemoteChanges{}, &connerr.Error{Kind: connerr.CursorInvalid, Server: r.c.Server,
				Message: "crmsync reads this task list again, without duplicates."}
		}
		if s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return pim.RemoteChanges{}, &connerr.Error{Kind: connerr.CursorInvalid, Server: r.c.Server,
					Message: "crmsync reads this task list again, without duplicates."}
			}
			mark = t
			since = t.Add(-skew).UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	incremental := "false"
	if token != "" {
		incremental = "true"
	}
	if out.Full {
		r.listed.forget("")
	}
	type taskPage struct {
		pageEnd
		Items []gtask `json:"items"`
	}
	at := func(page string) string {
		return r.base() + query("maxResults", fmt.Sprint(pageSize), "updatedMin", since, "showDeleted", incremental,
			"showHidden", "true", "showCompleted", "true", "pageToken", page)
	}
	err := eachPage(ctx, r.c, at, func(ans *taskPage) error {
		for _, t := range ans.Items {
			if t.ID == "" {
				continue
			}
			if u, err := time.Parse(time.RFC3339Nano, t.Updated); err == nil && u.After(mark) {
				mark = u
			}
			if t.Deleted {
				out.Deleted = append(out.Deleted, t.ID)
				r.listed.forget(t.ID)
				continue
			}
			r.listed.put(t.ID, t)
			uid, _ := splitNotes(t.Notes)
			r.stamps.note(uid, t.ID)
			out.Items = append(out.Items, pim.RemoteRef{Href: t.ID, ETag: t.Etag})
		}
		return nil
	})
	if err != nil {
		return pim.RemoteChanges{}, err
	}
	out.Token = tokenPrefix
	if !mark.IsZero() {
		out.Token += mark.UTC().Format(time.RFC3339Nano)
	}
	return out, nil
}

// splitNotes returns the stamp on the notes' last line, and the notes
// without it.
func splitNotes(notes string) (uid, rest string) {
	i := strings.LastIndexByte(notes, '\n')
	last := notes[i+1:]
	if _, ok := pim.ParseStamp(last); !ok {
		return "", notes
	}
	if i < 0 {
		return strings.TrimSpace(last), ""
	}
	return strings.TrimSpace(last), strings.TrimRight(notes[:i], "\n")
}

// Fetch returns tasks from the last listing, reading the others.
func (r *Tasks) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	read := func(ctx context.Context, href string) (gtask, bool, error) {
		var t gtask
		err := r.c.GetJSON(ctx, r.base()+"/"+url.PathEscape(href), nil, maxSmall, &t)
		if cloudapi.Status(err) == http.StatusNotFound {
			return t, false, nil
		}
		return t, err == nil && !t.Deleted, err
	}
	return r.listed.fetch(ctx, hrefs, read, func(t gtask) (pim.RemoteItem, error) { return decodeTask(t), nil })
}

func decodeTask(t gtask) pim.RemoteItem {
	uid, notes := splitNotes(t.Notes)
	f := pim.Fields{
		pim.FieldSummary:     pim.Str(t.Title),
		pim.FieldDescription: pim.Str(notes),
		pim.FieldStatus:      pim.Str(string(crm.TaskNeedsAction)),
	}
	if len(t.Due) >= 10 {
		f[pim.FieldDue] = pim.Str(t.Due[:10])
	}
	if t.Status == "completed" {
		f[pim.FieldStatus] = pim.Str(string(crm.TaskCompleted))
		if c, err := time.Parse(time.RFC3339Nano, t.Completed); err == nil {
			f[pim.FieldCompleted] = pim.Str(c.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"))
		}
	}
	raw, _ := json.Marshal(t)
	it := pim.RemoteItem{Href: t.ID, ETag: t.Etag, UID: uid, Type: pim.RecordTask, Fields: f.Normalize(), Raw: raw}
	it.Modified, _ = time.Parse(time.RFC3339Nano, t.Updated)
	return it
}

// body is the task as f wants it.
func taskBody(uid string, f pim.Fields) (map[string]any, error) {
	f = f.Normalize()
	notes := f[pim.FieldDescription].Str
	if uid != "" {
		if notes != "" {
			notes += "\n\n"
		}
		notes += uid
	}
	b := map[string]any{"title": f[pim.FieldSummary].Str, "notes": notes, "status": "needsAction", "due": nil, "completed": nil}
	if d := crm.When(f[pim.FieldDue].Str); d != "" {
		t, err := d.Time(nil)
		if err != nil {
			return nil, fmt.Errorf("%w: due: %v", pim.ErrRefused, err)
		}
		if !d.IsDate() && d.Zone() != "" {
			t = t.In(location(d.Zone()))
		}
		b["due"] = t.Format("2006-01-02") + "T00:00:00.000Z"
	}
	switch crm.TaskStatus(f[pim.FieldStatus].Str) {
	case crm.TaskCompleted, crm.TaskCancelled:
		b["status"] = "completed"
		if c := crm.When(f[pim.FieldCompleted].Str); c != "" {
			if t, err := c.Time(nil); err == nil {
				b["completed"] = t.UTC().Format(time.RFC3339)
			}
		}
	}
	return b, nil
}

// Create inserts a task stamped with uid. A task with that stamp seen in a
// listing is ErrExists with its href; the request is sent once (see once):
// Google has no idempotency key for tasks.
func (r *Tasks) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	if it, err := r.stamps.exists(uid); err != nil {
		return it, err
	}
	b, err := taskBody(uid, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	var t gtask
	if err := call(ctx, once(r.c), http.MethodPost, r.base(), nil, b, &t); err != nil {
		return pim.RemoteItem{}, refused(err)
	}
	r.stamps.note(uid, t.ID)
	return decodeTask(t), nil
}

// Update patches the task, If-Match its etag.
func (r *Tasks) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	b, err := taskBody(prev.UID, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	var t gtask
	err = call(ctx, r.c, http.MethodPatch, r.base()+"/"+url.PathEscape(prev.Href), http.Header{"If-Match": {prev.ETag}}, b, &t)
	switch cloudapi.Status(err) {
	case 0:
		if err != nil {
			return pim.RemoteItem{}, err
		}
	case http.StatusPreconditionFailed:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case http.StatusNotFound, http.StatusGone:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrGone, err)
	default:
		return pim.RemoteItem{}, refused(err)
	}
	return decodeTask(t), nil
}

var _ pim.Remote = (*Tasks)(nil)
