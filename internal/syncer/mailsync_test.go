package syncer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/faultproxy"
	"github.com/crmsync/crmsync/internal/testpeer/mailgen"
)

// testPeers lets the connectors reach the test servers (Dovecot, the fault
// proxy), all on loopback: what an operator allows with --private-hosts.
var testPeers = netguard.MustParse("127.0.0.0/8")

// mailEnv is a Dovecot, a store, and one connected account.
type mailEnv struct {
	t       *testing.T
	srv     *dovecot.Server
	st      *sqlstore.DB
	conn    *mailconn.Connector
	viewer  crm.Viewer
	account crm.MailAccount
	user    string
	pass    string
	cancel  context.CancelFunc
	done    chan struct{}
	logs    *strings.Builder
	mu      sync.Mutex
}

func newMailEnv(t *testing.T, f storetest.Factory) *mailEnv {
	srv := dovecot.Start(t, nil)
	st, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	e := &mailEnv{t: t, srv: srv, st: st, viewer: crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}, logs: &strings.Builder{}}
	e.conn = &mailconn.Connector{Credentials: st, Keys: kr, TLSConfig: srv.TLSConfig(), Guard: testPeers}
	e.user, e.pass = srv.User(1)
	settings := crm.MailSettings{IMAP: &crm.ServerSettings{Host: srv.Host, Port: srv.Port, Security: "starttls", Username: e.user}, Source: "manual"}
	if err := e.conn.Verify(ctx, settings, e.pass, e.pass); err != nil {
		t.Fatal(err)
	}
	sealed, _ := e.conn.Seal("cred-1", []byte(e.pass))
	if err := st.PutCredential(ctx, store.Credential{ID: "cred-1", OrgID: org.ID, Purpose: "mail_password", Ciphertext: sealed}); err != nil {
		t.Fatal(err)
	}
	e.account, err = st.CreateMailAccount(ctx, e.viewer, crm.MailAccount{UserID: admin.ID, Email: e.user + "@crmsync.test", Provider: "imap",
		Mode: crm.ModeSync, Settings: settings, CredentialID: "cred-1", State: crm.StateConnecting})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *mailEnv) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.Write(p)
}

// start runs the sync loops until stop.
func (e *mailEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	logger := slog.New(slog.NewTextHandler(e, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		defer close(e.done)
		syncer.Run(ctx, syncer.Config{Store: e.st, Logger: logger, Owner: lease.NewOwner(),
			Lease: lease.Config{TTL: 3 * time.Second},
			Mail: &syncer.MailConfig{Dial: e.conn.Dial, Engine: mailsync.Config{Parse: e.conn.Parse, BatchSize: 100}, Scan: 100 * time.Millisecond,
				IdleMax: 2 * time.Second, PollInterval: 2 * time.Second}})
	}()
	e.t.Cleanup(e.stop)
}

func (e *mailEnv) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

func (e *mailEnv) acct() crm.MailAccount {
	a, err := e.st.GetMailAccount(context.Background(), e.viewer, e.account.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *mailEnv) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			a := e.acct()
			e.mu.Lock()
			logs := e.logs.String()
			e.mu.Unlock()
			e.t.Fatalf("%s: not reached in %v (state %s, error %q, progress %d/%d)\nlogs:\n%s", what, timeout, a.State, a.ErrorMessage, a.ProgressDone, a.ProgressTotal, tail(logs, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// emails returns every stored email of the account, by Message-ID.
func (e *mailEnv) emails() map[string][]crm.Email {
	out := map[string][]crm.Email{}
	cursor := ""
	for {
		p, err := e.st.ListEmails(context.Background(), e.viewer, store.EmailFilter{ListParams: store.ListParams{Limit: 500, Cursor: cursor}})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range p.Items {
			out[m.Folder+"|"+m.MessageID] = append(out[m.Folder+"|"+m.MessageID], m)
		}
		if p.NextCursor == "" {
			return out
		}
		cursor = p.NextCursor
	}
}

func (e *mailEnv) count() int {
	n := 0
	for _, v := range e.emails() {
		n += len(v)
	}
	return n
}

func (e *mailEnv) synced(n int) func() bool {
	return func() bool {
		a := e.acct()
		return a.State == crm.StateSynced && e.count() == n
	}
}

func (e *mailEnv) assertNoDuplicates() {
	e.t.Helper()
	for k, v := range e.emails() {
		if len(v) > 1 {
			e.t.Fatalf("message %s stored %d times", k, len(v))
		}
	}
}

var factories = map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}

func eachStore(t *testing.T, fn func(t *testing.T, f storetest.Factory)) {
	for name, f := range factories {
		t.Run(name, func(t *testing.T) { fn(t, f) })
	}
}

// TestMailSyncDovecot drives the whole loop against a real Dovecot:
// initial sync, new mail while connected, flags both ways, expunge,
// UIDVALIDITY reset, server restart, and an interrupted sync resumed.
func TestMailSyncDovecot(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		ctx := context.Background()
		gen := &mailgen.Generator{Seed: 7, MalformedRate: 0.02}
		msgs := gen.Generate(600)
		e.srv.BulkLoad(t, e.user, "INBOX", msgs[:500])
		e.srv.BulkLoad(t, e.user, "Sent", msgs[500:])

		e.start()
		e.waitFor("initial sync", 60*time.Second, e.synced(600))
		e.assertNoDuplicates()
		a := e.acct()
		if a.ProgressDone != 600 || a.ProgressTotal != 600 || a.LastSyncAt == nil || a.Audit != "" {
			t.Fatalf("status after initial sync: %+v", a)
		}
		// Participants decoded; a malformed message stored with a warning.
		stored := e.emails()
		warned := 0
		for i, raw := range msgs[:500] {
			id := gen.MessageID(i)
			got := stored["INBOX|"+strings.Trim(id, "<>")]
			if len(got) != 1 {
				t.Fatalf("message %d (%s) stored %d times", i, id, len(got))
			}
			if len(got[0].Participants.From) == 0 && gen.Malformation(i) == "" {
				t.Fatalf("message %d stored without sender:\n%.400s", i, raw)
			}
			if len(got[0].Warnings) > 0 {
				warned++
			}
		}
		if warned == 0 {
			t.Fatal("no malformed message carries a warning")
		}

		// New mail while connected arrives within seconds (IDLE).
		start := time.Now()
		extra := mailgen.Message(99, 1)
		uid := e.srv.Append(t, e.user, "INBOX", extra, nil, time.Time{})
		e.waitFor("new mail", 10*time.Second, func() bool { return e.count() == 601 })
		t.Logf("new mail stored %v after APPEND", time.Since(start).Round(time.Millisecond))

		// Flags from the server come back.
		e.srv.SetFlags(t, e.user, "INBOX", uid, []string{`\Seen`, `\Flagged`}, nil)
		var newest crm.Email
		e.waitFor("server flags", 10*time.Second, func() bool {
			got := e.emails()["INBOX|"+strings.Trim(messageIDOf(t, extra), "<>")]
			if len(got) != 1 {
				return false
			}
			newest = got[0]
			return newest.Flags.Seen && newest.Flags.Flagged
		})
		// Flags set in crmsync go to the server.
		if _, err := e.st.SetEmailFlags(ctx, e.viewer, newest.ID, func(fl *crm.Flags) { fl.Seen = false; fl.Flagged = false }); err != nil {
			t.Fatal(err)
		}
		e.waitFor("flags pushed", 10*time.Second, func() bool {
			fl := serverFlags(t, e.srv, e.user, "INBOX", uid)
			return !fl[`\Seen`] && !fl[`\Flagged`]
		})

		// An expunge on the server hides the message.
		e.srv.Expunge(t, e.user, "INBOX", uid)
		e.waitFor("expunge", 10*time.Second, func() bool { return e.count() == 600 })

		// UIDVALIDITY reset: everything renumbered, nothing duplicated, same ids.
		before := e.emails()
		e.stop()
		newValidity := e.srv.ResetUIDValidity(t, e.user, "INBOX")
		e.start()
		e.waitFor("resync after UIDVALIDITY reset", 60*time.Second, func() bool {
			fs, _ := e.st.Folders(ctx, e.account.ID)
			for _, f := range fs {
				if f.Name == "INBOX" && (!strings.HasPrefix(f.Cursor.Token, fmt.Sprintf("imap1:%d:", newValidity)) || f.Cursor.Syncing) {
					return false
				}
			}
			return e.synced(600)()
		})
		after := e.emails()
		for k, v := range before {
			if len(after[k]) != 1 || after[k][0].ID != v[0].ID {
				t.Fatalf("%s: before %v, after %v", k, ids(v), ids(after[k]))
			}
		}
		evs, _ := e.st.AccountEvents(ctx, e.account.ID, 50)
		found := false
		for _, ev := range evs {
			found = found || strings.Contains(ev.Message, "UIDVALIDITY")
		}
		if !found {
			e.mu.Lock()
			logs := e.logs.String()
			e.mu.Unlock()
			t.Fatalf("no event tells the user about the renumbering: %+v\n%s", evs, tail(logs, 4000))
		}

		// Server restart while connected: the loop reconnects and catches up.
		e.srv.Restart()
		e.srv.Append(t, e.user, "INBOX", mailgen.Message(99, 2), nil, time.Time{})
		e.waitFor("after server restart", 60*time.Second, e.synced(601))
		e.assertNoDuplicates()
	})
}

// TestMailSyncInterrupted stops the loops at many points of an initial sync
// (as a crash would: mid-batch, mid-transaction) and checks that the final
// stored set is exactly the mailbox.
func TestMailSyncInterrupted(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		msgs := mailgen.Generate(11, 1500)
		e.srv.BulkLoad(t, e.user, "INBOX", msgs)
		for i := 0; i < 6; i++ {
			e.start()
			time.Sleep(time.Duration(80+i*60) * time.Millisecond)
			e.stop()
		}
		e.start()
		e.waitFor("sync after interruptions", 90*time.Second, e.synced(1500))
		e.assertNoDuplicates()
	})
}

// TestMailSyncWrongPassword shows the truth and recovers after the user
// fixes the password.
func TestMailSyncWrongPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		ctx := context.Background()
		e.srv.Append(t, e.user, "INBOX", mailgen.Message(3, 0), nil, time.Time{})
		bad, _ := e.conn.Seal("cred-1", []byte("wrong password"))
		if err := e.st.PutCredential(ctx, store.Credential{ID: "cred-1", OrgID: e.viewer.OrgID, Purpose: "mail_password", Ciphertext: bad}); err != nil {
			t.Fatal(err)
		}
		e.start()
		e.waitFor("auth_failed", 20*time.Second, func() bool { return e.acct().State == crm.StateAuthFailed })
		a := e.acct()
		if a.NextAttemptAt == nil || time.Until(*a.NextAttemptAt) < 5*time.Minute || !strings.Contains(strings.ToLower(a.ErrorMessage), "password") {
			t.Fatalf("auth failure status: %+v", a)
		}
		// The user enters the right password (what PATCH does).
		good, _ := e.conn.Seal("cred-1", []byte(e.pass))
		if err := e.st.PutCredential(ctx, store.Credential{ID: "cred-1", OrgID: e.viewer.OrgID, Purpose: "mail_password", Ciphertext: good}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.UpdateMailAccount(ctx, e.viewer, e.account.ID, func(a *crm.MailAccount) error {
			a.State, a.ErrorCode, a.ErrorMessage, a.Failures, a.NextAttemptAt = crm.StateConnecting, "", "", 0, nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("recovered", 30*time.Second, e.synced(1))
	})
}

func ids(es []crm.Email) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func messageIDOf(t *testing.T, raw []byte) string {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("Message-Id")
}

// serverFlags reads a message's flags as another client would.
func serverFlags(t *testing.T, srv *dovecot.Server, user, folder string, uid uint32) map[string]bool {
	c := srv.Dial(t, user)
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		for _, f := range m.Flags {
			out[string(f)] = true
		}
	}
	c.Logout()
	return out
}

// TestMailSyncFaults cuts the connection (through a proxy) and restarts the
// server in the middle of an initial sync: the account shows the trouble,
// then recovers, with every message stored once.
func TestMailSyncFaults(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		ctx := context.Background()
		proxy := faultproxy.New(t, e.srv.Addr())
		host, port, _ := net.SplitHostPort(proxy.Addr())
		p, _ := strconv.Atoi(port)
		if _, err := e.st.UpdateMailAccount(ctx, e.viewer, e.account.ID, func(a *crm.MailAccount) error {
			a.Settings.IMAP.Host, a.Settings.IMAP.Port = host, p
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.srv.BulkLoad(t, e.user, "INBOX", mailgen.Generate(13, 2000))
		e.start()
		stored := func() int64 { c, _ := e.st.FolderCounts(ctx, e.account.ID); return c["INBOX"] }
		e.waitFor("first messages", 30*time.Second, func() bool { return stored() > 0 })
		proxy.CutAll()
		e.waitFor("state after the cut", 30*time.Second, func() bool {
			s := e.acct().State
			return s == crm.StateUnreachable || s == crm.StateSynced
		})
		a := e.acct()
		t.Logf("after the cut: state %s at %d stored, error %q", a.State, stored(), a.ErrorMessage)
		if a.State == crm.StateUnreachable && (a.NextAttemptAt == nil || a.ErrorMessage == "") {
			t.Fatalf("unreachable without a next attempt or a message: %+v", a)
		}
		before := stored()
		e.waitFor("progress after the cut", 60*time.Second, func() bool { return stored() > before || e.acct().State == crm.StateSynced })
		e.srv.Restart()
		e.waitFor("synced after cut and restart", 120*time.Second, e.synced(2000))
		e.assertNoDuplicates()
	})
}

// TestMailSyncDisconnectReconnect: a disconnected account stops syncing and
// keeps its messages and links; reconnected, it resumes from its cursors
// (nothing fetched twice, same ids, manual links intact) and picks up what
// arrived meanwhile.
func TestMailSyncDisconnectReconnect(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		ctx := context.Background()
		msgs := mailgen.Generate(21, 150)
		e.srv.BulkLoad(t, e.user, "INBOX", msgs)
		// A contact known before the sync: synced mail from them is linked.
		m0, err := netmail.ReadMessage(bytes.NewReader(msgs[0]))
		if err != nil {
			t.Fatal(err)
		}
		sender, err := netmail.ParseAddress(m0.Header.Get("From"))
		if err != nil {
			t.Fatal(err)
		}
		known, err := e.st.CreateContact(ctx, e.viewer, crm.Contact{FirstName: "Known", Emails: []string{strings.ToLower(sender.Address)}, OwnerID: e.viewer.UserID, Lifecycle: crm.LifecycleLead})
		if err != nil {
			t.Fatal(err)
		}
		e.start()
		e.waitFor("initial sync", 60*time.Second, e.synced(150))
		timeline, err := e.st.ListEmails(ctx, e.viewer, store.EmailFilter{LinkedTo: &store.LinkTarget{Type: crm.LinkContact, ID: known.ID}})
		if err != nil || len(timeline.Items) == 0 {
			t.Fatalf("synced mail from a known contact is not linked to them (%v)", err)
		}
		for _, em := range timeline.Items {
			found := false
			for _, a := range append(append(em.Participants.From, em.Participants.To...), em.Participants.Cc...) {
				found = found || strings.EqualFold(a.Email, sender.Address)
			}
			if !found {
				t.Fatalf("email %d linked to %s without their address: %+v", em.ID, sender.Address, em.Participants)
			}
		}
		before := e.emails()
		co, err := e.st.CreateCompany(ctx, e.viewer, crm.Company{Name: "Kept", OwnerID: e.viewer.UserID})
		if err != nil {
			t.Fatal(err)
		}
		var one crm.Email
		for _, v := range before {
			one = v[0]
			break
		}
		if err := e.st.SetLink(ctx, e.viewer, one.ID, crm.LinkCompany, co.ID, true); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		until := now.Add(30 * 24 * time.Hour)
		if _, err := e.st.UpdateMailAccount(ctx, e.viewer, e.account.ID, func(a *crm.MailAccount) error {
			a.State, a.DisconnectedAt, a.RetainedUntil = crm.StateDisconnected, &now, &until
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// While disconnected, new mail is not fetched and the state stays.
		e.srv.Append(t, e.user, "INBOX", mailgen.Message(21, 999), nil, time.Time{})
		time.Sleep(3 * time.Second)
		if a := e.acct(); a.State != crm.StateDisconnected || e.count() != 150 {
			t.Fatalf("while disconnected: state %s, %d messages", a.State, e.count())
		}
		// Reconnect.
		if _, err := e.st.UpdateMailAccount(ctx, e.viewer, e.account.ID, func(a *crm.MailAccount) error {
			a.State, a.DisconnectedAt, a.RetainedUntil = crm.StateConnecting, nil, nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("resumed", 30*time.Second, e.synced(151))
		after := e.emails()
		for k, v := range before {
			if len(after[k]) != 1 || after[k][0].ID != v[0].ID {
				t.Fatalf("%s: id %v before, %v after reconnect", k, ids(v), ids(after[k]))
			}
		}
		// The email may also be linked to the known contact (it is picked
		// at random): the manual link must be there, once.
		links, err := e.st.EmailLinks(ctx, e.viewer, one.ID)
		manual := 0
		for _, l := range links {
			if l.Type == crm.LinkCompany && l.ID == co.ID && l.Source == "manual" {
				manual++
			}
		}
		if err != nil || manual != 1 {
			t.Fatalf("manual link after reconnect: %+v (%v)", links, err)
		}
	})
}
