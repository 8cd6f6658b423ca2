package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/metrics"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// graphEnv is a signed-in Microsoft user whose accounts the real sync
// loops (package syncer, with the connectors crmsync serve wires) sync
// from the Graph fake, observed through the API as a front end would.
type graphEnv struct {
	*oauthBundle
	g     *graphfake.Graph
	cloud *cloudconn.Clients
	pconn *pimconn.Connector
	stop  func()
	logs  *lockedBuilder
	// metrics, when set, hears the loops and provider clients, whose
	// lease owner is owner.
	metrics *metrics.Metrics
	owner   string
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newGraphEnv(t *testing.T, opts bundleOpts) *graphEnv {
	o := setupOAuth(t, opts)
	g := graphfake.NewGraph()
	g.CheckToken = func(tok string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, ok := o.fake.Identity.UserOf(r)
		return ok
	}
	o.fake.Mux.Handle("/v1.0/me/", g)
	o.registerApp("")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	e := &graphEnv{oauthBundle: o, g: g, logs: &lockedBuilder{}, cloud: &cloudconn.Clients{OAuth: o.svc, Guard: testPeers}}
	e.pconn = &pimconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: e.cloud}
	// The API with PIM on, as crmsync serve wires it.
	o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, PIM: e.pconn,
		Logger: slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return e
}

// start runs the sync loops until the test ends.
func (e *graphEnv) start() {
	cloud, pconn := e.cloud, e.pconn
	var obs syncer.Observer
	if e.metrics != nil {
		cloud.Observer = func(p string) cloudapi.Observer { return e.metrics.Provider(p) }
		obs = e.metrics
	}
	if e.owner == "" {
		e.owner = lease.NewOwner()
	}
	conn := &mailconn.Connector{Credentials: e.st, Keys: e.keys, Guard: testPeers, Cloud: cloud,
		GraphPush: mailconn.GraphPush{Poll: 200 * time.Millisecond}} // no https public URL: polled
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		defer close(done)
		syncer.Run(ctx, syncer.Config{Store: e.st, Logger: logger, Owner: e.owner, Lease: lease.Config{TTL: 3 * time.Second}, Observer: obs,
			Mail: &syncer.MailConfig{Dial: conn.Dial, Engine: mailsync.Config{Parse: conn.Parse, Send: conn.Send},
				Scan: 50 * time.Millisecond, IdleMax: time.Second, PollInterval: 200 * time.Millisecond},
			PIM: &syncer.PIMConfig{Scan: 50 * time.Millisecond, PollInterval: 200 * time.Millisecond,
				Open: func(ctx context.Context, a crm.PIMAccount) ([]syncer.PIMTarget, error) {
					known, err := e.st.PIMCollections(ctx, a.ID)
					if err != nil {
						return nil, err
					}
					ts, err := pconn.Open(ctx, a, known)
					if err != nil {
						return nil, err
					}
					out := make([]syncer.PIMTarget, len(ts))
					for i, t := range ts {
						out[i] = syncer.PIMTarget{Collection: t.Collection, Remote: t.Remote, Warning: t.Warning}
					}
					return out, nil
				}}})
	}()
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(e.stop)
}

func (e *graphEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			logs := e.logs.String()
			if len(logs) > 4000 {
				logs = logs[len(logs)-4000:]
			}
			e.t.Fatalf("%s: not reached\nlogs:\n%s", what, logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// messages returns the account's messages by subject, as the API lists
// them.
func (e *graphEnv) messages(account int64) map[string][]map[string]any {
	r := e.must(200, "GET", fmt.Sprintf("/api/v1/messages?account_id=%d&limit=200", account), e.annToken, nil)
	out := map[string][]map[string]any{}
	for _, m := range r.List {
		mm := m.(map[string]any)
		out[mm["subject"].(string)] = append(out[mm["subject"].(string)], mm)
	}
	return out
}

func (e *graphEnv) account(id int64) *resp {
	return e.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), e.annToken, nil)
}

func flag(m map[string]any, name string) bool {
	f, _ := m["flags"].(map[string]any)
	b, _ := f[name].(bool)
	return b
}

// The whole life of a Microsoft mailbox through the sync loops: signed in
// through the API, the first sync brings the inbox, archive and a user's
// folder (no junk), a message moved between folders stays one, flags
// travel both ways, new mail arrives, a forgotten delta token duplicates
// nothing, throttling is obeyed, a revoked sign-in shows auth_failed and
// signing in again brings the same account back to synced.
func TestMicrosoftMailboxThroughTheSyncLoops(t *testing.T) {
	t.Parallel() // waits on the loops' polls, not the CPU
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		e := newGraphEnv(t, opts)
		clients := e.g.AddFolder("inbox", "Clients")
		ids := map[int]string{}
		for i := 1; i <= 3; i++ {
			ids[i] = e.g.AddMessage("inbox", graphMessage(i), false)
		}
		ids[4] = e.g.AddMessage("archive", graphMessage(4), true)
		ids[5] = e.g.AddMessage(clients, graphMessage(5), false)
		e.g.AddMessage("junkemail", graphMessage(6), false)

		r := e.callback(e.signIn("mail"), "application/json")
		if r.Status != 200 || r.Body["mail_account_id"] == nil {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		id := int64(r.Body["mail_account_id"].(float64))
		e.start()
		e.waitFor("first sync", func() bool { return e.account(id).Str("state") == "synced" && len(e.messages(id)) == 5 })
		ms := e.messages(id)
		if ms["graph message 6"] != nil || ms["graph message 4"][0]["folder"] != "Archive" || ms["graph message 5"][0]["folder"] != "Inbox/Clients" {
			t.Errorf("first sync: %v", ms)
		}

		// Moved in Outlook: still one message, now in its new folder.
		e.g.MoveMessage(ids[1], clients)
		e.waitFor("move", func() bool {
			m := e.messages(id)["graph message 1"]
			return len(m) == 1 && m[0]["folder"] == "Inbox/Clients"
		})

		// Flags both ways.
		e.g.SetFlag(ids[2], "flagged")
		e.waitFor("flag from Outlook", func() bool { return flag(e.messages(id)["graph message 2"][0], "flagged") })
		mid := int64(e.messages(id)["graph message 3"][0]["id"].(float64))
		e.must(200, "PATCH", fmt.Sprintf("/api/v1/messages/%d", mid), e.annToken, map[string]any{"flags": map[string]any{"seen": true}})
		e.waitFor("read from the CRM", func() bool { s, ok := e.g.Message(ids[3]); return ok && s.IsRead })

		// New mail, then a delta token Graph forgot: nothing twice.
		e.g.AddMessage("inbox", graphMessage(7), false)
		e.waitFor("new mail", func() bool { return len(e.messages(id)["graph message 7"]) == 1 })
		e.g.ExpireDeltaTokens(false)
		e.g.AddMessage("inbox", graphMessage(8), false)
		e.waitFor("after the reset", func() bool { return len(e.messages(id)["graph message 8"]) == 1 })
		for subj, m := range e.messages(id) {
			if len(m) != 1 {
				t.Errorf("%s stored %d times", subj, len(m))
			}
		}

		// Throttled for two seconds: no request comes early.
		e.g.ThrottleAfter(0, 2*time.Second)
		e.g.AddMessage("inbox", graphMessage(9), false)
		e.waitFor("mail after throttling", func() bool { return len(e.messages(id)["graph message 9"]) == 1 })
		if early := e.g.Stats().Early; early != 0 {
			t.Errorf("%d requests came before Retry-After elapsed", early)
		}

		// The sign-in is revoked: the access token expires, the refresh is
		// refused, and the account says what to do.
		e.fake.Identity.Revoke("ann@acme.test")
		e.clock.Advance(2 * time.Hour)
		e.waitFor("auth_failed", func() bool { return e.account(id).Str("state") == "auth_failed" })
		a := e.account(id)
		if code, _ := a.Body["error"].(map[string]any); code == nil || !strings.Contains(fmt.Sprint(code["message"]), "Sign in to Microsoft again") {
			t.Errorf("auth_failed account: %s", a.Raw)
		}
		// Signing in again: the same account syncs again, nothing lost.
		r = e.callback(e.signIn("mail"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id {
			t.Fatalf("sign in again: %d %s", r.Status, r.Raw)
		}
		e.g.AddMessage("inbox", graphMessage(11), false)
		e.waitFor("synced again", func() bool {
			return e.account(id).Str("state") == "synced" && len(e.messages(id)["graph message 11"]) == 1
		})
		if n := len(e.messages(id)); n != 9 {
			t.Errorf("%d messages after signing in again, want 9", n)
		}
	})
}

// list returns the "data" of a list answer, each item a JSON object.
func (e *graphEnv) list(path string) []map[string]any {
	r := e.must(200, "GET", path, e.annToken, nil)
	out := make([]map[string]any, 0, len(r.List))
	for _, it := range r.List {
		out = append(out, it.(map[string]any))
	}
	return out
}

func (e *graphEnv) pimAccount(id int64) *resp {
	return e.must(200, "GET", fmt.Sprintf("/api/v1/pim-accounts/%d", id), e.annToken, nil)
}

// Signing in with Microsoft for contacts, calendar and To Do: each is a
// PIM account that the real sync loops sync both ways with the Graph fake —
// Outlook's contacts come into the CRM and the fixed categories appear in
// the master list (restored when the user deletes one), a contact made in
// the CRM reaches Outlook once, a weekly meeting with an exception comes
// in as one event, and To Do tasks travel both ways.
func TestMicrosoftContactsCalendarAndTasksThroughTheSyncLoops(t *testing.T) {
	t.Parallel() // waits on the loops' polls, not the CPU
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		e := newGraphEnv(t, opts)
		e.g.AddContact("", map[string]any{"givenName": "Carol", "surname": "Client", "companyName": "Globex",
			"emailAddresses": []any{map[string]any{"address": "carol@globex.example", "name": "Carol Client"}}})
		start := time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC)
		series := e.g.AddEvent("", graphfake.EventSpec{Subject: "Pipeline review", Start: start, End: start.Add(time.Hour), TimeZone: "UTC",
			Recurrence: `{"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday"},"range":{"type":"numbered","startDate":"2026-12-14","numberOfOccurrences":4}}`})
		e.g.CancelOccurrence(series, start.AddDate(0, 0, 7))
		list := e.g.DefaultTodoList()
		e.g.AddTask(list, map[string]any{"title": "Send the Globex offer", "importance": "high"})

		r := e.callback(e.signIn("mail", "contacts", "calendar", "tasks"), "application/json")
		ids, _ := r.Body["pim_account_ids"].([]any)
		if r.Status != 200 || len(ids) != 3 {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		contacts, calendar, tasks := int64(ids[0].(float64)), int64(ids[1].(float64)), int64(ids[2].(float64))
		e.start()
		for _, id := range []int64{contacts, calendar, tasks} {
			e.waitFor(fmt.Sprintf("account %d synced", id), func() bool { return e.pimAccount(id).Str("state") == "synced" })
		}

		// Contacts: Carol came in; the seven Base categories exist.
		var carol map[string]any
		for _, c := range e.list("/api/v1/contacts?limit=100") {
			if c["first_name"] == "Carol" {
				carol = c
			}
		}
		if carol == nil {
			t.Fatalf("Carol did not come in: %v", e.list("/api/v1/contacts?limit=100"))
		}
		base := func() int {
			n := 0
			for _, c := range e.g.Categories() {
				if strings.HasPrefix(c.DisplayName, "Base ") {
					n++
				}
			}
			return n
		}
		if n := base(); n != 7 {
			t.Errorf("%d Base categories in the master list, want 7", n)
		}
		// Deleted by the user in Outlook: back at the next pass.
		for _, c := range e.g.Categories() {
			if c.DisplayName == "Base Lead" {
				e.g.DeleteCategory(c.ID)
			}
		}
		e.must(202, "POST", fmt.Sprintf("/api/v1/pim-accounts/%d/sync", contacts), e.annToken, nil)
		e.waitFor("Base Lead restored", func() bool { return base() == 7 })

		// A contact made in the CRM reaches Outlook, once.
		e.must(201, "POST", "/api/v1/contacts", e.annToken, map[string]any{"first_name": "Dave", "last_name": "Doe", "emails": []string{"dave@initech.example"}})
		outlookDaves := func() int {
			n := 0
			for _, id := range e.g.ContactIDs("") {
				if c, _ := e.g.Contact(id); c.Props["givenName"] == "Dave" {
					n++
				}
			}
			return n
		}
		e.waitFor("Dave in Outlook", func() bool { return outlookDaves() == 1 })
		e.must(202, "POST", fmt.Sprintf("/api/v1/pim-accounts/%d/sync", contacts), e.annToken, nil)
		time.Sleep(500 * time.Millisecond)
		if n := outlookDaves(); n != 1 {
			t.Errorf("Dave is %d times in Outlook", n)
		}

		// Calendar: the series is one event, its cancelled Monday excluded.
		var review map[string]any
		for _, ev := range e.list("/api/v1/events?limit=100") {
			if ev["summary"] == "Pipeline review" {
				if review != nil {
					t.Fatalf("the series came in twice")
				}
				review = ev
			}
		}
		if review == nil || !strings.Contains(fmt.Sprint(review["rrule"]), "FREQ=WEEKLY") {
			t.Errorf("the weekly meeting: %v", review)
		}

		// To Do: the task came in; one made in the CRM goes out.
		found := false
		for _, tk := range e.list("/api/v1/tasks?limit=100") {
			found = found || tk["summary"] == "Send the Globex offer"
		}
		if !found {
			t.Errorf("the To Do task did not come in: %v", e.list("/api/v1/tasks?limit=100"))
		}
		e.must(201, "POST", "/api/v1/tasks", e.annToken, map[string]any{"summary": "Call Carol", "due": "2026-12-20"})
		e.waitFor("the CRM task in To Do", func() bool {
			for _, id := range e.g.Tasks(list) {
				if st, ok := e.g.Task(id); ok && st["title"] == "Call Carol" {
					return true
				}
			}
			return false
		})
		// Each account shows its collection and no secret.
		for _, id := range []int64{contacts, calendar, tasks} {
			a := e.pimAccount(id)
			if cols, _ := a.Body["collections"].([]any); len(cols) != 1 || strings.Contains(string(a.Raw), "token") {
				t.Errorf("account %d: %s", id, a.Raw)
			}
		}
	})
}
