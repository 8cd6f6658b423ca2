package imapsync

import (
	"testing"

	"github.com/crmsync/crmsync/internal/mail"
)

func TestCursorAndIDRoundTrip(t *testing.T) {
	c := cursor{validity: 1700, next: 43, modseq: 1 << 40, below: 12}
	got, ok := parseCursor(c.encode())
	if !ok || got != c || c.encode() != "imap1:1700:43:1099511627776:12" {
		t.Fatalf("cursor %q parsed as %+v %v", c.encode(), got, ok)
	}
	for _, bad := range []mail.Cursor{"", "imap1:", "imap1:0:1:1:1", "imap1:1:2:3", "imap1:x:1:1:1", "imap1:1:4294967296:0:0", "graph:abc", "1:2:3:4"} {
		if _, ok := parseCursor(bad); ok {
			t.Errorf("cursor %q accepted", bad)
		}
	}
	if v, u, ok := ParseID(ID(7, 42)); !ok || v != 7 || u != 42 || ID(7, 42) != "7:42" {
		t.Fatalf("id %q → %d %d %v", ID(7, 42), v, u, ok)
	}
	for _, bad := range []mail.ID{"", "7", "7:0", "x:1", "7:-1", "fwd:abc", "7:4294967296"} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("id %q accepted", bad)
		}
	}
}
