package dovecot

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ResetUIDValidity makes Dovecot forget the folder's UIDs, as after a
// server-side restore or rebuild: the same messages (with their flags) come
// back under a new, larger UIDVALIDITY and new UIDs, all at or above the old
// UIDNEXT, so no old UID names any message any more (RFC 9051 section 2.3.1.1).
//
// The server is restarted to do it (live connections are cut). It stops,
// deletes the folder's dovecot-uidlist and index files and the mailbox list
// index, writes a uidlist header holding only the new UIDVALIDITY and the old
// UIDNEXT, and starts again; the next sync finds every Maildir file
// unknown and numbers it afresh. (doveadm mailbox update --uid-validity only
// changes the number and keeps the UIDs.) It returns the new UIDVALIDITY.
func (s *Server) ResetUIDValidity(t testing.TB, username, folder string) uint32 {
	t.Helper()
	before := s.Status(t, username, folder)
	dir := s.folderDir(username, folder)
	uidlist := filepath.Join(dir, "dovecot-uidlist")
	guid := uidlistGUID(uidlist)

	newValidity := uint32(time.Now().Unix())
	if newValidity <= before.UIDValidity {
		newValidity = before.UIDValidity + 1
	}

	s.Stop()
	remove := func(dir, prefix string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("dovecot: %v", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					t.Fatalf("dovecot: %v", err)
				}
			}
		}
	}
	remove(dir, "dovecot-uidlist")
	remove(dir, "dovecot.index")
	// The list index caches every folder's UIDVALIDITY for STATUS and LIST.
	remove(s.mailRoot(username), "dovecot.list.index")

	// Version 3 uidlist header: V uidvalidity, N next uid, G mailbox GUID
	// (kept, so only the numbering changes).
	header := fmt.Sprintf("3 V%d N%d", newValidity, before.UIDNext)
	if guid != "" {
		header += " G" + guid
	}
	if err := os.WriteFile(uidlist, []byte(header+"\n"), 0o600); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	if err := os.Lchown(uidlist, s.mailUID, s.mailGID); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	s.Start()

	after := s.Status(t, username, folder)
	if after.UIDValidity != newValidity || *after.NumMessages != *before.NumMessages {
		t.Fatalf("dovecot: ResetUIDValidity %s %q: UIDVALIDITY %d -> %d (want %d), messages %d -> %d",
			username, folder, before.UIDValidity, after.UIDValidity, newValidity, *before.NumMessages, *after.NumMessages)
	}
	return newValidity
}

// uidlistGUID returns the G field of a dovecot-uidlist header, or "".
func uidlistGUID(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	for _, field := range strings.Fields(line) {
		if g, ok := strings.CutPrefix(field, "G"); ok {
			return g
		}
	}
	return ""
}
