package dovecot

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// bulkSeq keeps Maildir file names unique across BulkLoad calls.
var bulkSeq atomic.Uint64

// BulkLoad adds many messages to folder fast, bypassing IMAP: it writes
// them as Maildir files (tmp/, then renamed into cur/, owned by the mail
// user, unflagged, the file time set from the Date header so that it
// becomes the INTERNALDATE) and then has Dovecot sync the folder, which
// gives them UIDs in slice order. The folder is created if missing.
//
// Messages are stored byte for byte; CRLF line ends are best, since IMAP
// serves those unchanged.
func (s *Server) BulkLoad(t testing.TB, username, folder string, msgs [][]byte) {
	t.Helper()
	s.password(t, username) // fail early on an unknown user
	dir := s.folderDir(username, folder)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		s.CreateFolder(t, username, folder)
	}
	before := s.Status(t, username, folder)

	now := time.Now()
	seq := bulkSeq.Add(1)
	pid := os.Getpid()
	for i, raw := range msgs {
		// "<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>:2,": Dovecot
		// orders new files by the seconds and M fields, uses S as the
		// physical size and W as RFC822.SIZE (CRLF line ends).
		name := fmt.Sprintf("%d.M%06dP%dQ%d.crmsync-test,S=%d,W=%d:2,",
			now.Unix(), i, pid, seq, len(raw), len(raw)+bytes.Count(raw, []byte("\n"))-bytes.Count(raw, []byte("\r\n")))
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			t.Fatalf("dovecot: bulk load: %v", err)
		}
		if err := os.Lchown(tmp, s.mailUID, s.mailGID); err != nil {
			t.Fatalf("dovecot: bulk load: %v", err)
		}
		if d, ok := headerDate(raw); ok {
			os.Chtimes(tmp, d, d)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "cur", name)); err != nil {
			t.Fatalf("dovecot: bulk load: %v", err)
		}
	}

	want := *before.NumMessages + uint32(len(msgs))
	if got := s.syncCount(t, username, folder); got == want {
		return
	}
	// Dovecot trusts an unchanged cur/ mtime; make it look again.
	if err := s.doveadmRun("force-resync", "-u", username, folder); err != nil {
		t.Fatalf("dovecot: bulk load: %v", err)
	}
	if got := s.syncCount(t, username, folder); got != want {
		t.Fatalf("dovecot: bulk load %s %q: %d messages after loading %d, want %d", username, folder, got, len(msgs), want)
	}
}

// syncCount SELECTs the folder, which syncs it, and returns EXISTS.
func (s *Server) syncCount(t testing.TB, username, folder string) uint32 {
	t.Helper()
	var n uint32
	s.with(t, username, "", false, func(c *imapclient.Client) error {
		data, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return err
		}
		n = data.NumMessages
		return nil
	})
	return n
}

// doveadmRun runs doveadm against this server's configuration.
func (s *Server) doveadmRun(args ...string) error {
	if s.doveadm == "" {
		return errNoDoveadm
	}
	out, err := exec.Command(s.doveadm, append([]string{"-c", s.conf}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("doveadm %v: %v: %s", args, err, out)
	}
	return nil
}

// headerDate finds the Date header of a raw message.
func headerDate(raw []byte) (time.Time, bool) {
	end := bytes.Index(raw, []byte("\n\n"))
	if e := bytes.Index(raw, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	if end < 0 {
		end = len(raw)
	}
	for _, line := range bytes.Split(raw[:end], []byte("\n")) {
		if len(line) > 5 && bytes.EqualFold(line[:5], []byte("date:")) {
			d, err := mail.ParseDate(string(bytes.TrimSpace(line[5:])))
			return d, err == nil
		}
	}
	return time.Time{}, false
}
