package imapload

import (
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
)

func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(s.Options())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func login(t *testing.T, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitStats polls until ok(Stats) or fails after a few seconds: the
// server counts a session's end when it reads the client's hang-up.
func waitStats(t *testing.T, s *Server, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionCounts: sessions one after another never count as two at
// once; a second login of the same user while the first lasts does, and
// IDLE and appended messages are counted.
func TestSessionCounts(t *testing.T) {
	s := New(3, 2)
	addr := start(t, s)
	if st := s.Stats(); st.Messages != 6 || st.Users != 3 {
		t.Fatalf("at start: %+v, want 3 users, 6 messages", st)
	}
	for range 3 {
		c := login(t, addr, Username(0))
		c.Logout().Wait()
		c.Close()
		waitStats(t, s, "after logout", func(st Stats) bool { return st.Sessions == 0 })
	}
	a, b := login(t, addr, Username(1)), login(t, addr, Username(2))
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, s, "idling", func(st Stats) bool { return st.Idling == 1 })
	if st.MaxPerUser != 1 || st.Overlaps != 0 || st.UsersConnected != 2 || st.IdledUsers != 1 || st.Logins != 5 {
		t.Fatalf("one session per user: %+v", st)
	}
	if _, err := s.Append(1, "new"); err != nil {
		t.Fatal(err)
	}
	idle.Close()
	idle.Wait()
	twice := login(t, addr, Username(2))
	st = s.Stats()
	if st.MaxPerUser != 2 || st.Overlaps != 1 || len(st.OverlapUsers) != 1 || st.OverlapUsers[0] != Username(2) || st.Messages != 7 || st.Appended != 1 {
		t.Fatalf("two sessions of %s: %+v", Username(2), st)
	}
	for _, c := range []*imapclient.Client{a, b, twice} {
		c.Close()
	}
	waitStats(t, s, "all closed", func(st Stats) bool { return st.Sessions == 0 && st.Idling == 0 })
}

// TestIdleReportsEarlierMail: a message delivered between the client's
// last command and its IDLE is reported when IDLE begins, as Dovecot
// does, not at the next change.
func TestIdleReportsEarlierMail(t *testing.T) {
	s := New(1, 1)
	addr := start(t, s)
	exists := make(chan uint32, 4)
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(Username(0), Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(0, "between"); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idle.Close(); idle.Wait() }()
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS %d, want 2", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message delivered before IDLE was not reported")
	}
}
