package imapsync

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/crmsync/crmsync/internal/mail"
)

// go-imap's in-memory server advertising plain IMAP4rev1: no CONDSTORE,
// ESEARCH, SPECIAL-USE, LIST-EXTENDED nor UIDPLUS. It exercises the
// fallbacks Dovecot never needs.

func startMemServer(t *testing.T, folders ...string) (Config, *imapmemserver.User) {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("ann", "secret")
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := user.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: SecurityNone,
		Username: "ann", Password: "secret", CommandTimeout: 5 * time.Second}, user
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func TestWithoutExtensions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, _ := startMemServer(t, "Sent Items", "Brouillons", "Deleted Items", "Spam", "Archive/2025", "Clients")
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if caps := c.Capabilities(); caps.CondStore || caps.ESearch || caps.SpecialUse || caps.UIDPlus || !caps.Idle {
		t.Fatalf("capabilities %+v: the test needs a bare IMAP4rev1 server with IDLE", caps)
	}

	folders, err := c.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]mail.Role{}
	for _, f := range folders {
		roles[f.Name] = f.Role
	}
	want := map[string]mail.Role{"INBOX": mail.RoleInbox, "Sent Items": mail.RoleSent, "Brouillons": mail.RoleDrafts,
		"Deleted Items": mail.RoleTrash, "Spam": mail.RoleJunk, "Archive/2025": mail.RoleNone, "Clients": mail.RoleNone}
	for name, role := range want {
		if roles[name] != role {
			t.Errorf("%s: role %q, want %q", name, roles[name], role)
		}
	}

	var raws [][]byte
	for i, subject := range []string{"one", "two", "three"} {
		raw := message("mem "+subject, "body")
		raws = append(raws, raw)
		uid, err := c.Append(ctx, "INBOX", bytes.NewReader(raw), int64(len(raw)), mail.Flags{Seen: i == 1}, time.Time{})
		if err != nil || uid != 0 {
			t.Fatalf("Append = %d, %v; want 0 without UIDPLUS", uid, err)
		}
	}
	st, err := c.Select(ctx, "INBOX")
	if err != nil || st.Messages != 3 || st.HighestModSeq != 0 || st.UIDValidity == 0 {
		t.Fatalf("Select = %+v, %v", st, err)
	}
	uids, err := c.UIDs(ctx)
	if err != nil || !slices.Equal(uids, []uint32{1, 2, 3}) {
		t.Fatalf("UIDs (plain SEARCH) = %v, %v", uids, err)
	}
	var bodies [][]byte
	err = c.Fetch(ctx, uids, func(m *Fetched) error {
		b, err := io.ReadAll(m.Body)
		bodies = append(bodies, b)
		if m.ModSeq != 0 {
			t.Errorf("MODSEQ %d without CONDSTORE", m.ModSeq)
		}
		return err
	})
	if err != nil || len(bodies) != 3 || !bytes.Equal(bodies[2], raws[2]) {
		t.Fatalf("Fetch: %v, %d bodies", err, len(bodies))
	}
	// Without CONDSTORE every message comes back, whatever the modseq.
	for _, since := range []uint64{0, 12345} {
		ch, err := c.Changes(ctx, since)
		if err != nil || len(ch) != 3 || ch[1].Flags != (mail.Flags{Seen: true}) || ch[0].Flags.Seen {
			t.Errorf("Changes(%d) = %+v, %v", since, ch, err)
		}
	}
	if err := c.StoreFlags(ctx, 3, mail.Flags{Flagged: true}, mail.Flags{}); err != nil {
		t.Fatal(err)
	}
	ch, _ := c.Changes(ctx, 0)
	if len(ch) != 3 || !ch[2].Flags.Flagged {
		t.Errorf("after StoreFlags: %+v", ch)
	}
}

// IDLE against the in-memory server: another session's APPEND wakes it.
func TestIdleMemServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, _ := startMemServer(t)
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	other, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	done := make(chan bool, 1)
	go func() {
		changed, err := c.Idle(ctx, 10*time.Second)
		if err != nil {
			t.Errorf("Idle: %v", err)
		}
		done <- changed
	}()
	time.Sleep(200 * time.Millisecond)
	raw := message("wake", "up")
	if _, err := other.Append(ctx, "INBOX", bytes.NewReader(raw), int64(len(raw)), mail.Flags{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	select {
	case changed := <-done:
		if !changed {
			t.Error("Idle returned false after an APPEND")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Idle did not wake")
	}
}

// Without IDLE, Idle polls with NOOP.
func TestIdlePollsWithoutIdleCapability(t *testing.T) {
	t.Parallel()
	noops := make(chan struct{}, 10)
	port := startFake(t, func(f *fakeConn) {
		f.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")
		n := 0
		f.serve(handlers{
			"LOGIN": func(f *fakeConn, tag, _ string) { f.send(tag + " OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in") },
			"SELECT": func(f *fakeConn, tag, _ string) {
				f.send("* 0 EXISTS", "* OK [UIDVALIDITY 1] ok", tag+" OK [READ-WRITE] done")
			},
			"NOOP": func(f *fakeConn, tag, _ string) {
				n++
				noops <- struct{}{}
				if n == 3 {
					f.send("* 1 EXISTS")
				}
				f.send(tag + " OK NOOP completed")
			},
		})
	})
	c := dialFake(t, fakeConfig(port))
	c.pollEvery = 50 * time.Millisecond
	changed, err := c.Idle(context.Background(), 20*time.Millisecond)
	if err != nil || changed {
		t.Errorf("short Idle = %v, %v", changed, err)
	}
	changed, err = c.Idle(context.Background(), 5*time.Second)
	if err != nil || !changed || len(noops) != 3 {
		t.Errorf("Idle = %v, %v after %d NOOPs; want true after 3", changed, err, len(noops))
	}
}
