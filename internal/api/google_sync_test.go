package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// A user signs in with Google for mail, contacts, calendar and tasks, and
// the real sync loops (the connectors crmsync serve wires) sync all four
// with the Google fake, observed through the API: one message under two
// labels is stored once, read and starred travel both ways, a forgotten
// history id duplicates nothing, contacts come in and the seven Base
// groups exist (a deleted one comes back), an event and a task come in
// and a CRM task goes out.
func TestGoogleAccountsThroughTheSyncLoops(t *testing.T) {
	t.Parallel() // waits on the loops' polls, not the CPU
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupGoogle(t, opts)
		o.registerGoogle()
		o.g.Identity.AddUser(googlefake.User{Email: "ann@acme.test", HostedDomain: "acme.test"})
		gm := o.g.API.Gmail()
		clients := gm.AddLabel("Clients")
		both := gm.AddMessage(graphMessage(1), "INBOX", clients)
		gm.AddMessage(graphMessage(2), "INBOX", "UNREAD")
		gm.AddMessage(graphMessage(3), "SPAM") // not synced
		o.g.API.PutPerson("", map[string]any{"names": []any{map[string]any{"givenName": "Carol", "familyName": "Client"}},
			"emailAddresses": []any{map[string]any{"value": "carol@globex.example"}}})
		o.g.API.PutEvent(googlefake.PrimaryCalendar, "kickoff1", map[string]any{"summary": "Globex kickoff",
			"start": map[string]any{"dateTime": "2026-12-15T10:00:00+01:00"}, "end": map[string]any{"dateTime": "2026-12-15T11:00:00+01:00"}})
		o.g.API.PutTask("", map[string]any{"title": "Prepare the Globex offer"})

		cloud := &cloudconn.Clients{OAuth: o.svc, Guard: testPeers}
		pconn := &pimconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: cloud}
		conn := &mailconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: cloud,
			GooglePush: mailconn.GooglePush{Poll: 200 * time.Millisecond}} // no Pub/Sub topic: polled
		o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, PIM: pconn, Mail: accountstest.NewMail(),
			Logger: slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

		r := o.callback(o.googleSignIn("mail", "contacts", "calendar", "tasks"), "application/json")
		ids, _ := r.Body["pim_account_ids"].([]any)
		if r.Status != 200 || r.Body["mail_account_id"] == nil || len(ids) != 3 {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		mailID := int64(r.Body["mail_account_id"].(float64))
		contacts, calendar, tasks := int64(ids[0].(float64)), int64(ids[1].(float64)), int64(ids[2].(float64))

		logs := &lockedBuilder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			syncer.Run(ctx, syncer.Config{Store: o.st, Logger: slog.New(slog.NewTextHandler(logs, nil)), Owner: lease.NewOwner(), Lease: lease.Config{TTL: 3 * time.Second},
				Mail: &syncer.MailConfig{Dial: conn.Dial, Engine: mailsync.Config{Parse: conn.Parse, Send: conn.Send},
					Scan: 50 * time.Millisecond, IdleMax: time.Second, PollInterval: 200 * time.Millisecond},
				PIM: &syncer.PIMConfig{Scan: 50 * time.Millisecond, PollInterval: 200 * time.Millisecond,
					Open: func(ctx context.Context, a crm.PIMAccount) ([]syncer.PIMTarget, error) {
						known, err := o.st.PIMCollections(ctx, a.ID)
						if err != nil {
							return nil, err
						}
						ts, err := pconn.Open(ctx, a, known)
						out := make([]syncer.PIMTarget, len(ts))
						for i, t := range ts {
							out[i] = syncer.PIMTarget{Collection: t.Collection, Remote: t.Remote, Warning: t.Warning}
						}
						return out, err
					}}})
		}()
		t.Cleanup(func() { cancel(); <-done })
		e := &graphEnv{oauthBundle: o.oauthBundle, logs: logs}

		e.waitFor("mail synced", func() bool {
			return e.account(mailID).Str("state") == "synced" && len(e.messages(mailID)) == 2
		})
		ms := e.messages(mailID)
		if len(ms["graph message 1"]) != 1 || ms["graph message 3"] != nil || flag(ms["graph message 2"][0], "seen") || !flag(ms["graph message 1"][0], "seen") {
			t.Errorf("first sync: %v", ms)
		}
		// Starred in Gmail; read in the CRM.
		gm.Modify(both, []string{"STARRED"}, nil)
		e.waitFor("star from Gmail", func() bool { return flag(e.messages(mailID)["graph message 1"][0], "flagged") })
		mid := int64(e.messages(mailID)["graph message 2"][0]["id"].(float64))
		e.must(200, "PATCH", fmt.Sprintf("/api/v1/messages/%d", mid), e.annToken, map[string]any{"flags": map[string]any{"seen": true}})
		e.waitFor("read in Gmail", func() bool {
			for _, id := range gm.Messages("INBOX") {
				if st, _ := gm.Message(id); strings.Contains(string(st.Raw), "graph message 2") {
					return !strings.Contains(fmt.Sprint(st.Labels), "UNREAD")
				}
			}
			return false
		})
		// History forgotten, then new mail: nothing twice.
		gm.ExpireHistory()
		gm.AddMessage(graphMessage(4), "INBOX", clients)
		e.waitFor("after the history expired", func() bool { return len(e.messages(mailID)["graph message 4"]) == 1 })
		for subj, m := range e.messages(mailID) {
			if len(m) != 1 {
				t.Errorf("%s stored %d times", subj, len(m))
			}
		}

		// Contacts, calendar and tasks.
		for _, id := range []int64{contacts, calendar, tasks} {
			e.waitFor(fmt.Sprintf("account %d synced", id), func() bool { return e.pimAccount(id).Str("state") == "synced" })
		}
		names := func() map[string]bool {
			out := map[string]bool{}
			for _, c := range e.list("/api/v1/contacts?limit=100") {
				out[fmt.Sprint(c["first_name"])] = true
			}
			return out
		}
		if !names()["Carol"] {
			t.Errorf("Carol did not come in: %v", names())
		}
		baseGroups := func() int {
			n := 0
			for _, g := range o.g.API.Groups() {
				if strings.HasPrefix(g, "Base ") {
					n++
				}
			}
			return n
		}
		if n := baseGroups(); n != 7 {
			t.Errorf("%d Base groups, want 7: %v", n, o.g.API.Groups())
		}
		for name, title := range o.g.API.Groups() {
			if title == "Base Lead" {
				o.g.API.DeleteGroup(name)
			}
		}
		e.must(202, "POST", fmt.Sprintf("/api/v1/pim-accounts/%d/sync", contacts), e.annToken, nil)
		e.waitFor("Base Lead restored", func() bool { return baseGroups() == 7 })

		found := false
		for _, ev := range e.list("/api/v1/events?limit=100") {
			found = found || ev["summary"] == "Globex kickoff"
		}
		if !found {
			t.Errorf("the Google event did not come in: %s", e.pimAccount(calendar).Raw)
		}
		e.must(201, "POST", "/api/v1/tasks", e.annToken, map[string]any{"summary": "Call Carol", "due": "2026-12-20"})
		e.waitFor("the CRM task in Google Tasks", func() bool {
			for _, tk := range o.g.API.Tasks() {
				if fmt.Sprintf("%s", tk["title"]) == `"Call Carol"` { // the fake keeps JSON as sent
					return true
				}
			}
			return false
		})
		imported := false
		for _, tk := range e.list("/api/v1/tasks?limit=100") {
			imported = imported || tk["summary"] == "Prepare the Globex offer"
		}
		if !imported {
			t.Errorf("the Google task did not come in")
		}
	})
}
