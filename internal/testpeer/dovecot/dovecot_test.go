package dovecot_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/mailgen"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	t.Logf("start-up took %v", srv.StartupTime())
	user, pass := srv.User(2)
	tlsConfig := &tls.Config{RootCAs: srv.CAPool}

	dials := []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"plain", func() (*imapclient.Client, error) { return imapclient.DialInsecure(srv.Addr(), nil) }},
		{"STARTTLS", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(srv.Addr(), &imapclient.Options{TLSConfig: tlsConfig})
		}},
		{"implicit TLS", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.TLSAddr(), &imapclient.Options{TLSConfig: tlsConfig})
		}},
		{"implicit TLS, localhost", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.TLSAddr(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: srv.CAPool, ServerName: "localhost"}})
		}},
	}
	for _, d := range dials {
		t.Run(d.name, func(t *testing.T) {
			c, err := d.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(user, pass).Wait(); err != nil {
				t.Fatal(err)
			}
			if !c.Caps().Has(imap.CapCondStore) {
				t.Errorf("no CONDSTORE after login: %v", c.Caps())
			}
			mboxes, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			special := map[string]imap.MailboxAttr{"Drafts": imap.MailboxAttrDrafts, "Sent": imap.MailboxAttrSent,
				"Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive}
			for _, m := range mboxes {
				if attr, ok := special[m.Mailbox]; ok && slices.Contains(m.Attrs, attr) && slices.Contains(m.Attrs, imap.MailboxAttrSubscribed) {
					delete(special, m.Mailbox)
				}
			}
			if len(special) > 0 || len(mboxes) != 6 {
				t.Errorf("LIST: %d mailboxes, missing special-use/subscribed: %v", len(mboxes), special)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("TLS without the CA", func(t *testing.T) {
		c, err := imapclient.DialTLS(srv.TLSAddr(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}})
		if err == nil {
			c.Close()
			t.Fatal("TLS handshake succeeded without trusting the server's certificate")
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c, err := imapclient.DialInsecure(srv.Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		begin := time.Now()
		err = c.Login(user, "wrong").Wait()
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("login with a wrong password: %v, want NO [AUTHENTICATIONFAILED]", err)
		}
		t.Logf("refused in %v", time.Since(begin))

		// No anvil penalty: after more failures a right password is
		// still accepted at once.
		c.Login(user, "wrong again").Wait()
		begin = time.Now()
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("login after failed ones took %v", d)
		}
	})
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	user, _ := srv.User(1)
	date := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	msgs := mailgen.Generate(1, 3)

	var uids []uint32
	for _, raw := range msgs {
		uids = append(uids, srv.Append(t, user, "INBOX", raw, []string{`\Seen`, "$Customer"}, date))
	}
	if got := srv.UIDs(t, user, "INBOX"); !slices.Equal(got, uids) {
		t.Fatalf("UIDs %v, appended %v", got, uids)
	}

	srv.SetFlags(t, user, "INBOX", uids[1], []string{`\Flagged`, "$Done"}, []string{`\Seen`})
	c := srv.Dial(t, user)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fetched, err := c.Fetch(imap.UIDSetNum(imap.UID(uids[0]), imap.UID(uids[1])), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	flags := map[uint32][]imap.Flag{}
	for i, m := range fetched {
		slices.Sort(m.Flags)
		flags[uint32(m.UID)] = m.Flags
		if !m.InternalDate.Equal(date) {
			t.Errorf("UID %d: INTERNALDATE %v, appended with %v", m.UID, m.InternalDate, date)
		}
		if body := m.FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(body, msgs[i]) {
			t.Errorf("UID %d: body differs from what was appended", m.UID)
		}
	}
	if want := []imap.Flag{"$Customer", imap.FlagSeen}; !slices.Equal(flags[uids[0]], want) {
		t.Errorf("UID %d flags %v, want %v", uids[0], flags[uids[0]], want)
	}
	if want := []imap.Flag{"$Customer", "$Done", imap.FlagFlagged}; !slices.Equal(flags[uids[1]], want) {
		t.Errorf("UID %d flags %v, want %v", uids[1], flags[uids[1]], want)
	}

	srv.Expunge(t, user, "INBOX", uids[0], uids[2])
	if got := srv.UIDs(t, user, "INBOX"); !slices.Equal(got, uids[1:2]) {
		t.Errorf("after expunge: UIDs %v, want %v", got, uids[1:2])
	}

	srv.CreateFolder(t, user, "Customers/ACME")
	uid := srv.Append(t, user, "Customers/ACME", msgs[0], nil, time.Time{})
	if got := srv.UIDs(t, user, "Customers/ACME"); !slices.Equal(got, []uint32{uid}) {
		t.Errorf("Customers/ACME: UIDs %v, want [%d]", got, uid)
	}
	srv.Expunge(t, user, "Customers/ACME")
	if got := srv.UIDs(t, user, "Customers/ACME"); len(got) != 0 {
		t.Errorf("Customers/ACME after emptying: UIDs %v", got)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	user, _ := srv.User(1)
	for _, raw := range mailgen.Generate(2, 5) {
		srv.Append(t, user, "Sent", raw, []string{`\Seen`}, time.Time{})
	}
	before := srv.Status(t, user, "Sent")
	uids := srv.UIDs(t, user, "Sent")

	live := srv.Dial(t, user)
	if _, err := live.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	port, tlsPort := srv.Port, srv.TLSPort
	srv.Restart()
	t.Logf("restart: start-up took %v", srv.StartupTime())

	if err := live.Noop().Wait(); err == nil {
		t.Error("a connection from before the restart still works")
	}
	if srv.Port != port || srv.TLSPort != tlsPort {
		t.Errorf("ports changed: %d/%d -> %d/%d", port, tlsPort, srv.Port, srv.TLSPort)
	}
	after := srv.Status(t, user, "Sent")
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext || *after.NumMessages != *before.NumMessages {
		t.Errorf("STATUS before %+v, after %+v", before, after)
	}
	if got := srv.UIDs(t, user, "Sent"); !slices.Equal(got, uids) {
		t.Errorf("UIDs %v after restart, %v before", got, uids)
	}

	srv.Stop()
	srv.Stop() // idempotent
	if _, err := imapclient.DialInsecure(srv.Addr(), &imapclient.Options{}); err == nil {
		t.Error("a stopped server accepts connections")
	}
	srv.Start()
	if got := srv.UIDs(t, user, "Sent"); !slices.Equal(got, uids) {
		t.Errorf("UIDs %v after stop/start, %v before", got, uids)
	}
}

func TestResetUIDValidity(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	user, _ := srv.User(1)
	g := &mailgen.Generator{Seed: 4}
	var oldUIDs []uint32
	for i := range 6 {
		oldUIDs = append(oldUIDs, srv.Append(t, user, "INBOX", g.Message(i), nil, time.Time{}))
	}
	srv.Expunge(t, user, "INBOX", oldUIDs[2])
	srv.SetFlags(t, user, "INBOX", oldUIDs[3], []string{`\Answered`, "$Lead"}, nil)
	before := srv.Status(t, user, "INBOX")
	ids := func() map[string][]imap.Flag {
		c := srv.Dial(t, user)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		out := map[string][]imap.Flag{}
		fetched, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			Flags: true, Envelope: true,
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fetched {
			flags := slices.DeleteFunc(m.Flags, func(f imap.Flag) bool { return f == `\Recent` })
			slices.Sort(flags)
			out[m.Envelope.MessageID] = flags
		}
		return out
	}
	contentBefore := ids()

	validity := srv.ResetUIDValidity(t, user, "INBOX")

	after := srv.Status(t, user, "INBOX")
	if after.UIDValidity == before.UIDValidity || after.UIDValidity != validity {
		t.Errorf("UIDVALIDITY %d -> %d (ResetUIDValidity said %d)", before.UIDValidity, after.UIDValidity, validity)
	}
	if *after.NumMessages != *before.NumMessages {
		t.Errorf("%d messages before, %d after", *before.NumMessages, *after.NumMessages)
	}
	newUIDs := srv.UIDs(t, user, "INBOX")
	for _, u := range newUIDs {
		if u < uint32(before.UIDNext) {
			t.Errorf("new UID %d below the old UIDNEXT %d (old UIDs %v, new %v)", u, before.UIDNext, oldUIDs, newUIDs)
		}
	}
	if contentAfter := ids(); !mapsEqual(contentBefore, contentAfter) {
		t.Errorf("messages/flags changed:\nbefore %v\nafter  %v", contentBefore, contentAfter)
	}
	t.Logf("UIDVALIDITY %d -> %d, UIDs %v -> %v", before.UIDValidity, after.UIDValidity, oldUIDs, newUIDs)

	// A folder other than INBOX, and a second reset.
	srv.Append(t, user, "Archive", g.Message(10), nil, time.Time{})
	v1 := srv.ResetUIDValidity(t, user, "Archive")
	v2 := srv.ResetUIDValidity(t, user, "Archive")
	if v2 <= v1 {
		t.Errorf("second reset: UIDVALIDITY %d -> %d", v1, v2)
	}
}

func mapsEqual(a, b map[string][]imap.Flag) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestBulkLoad(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, nil)
	user, _ := srv.User(3)
	msgs := mailgen.Generate(9, 1000)
	begin := time.Now()
	srv.BulkLoad(t, user, "INBOX", msgs)
	t.Logf("BulkLoad of %d messages took %v", len(msgs), time.Since(begin))

	c := srv.Dial(t, user)
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 1000 {
		t.Fatalf("SELECT shows %d messages, want 1000", data.NumMessages)
	}
	// UIDs follow the slice order, INTERNALDATE is the Date header and the
	// bytes are the generated ones.
	for _, seq := range []uint32{1, 500, 1000} {
		msgs, err := c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{
			UID: true, InternalDate: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fetch %d: %v", seq, err)
		}
		m, raw := msgs[0], mailgen.Message(9, int(seq-1))
		if body := m.FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(body, raw) {
			t.Errorf("message %d: body differs from mailgen.Message(9, %d)", seq, seq-1)
		}
		if m.RFC822Size != int64(len(raw)) {
			t.Errorf("message %d: RFC822.SIZE %d, want %d", seq, m.RFC822Size, len(raw))
		}
		if m.InternalDate.Year() != 2025 {
			t.Errorf("message %d: INTERNALDATE %v, want the Date header's", seq, m.InternalDate)
		}
	}

	// More on top, into a folder that does not exist yet.
	srv.BulkLoad(t, user, "Projects/2025", msgs[:10])
	srv.BulkLoad(t, user, "Projects/2025", msgs[10:30])
	if got := srv.UIDs(t, user, "Projects/2025"); len(got) != 30 || got[29] != 30 {
		t.Errorf("Projects/2025: UIDs %v", got)
	}
}

// BenchmarkBulkLoad10k measures loading 10,000 messages into a fresh server
// (not part of the normal test run: go test -run X -bench BulkLoad).
func BenchmarkBulkLoad10k(b *testing.B) {
	msgs := mailgen.Generate(1, 10000)
	for b.Loop() {
		b.StopTimer()
		srv := dovecot.Start(b, nil)
		user, _ := srv.User(1)
		b.StartTimer()
		srv.BulkLoad(b, user, "INBOX", msgs)
		b.StopTimer()
		srv.Stop()
		b.StartTimer()
	}
}
