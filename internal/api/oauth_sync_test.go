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

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/metrics"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// graphEnv is a signed-in Microsoft user whose accounts the real sync
// loops (package syncer, with the connectors crmsync serve wires) sync
// from the Graph fake, observed through the API as a front end would.
type graphEnv struct {
	*oauthBundle
	g    *graphfake.Graph
	stop func()
	logs *lockedBuilder
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
	return &graphEnv{oauthBundle: o, g: g, logs: &lockedBuilder{}}
}

// start runs the sync loops until the test ends.
func (e *graphEnv) start() {
	cloud := &cloudconn.Clients{OAuth: e.svc, Guard: testPeers}
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
				Scan: 50 * time.Millisecond, IdleMax: time.Second, PollInterval: 200 * time.Millisecond}})
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
