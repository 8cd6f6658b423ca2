package graphpim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// Microsoft To Do (cloud-apis.md §8.3 [G-TODO]) as a pim.Remote, mapped
// as the CalDAV side maps a VTODO (package caldav's doc):
//
//	summary      title
//	description  body (text; an HTML body is read as its text)
//	due          dueDateTime: midnight is a date ("2026-11-21", what To Do
//	             shows), another time a UTC or zoned crm.When
//	status       status: notStarted needs_action, inProgress in_process,
//	             completed, deferred cancelled; waitingOnOthers reads as
//	             in_process
//	completed    completedDateTime, in UTC
//	priority     importance: high "1", normal "" (undefined), low "9";
//	             written back 1–4 high, 5 and "" normal, 6–9 low (RFC 5545
//	             §3.8.1.9's bands)
//	categories   categories
//
// A write sends only the properties whose value differs from what the
// task holds (read at both levels: a waitingOnOthers task the CRM sees as
// in_process keeps its status), so reminders, recurrence, checklist items,
// start dates and anything To Do adds later are kept.
//
// The CRM id: a todoTask has no extended properties (§7.3 lists the types
// that do), so the stamp (pim.StampUID) is the externalId of a
// linkedResource of application "crmsync", given with the create and read
// back with $expand=linkedResources.

// todoApp is the applicationName of crmsync's linkedResource.
const todoApp = "crmsync"

// Tasks is one To Do list as a pim.Remote. It is used by one pass at a
// time; its methods are safe for concurrent use anyway.
type Tasks struct {
	c    *cloudapi.Client
	list string
	// PageSize is the odata.maxpagesize asked of delta rounds.
	PageSize int

	mu sync.Mutex
	// kept are the items of the last full round, read whole from its
	// pages: Fetch hands each out once instead of asking for it again.
	kept map[string]pim.RemoteItem
	// stamps maps the stamp of every task of the list that carries one
	// to its id; nil when not known (no full round since the last
	// Changes, or a create whose outcome is unknown).
	stamps map[string]string
}

// TaskLists returns the user's To Do lists; Default is the built-in
// "Tasks" list (wellknownListName defaultList).
func TaskLists(ctx context.Context, c *cloudapi.Client) ([]Collection, error) {
	var out []Collection
	_, err := pages(ctx, c, "/me/todo/lists", 0, func(raw json.RawMessage) error {
		var l struct {
			ID                string `json:"id"`
			DisplayName       string `json:"displayName"`
			WellknownListName string `json:"wellknownListName"`
		}
		if err := json.Unmarshal(raw, &l); err != nil || l.ID == "" {
			return protocol(c, "Microsoft Graph sent a To Do list crmsync cannot read.")
		}
		out = append(out, Collection{ID: l.ID, Name: l.DisplayName, Default: l.WellknownListName == "defaultList"})
		return nil
	})
	return out, err
}

// NewTasks returns the list listID of the mailbox c reaches.
func NewTasks(c *cloudapi.Client, listID string) *Tasks {
	return &Tasks{c: c, list: listID, PageSize: 100}
}

func (t *Tasks) tasksPath() string { return "/me/todo/lists/" + url.PathEscape(t.list) + "/tasks" }

func (t *Tasks) taskPath(id string) string { return t.tasksPath() + "/" + url.PathEscape(id) }

// Changes runs a round of the list's tasks delta: from the deltaLink
// token, or, with "", the initial round that lists every task (Full).
// Graph's 410 for a token it evicted is pim.ErrTokenInvalid (§5).
func (t *Tasks) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	full := token == ""
	u := token
	if full {
		u = t.tasksPath() + "/delta?$expand=linkedResources"
	}
	present := map[string]bool{} // id → present (false: @removed) at its last entry
	var order []string
	etags := map[string]string{}
	kept, stamps := map[string]pim.RemoteItem{}, map[string]string{}
	expanded := true
	link, err := pages(ctx, t.c, u, t.PageSize, func(raw json.RawMessage) error {
		var head struct {
			ID      string          `json:"id"`
			ETag    string          `json:"@odata.etag"`
			Removed json.RawMessage `json:"@removed"`
			Links   *[]todoLinkJ    `json:"linkedResources"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
			return protocol(t.c, "Microsoft Graph sent a change of a To Do list crmsync cannot read.")
		}
		if _, seen := present[head.ID]; !seen {
			order = append(order, head.ID)
		}
		// Replays within a round are allowed (§1): the last entry wins.
		present[head.ID] = head.Removed == nil
		etags[head.ID] = head.ETag
		if head.Removed != nil || !full {
			// An incremental round's item may carry only what changed
			// (§15): Fetch reads it whole.
			delete(kept, head.ID)
			return nil
		}
		if head.Links == nil {
			expanded = false // not expanded: no stamp to be read here
			return nil
		}
		if s := taskStamp(*head.Links); s != "" {
			stamps[s] = head.ID
		}
		if it, err := decodeTask(raw); err == nil {
			kept[head.ID] = it
		} // else Fetch asks for it again, and reports it
		return nil
	})
	if err != nil {
		if cloudapi.Status(err) == http.StatusNotFound {
			return pim.RemoteChanges{}, &connerr.Error{Kind: connerr.Gone, Server: t.c.Server, Err: err,
				Message: "This To Do list no longer exists (deleted, or no longer shared); choose another one if it does not come back."}
		}
		return pim.RemoteChanges{}, err
	}
	if link == "" {
		return pim.RemoteChanges{}, protocol(t.c, "Microsoft Graph ended the changes of a To Do list without a link to the next ones.")
	}
	ch := pim.RemoteChanges{Full: full, Token: link}
	for _, id := range order {
		if present[id] {
			ch.Items = append(ch.Items, pim.RemoteRef{Href: id, ETag: etags[id]})
		} else {
			ch.Deleted = append(ch.Deleted, id)
		}
	}
	for uid, id := range stamps {
		if !present[id] {
			delete(stamps, uid)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.kept, t.stamps = kept, nil
	if full && expanded {
		t.stamps = stamps
	}
	return ch, nil
}

// takeKept returns the item of the last full round with id, once: after
// that (a write, a 412) it is read from Graph.
func (t *Tasks) takeKept(id string) (pim.RemoteItem, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	it, ok := t.kept[id]
	delete(t.kept, id)
	return it, ok
}

// fetchConcurrency is how many tasks Fetch reads at once: Outlook serves
// 4 requests per mailbox at a time (§5), shared with the other connectors.
const fetchConcurrency = 4

// Fetch returns the tasks hrefs (their ids): those of the last full round
// as it read them, the others with one GET each.
func (t *Tasks) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	type result struct {
		it      pim.RemoteItem
		bad     error
		missing bool
		err     error
	}
	res := make([]result, len(hrefs))
	sem := make(chan struct{}, fetchConcurrency)
	var wg sync.WaitGroup
	for i, h := range hrefs {
		if it, ok := t.takeKept(h); ok {
			res[i].it = it
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var raw json.RawMessage
			err := graph.GetJSON(ctx, t.c, t.taskPath(h)+"?$expand=linkedResources", maxSmall, &raw)
			switch {
			case err == nil:
				res[i].it, res[i].bad = decodeTask(raw)
			case cloudapi.Status(err) == http.StatusNotFound:
				res[i].missing = true
			case connerr.KindOf(err) == connerr.Protocol && cloudapi.Status(err) == 0:
				res[i].bad = err // an answer that is not JSON: this item's fault
			default:
				res[i].err = err
			}
		}()
	}
	wg.Wait()
	var items []pim.RemoteItem
	var bad []pim.ItemError
	var missing []string
	for i, r := range res {
		switch {
		case r.err != nil:
			return nil, nil, nil, r.err
		case r.missing:
			missing = append(missing, hrefs[i])
		case r.bad != nil:
			bad = append(bad, pim.ItemError{Href: hrefs[i], Err: r.bad})
		default:
			r.it.Href = hrefs[i]
			items = append(items, r.it)
		}
	}
	return items, bad, missing, nil
}

// createAttempts bounds the tries of one create whose answer was lost.
const createAttempts = 3

// Create posts a new task carrying uid in its linkedResource. It never
// makes a second task for one uid: before a create (the first of this
// Tasks with no full round to go by, or one after a try whose outcome is
// unknown) the list is searched for the stamp, and a task found is
// pim.ErrExists with its href. The POST itself is sent once per try,
// never retried blindly by the client.
func (t *Tasks) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	want, err := canonicalTask(f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	body := taskPatch(nil, nil, want)
	body["linkedResources"] = []map[string]string{{"applicationName": todoApp, "displayName": "CRM record", "externalId": uid}}
	b, err := json.Marshal(body)
	if err != nil {
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	once := *t.c
	once.Retries = 0
	for attempt := 0; ; attempt++ {
		if id, err := t.findStamp(ctx, uid); err != nil {
			return pim.RemoteItem{}, err
		} else if id != "" {
			return pim.RemoteItem{Href: id, UID: uid}, fmt.Errorf("%w: a To Do task already carries %s", pim.ErrExists, uid)
		}
		resp, err := once.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: t.tasksPath(), Body: b})
		if err == nil {
			it, err := t.written(resp)
			if err != nil {
				t.forgetStamps() // created, but what it is is not known
				return pim.RemoteItem{}, err
			}
			it.UID = uid
			t.mu.Lock()
			if t.stamps != nil {
				t.stamps[uid] = it.Href
			}
			t.mu.Unlock()
			return it, nil
		}
		if s := cloudapi.Status(err); s >= 400 && s < 500 && s != 401 && s != 403 && s != 408 && s != 429 {
			return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err) // refused: nothing was made
		}
		k := connerr.KindOf(err)
		if cloudapi.Status(err) != http.StatusTooManyRequests {
			// Anything but a 429 (refused before it was looked at): the
			// task may have been made and its answer lost.
			t.forgetStamps()
		}
		if attempt+1 >= createAttempts || ctx.Err() != nil || (k != connerr.Unreachable && k != connerr.Throttled) {
			return pim.RemoteItem{}, err
		}
		select {
		case <-time.After(t.c.Backoff << attempt):
		case <-ctx.Done():
			return pim.RemoteItem{}, ctx.Err()
		}
	}
}

func (t *Tasks) forgetStamps() {
	t.mu.Lock()
	t.stamps = nil
	t.mu.Unlock()
}

// findStamp returns the id of the task carrying uid, "" when none does,
// listing the list with its linkedResources when the stamps are not
// known.
func (t *Tasks) findStamp(ctx context.Context, uid string) (string, error) {
	t.mu.Lock()
	stamps := t.stamps
	t.mu.Unlock()
	if stamps == nil {
		stamps = map[string]string{}
		_, err := pages(ctx, t.c, t.tasksPath()+"?$expand=linkedResources&$top=100", 0, func(raw json.RawMessage) error {
			var task struct {
				ID    string      `json:"id"`
				Links []todoLinkJ `json:"linkedResources"`
			}
			if json.Unmarshal(raw, &task) == nil && task.ID != "" {
				if s := taskStamp(task.Links); s != "" {
					stamps[s] = task.ID
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.stamps = stamps
		t.mu.Unlock()
	}
	return stamps[uid], nil
}

// Update patches the task with what differs between prev (as its Raw
// holds it) and f, with If-Match: prev's ETag.
func (t *Tasks) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	want, err := canonicalTask(f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	var cur todoTaskJ
	if len(prev.Raw) > 0 {
		if err := json.Unmarshal(prev.Raw, &cur); err != nil {
			return pim.RemoteItem{}, fmt.Errorf("%w: the task as last read cannot be decoded: %v", pim.ErrRefused, err)
		}
	}
	curFields, _ := cur.fields()
	body := taskPatch(&cur, curFields, want)
	if len(body) == 0 {
		return prev, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	h := http.Header{}
	if prev.ETag != "" {
		h.Set("If-Match", prev.ETag)
	}
	resp, err := t.c.Do(ctx, cloudapi.Request{Method: http.MethodPatch, URL: t.taskPath(prev.Href), Body: b, Header: h})
	switch s := cloudapi.Status(err); {
	case s == http.StatusPreconditionFailed || s == http.StatusConflict:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case s == http.StatusNotFound:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrGone, err)
	case s >= 400 && s < 500 && s != 401 && s != 403 && s != 408 && s != 429:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	case err != nil:
		return pim.RemoteItem{}, err
	}
	it, err := t.written(resp)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	it.Href, it.UID = prev.Href, prev.UID
	return it, nil
}

// written reads the task a create or an update answered with.
func (t *Tasks) written(resp *http.Response) (pim.RemoteItem, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxSmall+1))
	if err != nil {
		return pim.RemoteItem{}, &connerr.Error{Kind: connerr.Unreachable, Server: t.c.Server, Err: err,
			Message: "Microsoft Graph stopped answering while it stored a task."}
	}
	it, err := decodeTask(raw)
	if err != nil || len(raw) > maxSmall {
		return pim.RemoteItem{}, protocol(t.c, "Microsoft Graph answered a task's change with something crmsync cannot read.")
	}
	var head struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &head)
	if head.ID == "" {
		return pim.RemoteItem{}, protocol(t.c, "Microsoft Graph answered a task's change without the task's id.")
	}
	it.Href = head.ID
	return it, nil
}

// --- the todoTask resource ---

type todoTaskJ struct {
	ID    string `json:"id"`
	ETag  string `json:"@odata.etag"`
	Title string `json:"title"`
	Body  *struct {
		Content     string `json:"content"`
		ContentType string `json:"contentType"`
	} `json:"body"`
	Status            string      `json:"status"`
	Importance        string      `json:"importance"`
	DueDateTime       *todoTime   `json:"dueDateTime"`
	CompletedDateTime *todoTime   `json:"completedDateTime"`
	Categories        []string    `json:"categories"`
	LastModified      string      `json:"lastModifiedDateTime"`
	Links             []todoLinkJ `json:"linkedResources"`
}

type todoLinkJ struct {
	ApplicationName string `json:"applicationName"`
	ExternalID      string `json:"externalId"`
}

// todoTime is Graph's dateTimeTimeZone.
type todoTime struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// taskStamp is the crmsync stamp among a task's linkedResources: crmsync's
// own first, else any externalId that is a stamp.
func taskStamp(links []todoLinkJ) string {
	other := ""
	for _, l := range links {
		if _, ok := pim.ParseStamp(l.ExternalID); ok {
			if l.ApplicationName == todoApp {
				return l.ExternalID
			}
			if other == "" {
				other = l.ExternalID
			}
		}
	}
	return other
}

func decodeTask(raw []byte) (pim.RemoteItem, error) {
	var task todoTaskJ
	if err := json.Unmarshal(raw, &task); err != nil {
		return pim.RemoteItem{}, fmt.Errorf("graphpim: a To Do task that is not JSON: %v", err)
	}
	f, err := task.fields()
	if err != nil {
		return pim.RemoteItem{}, err
	}
	it := pim.RemoteItem{Href: task.ID, ETag: task.ETag, UID: taskStamp(task.Links), Type: pim.RecordTask, Fields: f, Raw: bytes.Clone(raw)}
	if m, err := time.Parse(time.RFC3339Nano, task.LastModified); err == nil {
		it.Modified = m.UTC()
	}
	return it, nil
}

var (
	todoStatusIn = map[string]crm.TaskStatus{
		"notStarted": crm.TaskNeedsAction, "inProgress": crm.TaskInProcess, "waitingOnOthers": crm.TaskInProcess,
		"completed": crm.TaskCompleted, "deferred": crm.TaskCancelled,
	}
	todoStatusOut = map[crm.TaskStatus]string{
		"": "notStarted", crm.TaskNeedsAction: "notStarted", crm.TaskInProcess: "inProgress",
		crm.TaskCompleted: "completed", crm.TaskCancelled: "deferred",
	}
)

func (task *todoTaskJ) fields() (pim.Fields, error) {
	desc := ""
	if task.Body != nil {
		desc = task.Body.Content
		if task.Body.ContentType == "html" {
			desc = compose.HTMLToText(desc)
		}
	}
	due, err := task.DueDateTime.when(true)
	if err != nil {
		return nil, fmt.Errorf("graphpim: dueDateTime: %v", err)
	}
	completed, err := task.CompletedDateTime.when(false)
	if err != nil {
		return nil, fmt.Errorf("graphpim: completedDateTime: %v", err)
	}
	prio := map[string]string{"high": "1", "low": "9"}[task.Importance]
	return pim.Fields{
		pim.FieldSummary:     pim.Str(task.Title),
		pim.FieldDescription: pim.Str(desc),
		pim.FieldDue:         pim.Str(string(due)),
		pim.FieldStatus:      pim.Str(string(todoStatusIn[task.Status])),
		pim.FieldPriority:    pim.Str(prio),
		pim.FieldCompleted:   pim.Str(string(completed)),
		pim.FieldCategories:  pim.SetOf(task.Categories...),
	}.Normalize(), nil
}

// when reads a dateTimeTimeZone as a crm.When: in UTC when its zone is
// UTC (or one no zone data knows: Graph answers in UTC unless asked
// otherwise, §4), else in its zone (a Windows name mapped to IANA's);
// asDate makes a midnight a date. Completed times are always UTC.
func (d *todoTime) when(asDate bool) (crm.When, error) {
	if d == nil || d.DateTime == "" {
		return "", nil
	}
	loc := time.UTC
	if z, ok := caldav.IANAZone(d.TimeZone); ok {
		if l, err := time.LoadLocation(z); err == nil {
			loc = l
		}
	}
	tm, err := time.ParseInLocation("2006-01-02T15:04:05", d.DateTime, loc)
	if err != nil {
		return "", fmt.Errorf("%q is not a date and time", d.DateTime)
	}
	tm = tm.Truncate(time.Second)
	switch {
	case asDate && tm.Hour() == 0 && tm.Minute() == 0 && tm.Second() == 0:
		return crm.DateOf(tm), nil
	case !asDate || loc.String() == "UTC":
		return crm.WhenOf(tm.UTC(), false), nil
	}
	return crm.WhenOf(tm, false), nil
}

// todoTimeOf writes w as a dateTimeTimeZone: a date as its midnight in
// UTC (read back as the date), a zoned time in its IANA zone (Graph takes
// IANA names as well as Windows ones), UTC and floating times in UTC.
func todoTimeOf(w crm.When, utc bool) todoTime {
	const layout = "2006-01-02T15:04:05.0000000"
	if w.IsDate() {
		return todoTime{DateTime: w.Local() + "T00:00:00.0000000", TimeZone: "UTC"}
	}
	tm, _ := w.Time(nil) // checked by canonicalTask
	if z := w.Zone(); z != "" && z != "UTC" && !utc {
		return todoTime{DateTime: tm.Format(layout), TimeZone: z}
	}
	return todoTime{DateTime: tm.UTC().Format(layout), TimeZone: "UTC"}
}

// canonicalTask checks f as a task's fields, as caldav's encoder does: a
// value To Do cannot hold is pim.ErrRefused, naming the field.
func canonicalTask(f pim.Fields) (pim.Fields, error) {
	g := f.Normalize()
	refuse := func(field, why string) (pim.Fields, error) {
		return nil, fmt.Errorf("%w: %s: %s", pim.ErrRefused, field, why)
	}
	if s := crm.TaskStatus(g[pim.FieldStatus].Str); s != "" && !s.Valid() {
		return refuse(pim.FieldStatus, fmt.Sprintf("unknown task status %q", s))
	}
	if p := g[pim.FieldPriority].Str; p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 9 {
			return refuse(pim.FieldPriority, fmt.Sprintf("%q is not 0 to 9", p))
		} else if n == 0 {
			delete(g, pim.FieldPriority)
		}
	}
	for _, field := range []string{pim.FieldDue, pim.FieldCompleted} {
		if w := g[field].Str; w != "" {
			if _, err := crm.When(w).Time(nil); err != nil {
				return refuse(field, fmt.Sprintf("%q: %v", w, err))
			}
		}
	}
	if w := g[pim.FieldCompleted].Str; w != "" {
		tm, _ := crm.When(w).Time(nil)
		g[pim.FieldCompleted] = pim.Str(string(crm.WhenOf(tm.UTC(), false)))
	}
	return g, nil
}

func todoImportance(priority string) string {
	n, _ := strconv.Atoi(priority)
	switch {
	case n >= 1 && n <= 4:
		return "high"
	case n >= 6:
		return "low"
	}
	return "normal"
}

// taskPatch returns the properties to write for want over cur (nil: a new
// task): those whose value, read as Fields or as Graph's, differs.
func taskPatch(cur *todoTaskJ, curFields, want pim.Fields) map[string]any {
	if cur == nil {
		cur = &todoTaskJ{}
	}
	out := map[string]any{}
	differs := func(field string) bool { return !curFields[field].Equal(want[field]) }
	if differs(pim.FieldSummary) || cur.ID == "" {
		out["title"] = want[pim.FieldSummary].Str
	}
	if differs(pim.FieldDescription) {
		out["body"] = map[string]string{"content": want[pim.FieldDescription].Str, "contentType": "text"}
	}
	if st := todoStatusOut[crm.TaskStatus(want[pim.FieldStatus].Str)]; differs(pim.FieldStatus) && st != cur.Status {
		out["status"] = st
	}
	if imp := todoImportance(want[pim.FieldPriority].Str); differs(pim.FieldPriority) && imp != cur.Importance {
		out["importance"] = imp
	}
	for _, tf := range []struct {
		field, prop string
		utc         bool
	}{{pim.FieldDue, "dueDateTime", false}, {pim.FieldCompleted, "completedDateTime", true}} {
		switch w := want[tf.field].Str; {
		case !differs(tf.field):
		case w == "":
			out[tf.prop] = nil
		default:
			out[tf.prop] = todoTimeOf(crm.When(w), tf.utc)
		}
	}
	if differs(pim.FieldCategories) {
		cats := want[pim.FieldCategories].List
		if cats == nil {
			cats = []string{}
		}
		out["categories"] = cats
	}
	if cur.ID == "" {
		// A new task: nothing to clear.
		for k, v := range out {
			if v == nil {
				delete(out, k)
			}
		}
	}
	return out
}

var _ pim.Remote = (*Tasks)(nil)
