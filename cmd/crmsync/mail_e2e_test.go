package main

// End-to-end mail tests: the real binary syncing a real Dovecot (the
// project's harness, internal/testpeer/dovecot) over STARTTLS, on SQLite and
// on PostgreSQL, driven through the API only.

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/mailgen"
)

// mailDBKinds are the databases every mail end-to-end test runs on.
var mailDBKinds = []string{"sqlite", "postgres"}

// mailSeed is the mailgen seed of the test mailboxes.
const mailSeed = 4242

// mailDB returns the binary on a fresh, initialised database of kind
// (see freshDB) and the admin's token.
func mailDB(t *testing.T, kind string) (*e2e, string) {
	t.Helper()
	e := freshDB(t, kind)
	stdout, _ := e.mustRun("init", "--org", "Acme", "--admin-email", "admin@acme.example")
	return e, checkToken(t, stdout)
}

// freshDB returns the binary on a new database of kind, not initialised:
// "sqlite", or "postgres": a new schema of CRMSYNC_TEST_POSTGRES, skipped
// without it, failed without it under CI=true.
func freshDB(t *testing.T, kind string) *e2e {
	t.Helper()
	var e *e2e
	switch kind {
	case "sqlite":
		e = newE2E(t, filepath.Join(t.TempDir(), "crmsync.db"))
	case "postgres":
		dsn := storetest.PostgresDSN(t)
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		var b [6]byte
		rand.Read(b[:])
		schema := "crmsync_mail_e2e_" + hex.EncodeToString(b[:])
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			admin.Close()
			t.Fatalf("creating schema: %v", err)
		}
		t.Cleanup(func() {
			admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			admin.Close()
		})
		sdsn := storetest.WithSearchPath(dsn, schema)
		keyLine, _ := newE2E(t, sdsn).mustRun("keys", "generate")
		e = newE2E(t, sdsn, "CRMSYNC_SECRET_KEY="+strings.TrimSpace(keyLine))
	default:
		t.Fatalf("unknown database kind %q", kind)
	}
	return e
}

// caFile writes the Dovecot harness's CA certificate to a file for
// --mail-ca-file.
func caFile(t *testing.T, dc *dovecot.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dovecot-ca.pem")
	if err := os.WriteFile(p, dc.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveMail starts `crmsync serve --mail-ca-file ca` (and any extra
// flags) on a free port and
// waits for /healthz, like e2e.serve. Its standard error is logged if the
// test fails.
func (e *e2e) serveMail(ca string, extra ...string) *process {
	e.t.Helper()
	p := e.start(listeningRe, append([]string{"serve", "--http", "127.0.0.1:0", "--mail-ca-file", ca}, extra...)...)
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("crmsync serve on %s (pid %d) standard error:\n%s", p.addr, p.cmd.Process.Pid, tailString(p.stderr.String(), 16<<10))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/healthz never answered 200 (last error %v):\n%s", err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// kill SIGKILLs the process and waits until it is reaped (the next start
// reaps the dead process's leases only once its pid is gone).
func (p *process) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("crmsync %s still running 10 s after SIGKILL", p.name)
	}
}

// connectMailbox connects user's mailbox on dc with explicit IMAP settings
// over STARTTLS and returns the account's id.
func connectMailbox(t *testing.T, p *process, token string, dc *dovecot.Server, user, password string) int64 {
	t.Helper()
	code, out := p.call("POST", "/api/v1/mail-accounts", token, mailAccountBody(dc, user, password))
	if code != 201 {
		t.Fatalf("POST /api/v1/mail-accounts: %d %v", code, out)
	}
	return int64(out["id"].(float64))
}

func mailAccountBody(dc *dovecot.Server, user, password string) map[string]any {
	return map[string]any{
		"email":    user + "@crmsync.test",
		"password": password,
		"imap":     map[string]any{"host": "127.0.0.1", "port": dc.Port, "security": "starttls", "username": user},
	}
}

// mailFailedStates are the account states that end a wait for "synced".
var mailFailedStates = map[string]bool{"auth_failed": true, "provider_blocked": true, "unreachable": true,
	"throttled": true, "sync_error": true, "disconnected": true}

// waitSynced polls the account until its state is "synced", and logs the
// states it went through with the stored counts seen in each.
func waitSynced(t *testing.T, p *process, token string, id int64, timeout time.Duration) map[string]any {
	t.Helper()
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
	deadline := time.Now().Add(timeout)
	var trace []string
	last, lo, hi := "", int64(0), int64(0)
	for {
		v := p.mustCall(200, "GET", path, token, nil)
		state, _ := v["state"].(string)
		n := storedCount(v)
		if state != last {
			if last != "" {
				trace = append(trace, fmt.Sprintf("%s %d..%d", last, lo, hi))
			}
			last, lo = state, n
		}
		hi = n
		if state == "synced" {
			if len(trace) > 0 {
				t.Logf("account %d went through %s, then synced with %d stored", id, strings.Join(trace, " → "), n)
			}
			return v
		}
		if mailFailedStates[state] {
			t.Fatalf("account %d is %s: %v", id, state, v)
		}
		if time.Now().After(deadline) {
			t.Fatalf("account %d not synced after %v: %v", id, timeout, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// accountFolder returns the view of one folder of an account view.
func accountFolder(t *testing.T, v map[string]any, name string) map[string]any {
	t.Helper()
	for _, f := range v["folders"].([]any) {
		if m := f.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no folder %q in the account view: %v", name, v["folders"])
	return nil
}

// storedCount is the number of stored messages the account view shows.
func storedCount(v map[string]any) int64 {
	var n int64
	for _, f := range v["folders"].([]any) {
		n += int64(f.(map[string]any)["messages"].(float64))
	}
	return n
}

// checkSyncedView checks a synced account's view: each folder stores what
// the server has, the progress is complete and the history says something.
func checkSyncedView(t *testing.T, v map[string]any, want map[string]int) {
	t.Helper()
	var total int64
	for name, n := range want {
		f := accountFolder(t, v, name)
		msgs, server := int64(f["messages"].(float64)), int64(f["server_messages"].(float64))
		if msgs != int64(n) || server != int64(n) {
			t.Errorf("folder %s: messages %d, server_messages %d; want %d and %d", name, msgs, server, n, n)
		}
		if f["missing"] != nil {
			t.Errorf("folder %s: missing %v", name, f["missing"])
		}
		total += int64(n)
	}
	if got := storedCount(v); got != total {
		t.Errorf("folders store %d messages in all, want %d: %v", got, total, v["folders"])
	}
	prog, _ := v["progress"].(map[string]any)
	if prog == nil {
		t.Errorf("no progress in the view of a synced account: %v", v)
	} else if done, tot := int64(prog["done"].(float64)), int64(prog["total"].(float64)); done != tot || done != total {
		t.Errorf("progress %d of %d, want %d of %d", done, tot, total, total)
	}
	if h, _ := v["history"].([]any); len(h) == 0 {
		t.Errorf("empty history: %v", v)
	}
	if v["error"] != nil {
		t.Errorf("a synced account shows an error: %v", v["error"])
	}
}

// listMessages pages through GET /api/v1/messages (account_id when not 0).
func listMessages(t *testing.T, p *process, token string, accountID int64) []map[string]any {
	t.Helper()
	var out []map[string]any
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{"limit": {"500"}}
		if accountID != 0 {
			q.Set("account_id", fmt.Sprint(accountID))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page := p.mustCall(200, "GET", "/api/v1/messages?"+q.Encode(), token, nil)
		for _, m := range page["data"].([]any) {
			out = append(out, m.(map[string]any))
		}
		cursor, _ = page["next_cursor"].(string)
		if cursor == "" {
			return out
		}
		if pages > 1000 {
			t.Fatal("more than 1000 pages of messages: the cursor does not advance")
		}
	}
}

// msgKey identifies a stored message for comparisons.
func msgKey(m map[string]any) string {
	return fmt.Sprintf("%v|%v|%v|%v", m["folder"], m["message_id"], m["subject"], m["date"])
}

func normID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

// checkMessageIDs checks that the stored messages are exactly the
// generator's: each (folder, Message-ID) once.
func checkMessageIDs(t *testing.T, got []map[string]any, want map[string]string) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range got {
		id, _ := m["message_id"].(string)
		k := fmt.Sprintf("%v %s", m["folder"], normID(id))
		seen[k]++
	}
	var dup, missing, extra []string
	for k, n := range seen {
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	wantKeys := map[string]bool{}
	for id, folder := range want {
		k := fmt.Sprintf("%s %s", folder, normID(id))
		wantKeys[k] = true
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k := range seen {
		if !wantKeys[k] {
			extra = append(extra, k)
		}
	}
	if len(got) != len(want) || len(dup)+len(missing)+len(extra) > 0 {
		slices.Sort(dup)
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%d messages listed, want %d; %d duplicated %v; %d missing %v; %d unexpected %v",
			len(got), len(want), len(dup), firstStrings(dup, 10), len(missing), firstStrings(missing, 10), len(extra), firstStrings(extra, 10))
	}
}

func firstStrings(s []string, n int) []string { return s[:min(n, len(s))] }

// liveMessage is a message made by hand, with a unique subject to find it
// by (q=) and a unique Message-ID.
func liveMessage(token string) []byte {
	date := time.Now().Format(time.RFC1123Z)
	return []byte("From: Hank Scorpio <hank@globex.example>\r\n" +
		"To: user1@crmsync.test\r\n" +
		"Subject: Live " + token + "\r\n" +
		"Date: " + date + "\r\n" +
		"Message-ID: <" + token + "@globex.example>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Arrived while connected.\r\n")
}

// TestMailE2E: a 2,000-message mailbox synced over STARTTLS; new mail and
// flag changes both ways while connected; a wrong password refused.
func TestMailE2E(t *testing.T) {
	t.Parallel()
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const n = 2000
			e, token := mailDB(t, kind)
			dc := dovecot.Start(t, nil)
			user, pass := dc.User(1)
			g := &mailgen.Generator{Seed: mailSeed, MalformedRate: mailgen.DefaultMalformedRate}
			dc.BulkLoad(t, user, "INBOX", g.Generate(n))
			want := map[string]string{}
			for i := range n {
				want[g.MessageID(i)] = "INBOX"
			}

			srv := e.serveMail(caFile(t, dc))
			start := time.Now()
			id := connectMailbox(t, srv, token, dc, user, pass)
			v := waitSynced(t, srv, token, id, 45*time.Second)
			t.Logf("%s: initial sync of %d messages took %v", kind, n, time.Since(start).Round(time.Millisecond))
			checkSyncedView(t, v, map[string]int{"INBOX": n})

			msgs := listMessages(t, srv, token, 0)
			checkMessageIDs(t, msgs, want)

			// New mail while connected shows within 5 s.
			var b [8]byte
			rand.Read(b[:])
			tag := "e2e" + hex.EncodeToString(b[:])
			uid := dc.Append(t, user, "INBOX", liveMessage(tag), nil, time.Time{})
			appended := time.Now()
			var live map[string]any
			for {
				page := srv.mustCall(200, "GET", "/api/v1/messages?q="+tag, token, nil)
				if data := page["data"].([]any); len(data) > 0 {
					if len(data) > 1 {
						t.Errorf("the appended message is listed %d times", len(data))
					}
					live = data[0].(map[string]any)
					break
				}
				if time.Since(appended) > 5*time.Second {
					t.Fatalf("a message appended while connected is not listed after 5 s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("%s: new mail listed %v after APPEND", kind, time.Since(appended).Round(time.Millisecond))
			if got := normID(live["message_id"].(string)); got != tag+"@globex.example" {
				t.Errorf("appended message listed with Message-ID %q", got)
			}
			if seen := live["flags"].(map[string]any)["seen"]; seen != false {
				t.Errorf("appended message flags: %v, want unseen", live["flags"])
			}

			// Read in crmsync: \Seen on the server within 10 s.
			liveID := int64(live["id"].(float64))
			patched := srv.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/messages/%d", liveID), token,
				map[string]any{"flags": map[string]any{"seen": true}})
			if patched["flags"].(map[string]any)["seen"] != true {
				t.Errorf("PATCH answer: flags %v, want seen", patched["flags"])
			}
			patchedAt := time.Now()
			c := dc.Dial(t, user)
			for {
				if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
					t.Fatal(err)
				}
				got, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{UID: true, Flags: true}).Collect()
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 {
					t.Fatalf("FETCH UID %d: %d messages", uid, len(got))
				}
				if slices.Contains(got[0].Flags, imap.FlagSeen) {
					break
				}
				// Waits past the 10 s allowed, to tell how late it is.
				if time.Since(patchedAt) > 45*time.Second {
					t.Fatalf("\\Seen set in crmsync is not on the server after 45 s (flags %v)", got[0].Flags)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if took := time.Since(patchedAt); took > 10*time.Second {
				t.Errorf("%s: \\Seen set in crmsync reached the server only %v after PATCH, want within 10 s", kind, took.Round(time.Millisecond))
			} else {
				t.Logf("%s: \\Seen on the server %v after PATCH", kind, took.Round(time.Millisecond))
			}

			// A wrong password is refused before anything is saved (another
			// user's mailbox: the same address again would be a conflict).
			other, _ := dc.User(2)
			code, out := srv.call("POST", "/api/v1/mail-accounts", token, mailAccountBody(dc, other, "not-"+pass))
			if ec, _ := out["error"].(map[string]any); code != 422 || ec == nil || ec["code"] != "auth_failed" {
				t.Errorf("POST with a wrong password: %d %v, want 422 auth_failed", code, out)
			}
			accounts := srv.mustCall(200, "GET", "/api/v1/mail-accounts", token, nil)
			if n := len(accounts["data"].([]any)); n != 1 {
				t.Errorf("%d mail accounts after a refused connection, want 1", n)
			}
		})
	}
}

// TestMailE2EKill: "Killing the process with SIGKILL at random points of an
// initial sync and restarting ends with the same stored set as an
// uninterrupted run."
func TestMailE2EKill(t *testing.T) {
	t.Parallel()
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const inbox, sent = 4000, 1000
			const maxKills = 10
			if kind == "postgres" {
				storetest.PostgresDSN(t) // skip (or fail under CI) before loading mail
			}
			dc := dovecot.Start(t, nil)
			user, pass := dc.User(1)
			g := &mailgen.Generator{Seed: mailSeed + 1, MalformedRate: mailgen.DefaultMalformedRate}
			all := g.Generate(inbox + sent)
			dc.BulkLoad(t, user, "INBOX", all[:inbox])
			dc.BulkLoad(t, user, "Sent", all[inbox:])
			want := map[string]string{}
			for i := range inbox + sent {
				want[g.MessageID(i)] = map[bool]string{true: "INBOX", false: "Sent"}[i < inbox]
			}
			ca := caFile(t, dc)
			wantCounts := map[string]int{"INBOX": inbox, "Sent": sent}

			// The two runs, each into its own database, side by side.
			var reference, killed []map[string]any
			t.Run("runs", func(t *testing.T) {
				t.Run("uninterrupted", func(t *testing.T) {
					t.Parallel()
					e, token := mailDB(t, kind)
					srv := e.serveMail(ca)
					start := time.Now()
					id := connectMailbox(t, srv, token, dc, user, pass)
					v := waitSynced(t, srv, token, id, 50*time.Second)
					t.Logf("%s: the uninterrupted run synced %d messages in %v", kind, inbox+sent, time.Since(start).Round(time.Millisecond))
					checkSyncedView(t, v, wantCounts)
					reference = listMessages(t, srv, token, id)
				})
				t.Run("killed", func(t *testing.T) {
					t.Parallel()
					e, token := mailDB(t, kind)
					srv := e.serveMail(ca)
					start := time.Now()
					id := connectMailbox(t, srv, token, dc, user, pass)
					path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
					// Kill until the sync is done: the stored count is read just
					// before each kill (a batch may commit in between, hence ≥).
					var points []string
					midSync := 0
					for range maxKills {
						time.Sleep(time.Duration(100+mrand.IntN(801)) * time.Millisecond)
						v := srv.mustCall(200, "GET", path, token, nil)
						if v["state"] == "synced" {
							break
						}
						stored := storedCount(v)
						srv.kill()
						points = append(points, fmt.Sprintf("≥%d (%v)", stored, v["state"]))
						if stored > 0 {
							midSync++
						}
						srv = e.serveMail(ca)
					}
					v := waitSynced(t, srv, token, id, 50*time.Second)
					t.Logf("%s: %d SIGKILLs (%d with messages stored), at stored counts of %d: %s; synced %v after connecting",
						kind, len(points), midSync, inbox+sent, strings.Join(points, ", "), time.Since(start).Round(time.Millisecond))
					checkSyncedView(t, v, wantCounts)
					killed = listMessages(t, srv, token, id)
				})
			})
			if t.Failed() {
				return
			}
			checkMessageIDs(t, killed, want)
			checkMessageIDs(t, reference, want)
			a, b := sortedMsgKeys(killed), sortedMsgKeys(reference)
			if len(a) != len(b) {
				t.Errorf("the killed run stores %d messages, the uninterrupted one %d", len(a), len(b))
			}
			if !slices.Equal(a, b) {
				onlyA, onlyB := missingFrom(a, b), missingFrom(b, a)
				t.Errorf("stored sets differ: %d only after the kills %v; %d only in the uninterrupted run %v",
					len(onlyA), firstStrings(onlyA, 10), len(onlyB), firstStrings(onlyB, 10))
			}
		})
	}
}

// sortedMsgKeys returns the sorted msgKeys of messages.
func sortedMsgKeys(msgs []map[string]any) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, msgKey(m))
	}
	slices.Sort(out)
	return out
}

// missingFrom returns the elements of sorted a missing from sorted b (as
// multisets).
func missingFrom(a, b []string) []string {
	var out []string
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			j++
			continue
		}
		out = append(out, x)
	}
	return out
}
