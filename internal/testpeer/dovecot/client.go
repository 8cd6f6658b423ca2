package dovecot

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// password returns the password of a user made by Start.
func (s *Server) password(t testing.TB, username string) string {
	t.Helper()
	for i := 1; i <= s.users; i++ {
		if name, pass := s.User(i); name == username {
			return pass
		}
	}
	t.Fatalf("dovecot: unknown user %q (have user1..user%d)", username, s.users)
	return ""
}

// Dial returns a client logged in as username over plain IMAP (no TLS). It
// is logged out and closed when the test ends.
func (s *Server) Dial(t testing.TB, username string) *imapclient.Client {
	t.Helper()
	c, err := s.login(t, username)
	if err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() { logout(c) })
	return c
}

func (s *Server) login(t testing.TB, username string) (*imapclient.Client, error) {
	t.Helper()
	pass := s.password(t, username)
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(username, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", username, err)
	}
	return c, nil
}

func logout(c *imapclient.Client) {
	done := make(chan struct{})
	go func() {
		c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	c.Close()
}

// with runs fn on a fresh connection logged in as username, with folder
// selected unless it is "" (read-only when readOnly).
func (s *Server) with(t testing.TB, username, folder string, readOnly bool, fn func(c *imapclient.Client) error) {
	t.Helper()
	c, err := s.login(t, username)
	if err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	defer logout(c)
	if folder != "" {
		if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: readOnly}).Wait(); err != nil {
			t.Fatalf("dovecot: %s: select %q: %v", username, folder, err)
		}
	}
	if err := fn(c); err != nil {
		t.Fatalf("dovecot: %s %q: %v", username, folder, err)
	}
}

// Append stores raw in folder as another client would, with the given flags
// (e.g. `\Seen`, `$Forwarded`) and internal date (zero: now), and returns
// the UID Dovecot assigned (APPENDUID, RFC 4315).
func (s *Server) Append(t testing.TB, username, folder string, raw []byte, flags []string, date time.Time) (uid uint32) {
	t.Helper()
	s.with(t, username, "", false, func(c *imapclient.Client) error {
		cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: imapFlags(flags), Time: date})
		if _, err := cmd.Write(raw); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if data.UID == 0 {
			return fmt.Errorf("append: no APPENDUID in the reply")
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid
}

// SetFlags adds and removes flags on one message, as another client would.
func (s *Server) SetFlags(t testing.TB, username, folder string, uid uint32, add, remove []string) {
	t.Helper()
	s.with(t, username, folder, false, func(c *imapclient.Client) error {
		set := imap.UIDSetNum(imap.UID(uid))
		for _, change := range []struct {
			op    imap.StoreFlagsOp
			flags []string
		}{{imap.StoreFlagsAdd, add}, {imap.StoreFlagsDel, remove}} {
			if len(change.flags) == 0 {
				continue
			}
			store := &imap.StoreFlags{Op: change.op, Silent: true, Flags: imapFlags(change.flags)}
			if err := c.Store(set, store, nil).Close(); err != nil {
				return fmt.Errorf("store %v: %w", change.flags, err)
			}
		}
		return nil
	})
}

// Expunge deletes the messages with the given UIDs for good (STORE \Deleted,
// then UID EXPUNGE). Without UIDs it empties the folder.
func (s *Server) Expunge(t testing.TB, username, folder string, uids ...uint32) {
	t.Helper()
	s.with(t, username, folder, false, func(c *imapclient.Client) error {
		var set imap.UIDSet
		if len(uids) == 0 {
			set.AddRange(1, 0) // 1:*
		}
		for _, u := range uids {
			set.AddNum(imap.UID(u))
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(set, store, nil).Close(); err != nil {
			return fmt.Errorf("store \\Deleted: %w", err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("uid expunge: %w", err)
		}
		return nil
	})
}

// CreateFolder creates and subscribes a folder ("a/b" for a subfolder).
func (s *Server) CreateFolder(t testing.TB, username, folder string) {
	t.Helper()
	s.with(t, username, "", false, func(c *imapclient.Client) error {
		if err := c.Create(folder, nil).Wait(); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := c.Subscribe(folder).Wait(); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		return nil
	})
}

// UIDs lists the UIDs in folder, ascending.
func (s *Server) UIDs(t testing.TB, username, folder string) []uint32 {
	t.Helper()
	var uids []uint32
	s.with(t, username, folder, true, func(c *imapclient.Client) error {
		data, err := c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnAll: true}).Wait()
		if err != nil {
			return fmt.Errorf("uid search: %w", err)
		}
		for _, u := range data.AllUIDs() {
			uids = append(uids, uint32(u))
		}
		return nil
	})
	return uids
}

// Status returns the folder's STATUS: message count, UIDNEXT, UIDVALIDITY,
// HIGHESTMODSEQ.
func (s *Server) Status(t testing.TB, username, folder string) *imap.StatusData {
	t.Helper()
	var st *imap.StatusData
	s.with(t, username, "", false, func(c *imapclient.Client) error {
		var err error
		st, err = c.Status(folder, &imap.StatusOptions{
			NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: true,
		}).Wait()
		return err
	})
	return st
}

func imapFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		out = append(out, imap.Flag(f))
	}
	return out
}
