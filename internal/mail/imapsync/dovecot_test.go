package imapsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
)

// The connector against a real Dovecot 2.3 (internal/testpeer/dovecot):
// one server for the whole test, one user per subtest so they run in
// parallel. The harness helpers (Append, SetFlags, Expunge, ...) play the
// other client, on connections of their own.

const dovecotUsers = 16

// peer is a user of the shared server.
type peer struct {
	srv        *dovecot.Server
	user, pass string
}

// config returns a Config for the user; security picks the port.
func (p peer) config(security string) Config {
	cfg := Config{Host: p.srv.Host, Port: p.srv.Port, Security: security, Username: p.user, Password: p.pass,
		TLSConfig: p.srv.TLSConfig(), DialTimeout: 10 * time.Second, CommandTimeout: 20 * time.Second}
	if security == SecurityTLS {
		cfg.Port = p.srv.TLSPort
	}
	return cfg
}

// dial logs in over STARTTLS, closed at the end of the test.
func (p peer) dial(t *testing.T) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), p.config(SecuritySTARTTLS))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// message builds a small RFC 5322 message.
func message(subject, body string) []byte {
	return []byte("From: Ann <ann@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\nDate: Mon, 02 Jun 2025 10:00:00 +0000\r\n\r\n" + body + "\r\n")
}

// otherFlags reads a message's flags on a connection of its own.
func (p peer) otherFlags(t *testing.T, folder string, uid uint32) mail.Flags {
	t.Helper()
	c := p.srv.Dial(t, p.user)
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch flags of %d: %v (%d replies)", uid, err, len(msgs))
	}
	return flagsFromIMAP(msgs[0].Flags)
}

func TestDovecot(t *testing.T) {
	srv := dovecot.Start(t, &dovecot.Options{Users: dovecotUsers})
	var next atomic.Int32
	user := func() peer {
		u, p := srv.User(int(next.Add(1)))
		return peer{srv: srv, user: u, pass: p}
	}
	ctx := context.Background()

	for _, sec := range []string{SecurityNone, SecuritySTARTTLS, SecurityTLS} {
		p := user()
		t.Run("login/"+sec, func(t *testing.T) {
			t.Parallel()
			c, err := Dial(ctx, p.config(sec))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			want := Capabilities{CondStore: true, Idle: true, UIDPlus: true, SpecialUse: true, ESearch: true, ListExtended: true}
			if got := c.Capabilities(); got != want {
				t.Errorf("capabilities %+v, want %+v", got, want)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := Verify(ctx, p.config(sec)); err != nil {
				t.Errorf("Verify: %v", err)
			}
			bad := p.config(sec)
			bad.Password = "wrong"
			err = Verify(ctx, bad)
			var me *connerr.Error
			if !errors.As(err, &me) || me.Kind != connerr.Auth || !strings.HasPrefix(me.Message, "Incorrect password (or username)") {
				t.Errorf("wrong password: %v, want KindAuth 'Incorrect password (or username)'", err)
			}
		})
	}

	t.Run("tls failures", func(t *testing.T) {
		t.Parallel()
		p := user()
		tests := []struct {
			name  string
			cfg   func() Config
			check func(error) bool
		}{
			{"untrusted certificate", func() Config {
				cfg := p.config(SecurityTLS)
				cfg.TLSConfig = nil // the system roots do not know the test CA
				return cfg
			}, func(err error) bool { var u x509.UnknownAuthorityError; return errors.As(err, &u) }},
			{"untrusted certificate over STARTTLS", func() Config {
				cfg := p.config(SecuritySTARTTLS)
				cfg.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()}
				return cfg
			}, func(err error) bool { var u x509.UnknownAuthorityError; return errors.As(err, &u) }},
			{"wrong host name", func() Config {
				cfg := p.config(SecurityTLS)
				cfg.TLSConfig = &tls.Config{RootCAs: srv.CAPool, ServerName: "imap.example.com"}
				return cfg
			}, func(err error) bool { var h x509.HostnameError; return errors.As(err, &h) }},
			{"TLS to the plain port", func() Config {
				cfg := p.config(SecurityTLS)
				cfg.Port = srv.Port
				return cfg
			}, func(err error) bool { var r tls.RecordHeaderError; return errors.As(err, &r) }},
		}
		for _, tt := range tests {
			err := Verify(ctx, tt.cfg())
			if connerr.KindOf(err) != connerr.TLS || !tt.check(err) {
				t.Errorf("%s: %v, want KindTLS with the certificate problem", tt.name, err)
			} else {
				t.Logf("%s: %s", tt.name, err.(*connerr.Error).Message)
			}
		}
	})

	t.Run("refused port", func(t *testing.T) {
		t.Parallel()
		p := user()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := p.config(SecurityNone)
		cfg.Port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		err = Verify(ctx, cfg)
		if connerr.KindOf(err) != connerr.Unreachable || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Verify = %v, want KindUnreachable 'refused'", err)
		}
	})

	t.Run("folders", func(t *testing.T) {
		t.Parallel()
		p := user()
		srv.CreateFolder(t, p.user, "Clients")
		srv.CreateFolder(t, p.user, "Clients/Acme")
		srv.CreateFolder(t, p.user, "Archive/2025")
		c := p.dial(t)
		folders, err := c.Folders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]mail.Role{}
		for _, f := range folders {
			got[f.Name] = f.Role
			if f.NoSelect {
				t.Errorf("%s is \\Noselect", f.Name)
			}
		}
		want := map[string]mail.Role{"INBOX": mail.RoleInbox, "Drafts": mail.RoleDrafts, "Sent": mail.RoleSent, "Trash": mail.RoleTrash,
			"Junk": mail.RoleJunk, "Archive": mail.RoleArchive, "Archive/2025": mail.RoleNone, "Clients": mail.RoleNone, "Clients/Acme": mail.RoleNone}
		for name, role := range want {
			if r, ok := got[name]; !ok || r != role {
				t.Errorf("%s: role %q (listed %v), want %q", name, r, ok, role)
			}
		}
		if len(got) != len(want) {
			t.Errorf("folders %v, want %v", got, want)
		}
	})

	t.Run("select", func(t *testing.T) {
		t.Parallel()
		p := user()
		for i := range 3 {
			srv.Append(t, p.user, "INBOX", message(fmt.Sprint("select ", i), "hi"), nil, time.Time{})
		}
		c := p.dial(t)
		st, err := c.Select(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		ds := srv.Status(t, p.user, "INBOX")
		if st.Messages != 3 || st.UIDNext != 4 || st.UIDValidity == 0 || st.UIDValidity != ds.UIDValidity || st.HighestModSeq == 0 || st.HighestModSeq != ds.HighestModSeq {
			t.Errorf("state %+v, server says %+v", st, ds)
		}
		_, err = c.Select(ctx, "No such folder")
		if err == nil || connerr.KindOf(err) != connerr.Protocol || !strings.Contains(err.Error(), "No such folder") {
			t.Errorf("Select of a missing folder: %v", err)
		}
		if _, err := c.UIDs(ctx); err == nil {
			t.Error("UIDs after a failed SELECT: no error")
		}
	})

	t.Run("fetch", func(t *testing.T) {
		t.Parallel()
		p := user()
		date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
		raws := [][]byte{message("fetch one", "first body"), message("fetch two", strings.Repeat("second body ", 5000)), message("fetch three", "third")}
		flags := [][]string{{`\Seen`}, {`\Flagged`, `\Answered`, `$Forwarded`}, nil}
		var uids []uint32
		for i, raw := range raws {
			uids = append(uids, srv.Append(t, p.user, "INBOX", raw, flags[i], date))
		}
		c := p.dial(t)
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		wantFlags := []mail.Flags{{Seen: true}, {Flagged: true, Answered: true}, {}}
		var got []uint32
		ask := append([]uint32{99}, uids...) // 99 does not exist: skipped
		err := c.Fetch(ctx, ask, func(m *Fetched) error {
			i := slices.Index(uids, m.UID)
			if i < 0 {
				return fmt.Errorf("unexpected UID %d", m.UID)
			}
			got = append(got, m.UID)
			body, err := io.ReadAll(m.Body)
			if err != nil {
				return err
			}
			if !bytes.Equal(body, raws[i]) {
				t.Errorf("UID %d: body %d bytes, want %d", m.UID, len(body), len(raws[i]))
			}
			if m.Flags != wantFlags[i] || m.Size != int64(len(raws[i])) || !m.InternalDate.Equal(date) || m.ModSeq == 0 {
				t.Errorf("UID %d: %+v", m.UID, *m)
			}
			return nil
		})
		if err != nil || !slices.Equal(got, uids) {
			t.Fatalf("Fetch: %v, delivered %v, want %v", err, got, uids)
		}
		// BODY.PEEK: nothing became \Seen.
		if f := p.otherFlags(t, "INBOX", uids[2]); f.Seen {
			t.Error("Fetch set \\Seen")
		}
		// A callback reading only the start: the rest is skipped and the
		// next message is whole.
		var second []byte
		err = c.Fetch(ctx, uids, func(m *Fetched) error {
			if m.UID == uids[1] {
				io.ReadFull(m.Body, make([]byte, 10))
				return nil
			}
			if m.UID == uids[2] {
				second, _ = io.ReadAll(m.Body)
			}
			return nil
		})
		if err != nil || !bytes.Equal(second, raws[2]) {
			t.Errorf("after a partial read: %v, next body %q", err, second)
		}
		if err := c.Fetch(ctx, nil, nil); err != nil {
			t.Errorf("Fetch of nothing: %v", err)
		}
	})

	t.Run("changes", func(t *testing.T) {
		t.Parallel()
		p := user()
		var uids []uint32
		for i := range 4 {
			uids = append(uids, srv.Append(t, p.user, "INBOX", message(fmt.Sprint("changes ", i), "x"), nil, time.Time{}))
		}
		c := p.dial(t)
		st, err := c.Select(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		all, err := c.Changes(ctx, 0)
		if err != nil || len(all) != 4 {
			t.Fatalf("Changes(0) = %+v, %v; want all 4", all, err)
		}
		none, err := c.Changes(ctx, st.HighestModSeq)
		if err != nil || len(none) != 0 {
			t.Fatalf("Changes(highest) = %+v, %v; want none", none, err)
		}
		srv.SetFlags(t, p.user, "INBOX", uids[1], []string{`\Flagged`, `\Seen`}, nil)
		srv.SetFlags(t, p.user, "INBOX", uids[3], []string{`\Draft`}, nil)
		ch, err := c.Changes(ctx, st.HighestModSeq)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) != 2 || ch[0].UID != uids[1] || ch[0].Flags != (mail.Flags{Flagged: true, Seen: true}) ||
			ch[1].UID != uids[3] || ch[1].Flags != (mail.Flags{Draft: true}) || ch[0].ModSeq <= st.HighestModSeq {
			t.Errorf("Changes = %+v", ch)
		}
	})

	t.Run("store flags", func(t *testing.T) {
		t.Parallel()
		p := user()
		uid := srv.Append(t, p.user, "INBOX", message("store", "x"), []string{`\Draft`}, time.Time{})
		c := p.dial(t)
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		if err := c.StoreFlags(ctx, uid, mail.Flags{Seen: true, Answered: true}, mail.Flags{}); err != nil {
			t.Fatal(err)
		}
		if f := p.otherFlags(t, "INBOX", uid); f != (mail.Flags{Seen: true, Answered: true, Draft: true}) {
			t.Errorf("after setting: %+v", f)
		}
		if err := c.StoreFlags(ctx, uid, mail.Flags{Flagged: true}, mail.Flags{Seen: true, Draft: true, Flagged: true}); err != nil {
			t.Fatal(err)
		}
		if f := p.otherFlags(t, "INBOX", uid); f != (mail.Flags{Answered: true, Flagged: true}) {
			t.Errorf("after clearing: %+v (a flag both set and cleared stays set)", f)
		}
	})

	t.Run("uids after expunge", func(t *testing.T) {
		t.Parallel()
		p := user()
		var uids []uint32
		for i := range 5 {
			uids = append(uids, srv.Append(t, p.user, "INBOX", message(fmt.Sprint("expunge ", i), "x"), nil, time.Time{}))
		}
		c := p.dial(t)
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		got, err := c.UIDs(ctx)
		if err != nil || !slices.Equal(got, uids) {
			t.Fatalf("UIDs = %v, %v; want %v", got, err, uids)
		}
		srv.Expunge(t, p.user, "INBOX", uids[1], uids[3])
		got, err = c.UIDs(ctx)
		if want := []uint32{uids[0], uids[2], uids[4]}; err != nil || !slices.Equal(got, want) {
			t.Errorf("after expunge UIDs = %v, %v; want %v", got, err, want)
		}
		// Expunged by another client, still in this session's view: Dovecot
		// answers BODY[] NIL, which must not reach fn as an empty message.
		srv.Expunge(t, p.user, "INBOX", uids[4])
		var got2 []uint32
		err = c.Fetch(ctx, []uint32{uids[0], uids[4]}, func(m *Fetched) error {
			got2 = append(got2, m.UID)
			return nil
		})
		if err != nil || !slices.Equal(got2, []uint32{uids[0]}) {
			t.Errorf("Fetch with a freshly expunged UID: %v, delivered %v, want [%d]", err, got2, uids[0])
		}
		if _, err := c.Select(ctx, "Trash"); err != nil {
			t.Fatal(err)
		}
		if got, err := c.UIDs(ctx); err != nil || len(got) != 0 {
			t.Errorf("empty folder: %v, %v", got, err)
		}
		if ch, err := c.Changes(ctx, 0); err != nil || len(ch) != 0 {
			t.Errorf("Changes in an empty folder: %v, %v", ch, err)
		}
	})

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		p := user()
		c := p.dial(t)
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		changed, err := c.Idle(ctx, time.Second)
		if err != nil || changed {
			t.Fatalf("quiet Idle = %v, %v; want false, nil", changed, err)
		}
		if d := time.Since(start); d < time.Second || d > 3*time.Second {
			t.Errorf("quiet Idle took %v, want about max (1s)", d)
		}

		// IDLE runs on a goroutine; the other client appends from this one.
		type result struct {
			changed bool
			err     error
			at      time.Time
		}
		idle := func(max time.Duration) <-chan result {
			ch := make(chan result, 1)
			go func() {
				changed, err := c.Idle(ctx, max)
				ch <- result{changed, err, time.Now()}
			}()
			time.Sleep(300 * time.Millisecond) // let IDLE start
			return ch
		}
		woke := idle(30 * time.Second)
		srv.Append(t, p.user, "INBOX", message("idle wake", "new"), nil, time.Time{})
		appended := time.Now()
		r := <-woke
		if r.err != nil || !r.changed {
			t.Fatalf("Idle = %v, %v; want true", r.changed, r.err)
		}
		if lag := r.at.Sub(appended); lag > 2*time.Second {
			t.Errorf("woke %v after the APPEND, want < 2s", lag)
		} else {
			t.Logf("woke %v after the APPEND returned", lag.Round(time.Millisecond))
		}

		// A flag change by another client wakes it too, and the connection
		// is usable after each IDLE.
		uids, err := c.UIDs(ctx)
		if err != nil || len(uids) != 1 {
			t.Fatalf("UIDs after IDLE: %v %v", uids, err)
		}
		woke = idle(30 * time.Second)
		srv.SetFlags(t, p.user, "INBOX", uids[0], []string{`\Flagged`}, nil)
		if r := <-woke; r.err != nil || !r.changed {
			t.Errorf("Idle on a flag change = %v, %v", r.changed, r.err)
		}
	})

	t.Run("append", func(t *testing.T) {
		t.Parallel()
		p := user()
		c := p.dial(t)
		raw := message("sent by crmsync", "hello")
		date := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		uid, err := c.Append(ctx, "Sent", bytes.NewReader(raw), int64(len(raw)), mail.Flags{Seen: true}, date)
		if err != nil || uid == 0 {
			t.Fatalf("Append = %d, %v", uid, err)
		}
		if got := srv.UIDs(t, p.user, "Sent"); !slices.Equal(got, []uint32{uid}) {
			t.Errorf("Sent holds %v, want [%d]", got, uid)
		}
		if f := p.otherFlags(t, "Sent", uid); f != (mail.Flags{Seen: true}) {
			t.Errorf("flags %+v", f)
		}
		_, err = c.Append(ctx, "No such folder", bytes.NewReader(raw), int64(len(raw)), mail.Flags{}, time.Time{})
		if err == nil || connerr.KindOf(err) != connerr.Protocol {
			t.Errorf("Append to a missing folder: %v", err)
		}
		// The session survives a refused APPEND; a short source does not
		// corrupt it (the connection is dropped instead).
		if _, err := c.Folders(ctx); err != nil {
			t.Errorf("after a refused APPEND: %v", err)
		}
		_, err = c.Append(ctx, "Sent", bytes.NewReader(raw[:10]), int64(len(raw)), mail.Flags{}, time.Time{})
		if err == nil {
			t.Error("Append of a short source: no error")
		}
		if _, err := c.Folders(ctx); connerr.KindOf(err) != connerr.Unreachable {
			t.Errorf("after a cut APPEND: %v, want the connection reported closed", err)
		}
		if got := srv.UIDs(t, p.user, "Sent"); len(got) != 1 {
			t.Errorf("a cut APPEND stored something: %v", got)
		}
	})

	t.Run("a message past MaxMessageBytes comes cut, not as an error", func(t *testing.T) {
		t.Parallel()
		p := user()
		cfg := p.config(SecuritySTARTTLS)
		cfg.MaxMessageBytes = 64 << 10
		c, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const size = 300 << 10
		uid, err := c.Append(ctx, "INBOX", newBigMessage(size), size, mail.Flags{}, time.Time{})
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		small := p.srv.Append(t, p.user, "INBOX", message("small", "fits"), nil, time.Time{})
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		got := map[uint32]*Fetched{}
		err = c.Fetch(ctx, []uint32{uid, small}, func(m *Fetched) error {
			n, err := io.Copy(io.Discard, m.Body)
			got[m.UID] = &Fetched{UID: m.UID, Size: n, Truncated: m.Truncated}
			return err
		})
		if err != nil || got[uid] == nil || got[small] == nil {
			t.Fatalf("Fetch: %v, %+v", err, got)
		}
		if !got[uid].Truncated || got[uid].Size != cfg.MaxMessageBytes || got[small].Truncated {
			t.Fatalf("big %+v, small %+v", got[uid], got[small])
		}
	})

	t.Run("50 MiB message in bounded memory", func(t *testing.T) {
		t.Parallel()
		p := user()
		c := p.dial(t)
		const size = 50 << 20
		uid, err := c.Append(ctx, "INBOX", newBigMessage(size), size, mail.Flags{}, time.Time{})
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if _, err := c.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		wantSum := sha256.New()
		io.Copy(wantSum, newBigMessage(size))

		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { // sample the heap while the body streams
			defer close(sampled)
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}()
		sum := sha256.New()
		var n int64
		err = c.Fetch(ctx, []uint32{uid}, func(m *Fetched) error {
			var err error
			n, err = io.Copy(sum, m.Body)
			return err
		})
		close(stop)
		<-sampled
		runtime.ReadMemStats(&after)
		if err != nil || n != size || !bytes.Equal(sum.Sum(nil), wantSum.Sum(nil)) {
			t.Fatalf("Fetch: %v, %d bytes, checksum match %v", err, n, bytes.Equal(sum.Sum(nil), wantSum.Sum(nil)))
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		growth := int64(peak.Load()) - int64(before.HeapAlloc)
		t.Logf("50 MiB fetched: %d KiB allocated in total, heap peak %+d KiB", allocated>>10, growth>>10)
		// Other subtests run in parallel and allocate too: the bounds are
		// far below the message size, not exact.
		if allocated > 16<<20 || growth > 16<<20 {
			t.Errorf("fetching 50 MiB allocated %d MiB (heap peak +%d MiB): the body is being buffered", allocated>>20, growth>>20)
		}
	})
}

// newBigMessage streams a size-byte message without holding it: a header,
// then lines of text.
func newBigMessage(size int64) io.Reader {
	head := "From: big@example.org\r\nTo: bob@example.com\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n"
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	body := &repeatReader{line: line, left: size - int64(len(head))}
	return io.MultiReader(strings.NewReader(head), body)
}

type repeatReader struct {
	line string
	off  int // position in line
	left int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = r.line[r.off]
		r.off = (r.off + 1) % len(r.line)
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// A real server going away mid-fetch: KindUnreachable, and the connection
// reports itself lost afterwards.
func TestDovecotDroppedMidFetch(t *testing.T) {
	srv := dovecot.Start(t, nil)
	u, pw := srv.User(1)
	p := peer{srv: srv, user: u, pass: pw}
	ctx := context.Background()
	c := p.dial(t)
	const size = 8 << 20
	uid, err := c.Append(ctx, "INBOX", newBigMessage(size), size, mail.Flags{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	var read int64
	err = c.Fetch(ctx, []uint32{uid}, func(m *Fetched) error {
		buf := make([]byte, 64<<10)
		n, err := io.ReadFull(m.Body, buf)
		read += int64(n)
		if err != nil {
			return err
		}
		srv.Stop()
		n2, err := io.Copy(io.Discard, m.Body)
		read += n2
		return err
	})
	if connerr.KindOf(err) != connerr.Unreachable {
		t.Fatalf("Fetch = %v (read %d of %d), want KindUnreachable", err, read, size)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && read == size {
		t.Errorf("the whole message arrived: the drop came too late to test anything")
	}
	if _, err := c.UIDs(ctx); connerr.KindOf(err) != connerr.Unreachable {
		t.Errorf("after the drop: %v", err)
	}
	srv.Start()
	c2 := p.dial(t)
	if _, err := c2.Select(ctx, "INBOX"); err != nil {
		t.Errorf("a new connection after the restart: %v", err)
	}
}
