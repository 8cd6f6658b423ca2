package imapsync

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/testpeer/heapwatch"
)

// Hostile servers (issue 10): whatever one server sends, the connection
// fails with a protocol error naming the server, and the heap stays
// bounded while the server keeps sending.

// heapBound is how far the heap may grow during one hostile exchange.
const heapBound = 64 << 20

// stream writes chunk to the client until it hangs up or n chunks went
// out, so the fake server stops by itself.
func stream(f *fakeConn, chunk string, n int) {
	for range n {
		if _, err := io.WriteString(f.conn, chunk); err != nil {
			return
		}
	}
}

// mustBeHostile checks the error and the heap of one hostile exchange.
func mustBeHostile(t *testing.T, err error, grew uint64, port int, says string) {
	t.Helper()
	t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
	e := connerr.As(err)
	if e == nil || e.Kind != connerr.Protocol {
		t.Fatalf("error = %v, want a connerr.Protocol", err)
	}
	if want := fmt.Sprintf("127.0.0.1:%d", port); e.Server != want {
		t.Errorf("Server = %q, want %q", e.Server, want)
	}
	if !strings.Contains(e.Message, "127.0.0.1") || !strings.Contains(e.Message, says) {
		t.Errorf("Message = %q, want the host and %q", e.Message, says)
	}
	t.Logf("message: %s", e.Message)
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB while the server kept sending, want < %d MiB", grew>>20, heapBound>>20)
	}
}

// 64 KiB of filler, sent again and again.
var filler = strings.Repeat("a", 64<<10)

func TestHostileListLiteral(t *testing.T) {
	// The probe's case: a folder name announced as 4 GB, then data.
	for _, tc := range []struct{ name, announce string }{
		{"4GB", `* LIST () "/" {4000000000}` + "\r\n"},
		{"literal+", `* LIST () "/" {4000000000+}` + "\r\n"},
		{"beyond int64", `* LIST () "/" {99999999999999999999999}` + "\r\n"},
		{"just over 1MiB", fmt.Sprintf(`* LIST () "/" {%d}`, maxLiteral+1) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := startFake(t, greetAndLogin(handlers{"LIST": func(f *fakeConn, tag, _ string) {
				f.sendRaw(tc.announce)
				stream(f, filler, 4096) // up to 256 MiB
			}}))
			c := dialFake(t, fakeConfig(port))
			var err error
			grew := heapwatch.Peak(func() { _, err = c.Folders(context.Background()) })
			mustBeHostile(t, err, grew, port, "a literal of")
			if _, err2 := c.Folders(context.Background()); connerr.As(err2) == nil {
				t.Errorf("the connection is still used after the limit: %v", err2)
			}
		})
	}
}

func TestHostileLineWithoutEnd(t *testing.T) {
	// A 200 MB line without CRLF, in a LIST answer, and in the greeting.
	port := startFake(t, greetAndLogin(handlers{"LIST": func(f *fakeConn, tag, _ string) {
		f.sendRaw(`* LIST () "/" `)
		stream(f, filler, 200<<20/len(filler))
	}}))
	c := dialFake(t, fakeConfig(port))
	var err error
	grew := heapwatch.Peak(func() { _, err = c.Folders(context.Background()) })
	mustBeHostile(t, err, grew, port, "a line longer than 64 KiB")

	port = startFake(t, func(f *fakeConn) {
		f.sendRaw("* OK ")
		stream(f, filler, 200<<20/len(filler))
	})
	grew = heapwatch.Peak(func() { _, err = Dial(context.Background(), fakeConfig(port)) })
	mustBeHostile(t, err, grew, port, "a line longer than 64 KiB")
}

// Neighbours that must keep working: a line just under the limit, a
// literal folder name, and a SEARCH line far longer than 64 KiB from a
// server without ESEARCH (Gmail).
func TestLongButLegalAnswers(t *testing.T) {
	longName := strings.Repeat("n", maxLine-100)
	var uids []string
	for i := 1; i <= 30000; i++ {
		uids = append(uids, fmt.Sprint(i))
	}
	port := startFake(t, greetAndLogin(handlers{
		"LOGIN": func(f *fakeConn, tag, _ string) {
			f.send(tag + " OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in")
		},
		"LIST": func(f *fakeConn, tag, _ string) {
			f.send(`* LIST () "/" INBOX`, `* LIST () "/" `+longName)
			f.sendRaw(`* LIST () "/" {9}` + "\r\nwith\"quot\r\n")
			f.send(tag + " OK done")
		},
		"UID SEARCH": func(f *fakeConn, tag, _ string) {
			f.send("* SEARCH "+strings.Join(uids, " "), tag+" OK done")
		},
	}))
	c := dialFake(t, fakeConfig(port))
	fs, err := c.Folders(context.Background())
	if err != nil || len(fs) != 3 {
		t.Fatalf("Folders = %d folders, %v; want 3", len(fs), err)
	}
	got, err := c.UIDs(context.Background())
	if err != nil || len(got) != len(uids) {
		t.Fatalf("UIDs = %d, %v; want %d (a %d KiB line)", len(got), err, len(uids), len(strings.Join(uids, " "))>>10)
	}
}

func TestHostileFetchLiteral(t *testing.T) {
	const limit = 1 << 20
	body := "Subject: fits\r\n\r\n" + strings.Repeat("x", limit-len("Subject: fits\r\n\r\n"))
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, args string) {
		if strings.HasPrefix(args, "1 ") {
			// Exactly the limit: delivered.
			f.sendRaw(fetchReply(1, 1, body) + "\r\n")
			f.send(tag + " OK done")
			return
		}
		f.sendRaw(fmt.Sprintf("* 2 FETCH (UID 2 RFC822.SIZE 4000000000 BODY[] {%d}\r\n", 4000000000))
		stream(f, filler, 4096)
	}}))
	cfg := fakeConfig(port)
	cfg.MaxMessageBytes = limit
	c := dialFake(t, cfg)
	var n int64
	err := c.Fetch(context.Background(), []uint32{1}, func(m *Fetched) error {
		var err error
		n, err = io.Copy(io.Discard, m.Body)
		return err
	})
	if err != nil || n != limit {
		t.Fatalf("a message of exactly the limit: read %d, %v", n, err)
	}
	grew := heapwatch.Peak(func() {
		err = c.Fetch(context.Background(), []uint32{2}, func(m *Fetched) error {
			_, err := io.Copy(io.Discard, m.Body)
			return err
		})
	})
	mustBeHostile(t, err, grew, port, "a message of 4000000000 bytes")
}

// A non-body literal in a FETCH answer (an ENVELOPE field) has the small
// limit, not the message's.
func TestHostileFetchEnvelopeLiteral(t *testing.T) {
	port := startFake(t, greetAndLogin(handlers{"UID FETCH": func(f *fakeConn, tag, _ string) {
		f.sendRaw(fmt.Sprintf("* 1 FETCH (UID 1 ENVELOPE (NIL {%d}\r\n", 50<<20))
		stream(f, filler, 1024)
	}}))
	c := dialFake(t, fakeConfig(port))
	var err error
	grew := heapwatch.Peak(func() {
		err = c.Fetch(context.Background(), []uint32{1}, func(m *Fetched) error { return nil })
	})
	mustBeHostile(t, err, grew, port, "a literal of 52428800 bytes")
}

func TestHostileEndlessFolderList(t *testing.T) {
	// A LIST answer of n folders, the special ones last.
	list := func(n int) func(*fakeConn) {
		return greetAndLogin(handlers{"LIST": func(f *fakeConn, tag, _ string) {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "* LIST () \"/\" folder%d\r\n", i)
				if b.Len() > 32<<10 {
					if _, err := io.WriteString(f.conn, b.String()); err != nil {
						return
					}
					b.Reset()
				}
			}
			b.WriteString("* LIST (\\Sent) \"/\" Sent\r\n* LIST () \"/\" INBOX\r\n")
			f.sendRaw(b.String())
			f.send(tag + " OK done")
		}})
	}
	// 300,000 folders (scaled here: 30 times MaxFolders): the first
	// MaxFolders are kept, and the special ones listed after them; memory
	// stays bounded.
	cfg := fakeConfig(0)
	cfg.MaxFolders = 1000
	port := startFake(t, list(30*cfg.MaxFolders))
	cfg.Port = port
	c := dialFake(t, cfg)
	var fs []mail.FolderInfo
	var err error
	grew := heapwatch.Peak(func() { fs, err = c.Folders(context.Background()) })
	if err != nil || len(fs) != cfg.MaxFolders+2 {
		t.Fatalf("Folders = %d, %v; want %d", len(fs), err, cfg.MaxFolders+2)
	}
	roles := map[mail.Role]bool{}
	for _, f := range fs {
		roles[f.Role] = true
	}
	if !roles[mail.RoleInbox] || !roles[mail.RoleSent] {
		t.Fatalf("the inbox or sent folder listed past the cap was left out")
	}
	if grew > heapBound {
		t.Fatalf("heap grew %d MiB reading %d folders", grew>>20, 30*cfg.MaxFolders)
	}
	// A list that goes on past endlessFolders times MaxFolders is taken for
	// endless.
	port = startFake(t, list(endlessFolders*cfg.MaxFolders+10))
	cfg.Port = port
	c = dialFake(t, cfg)
	grew = heapwatch.Peak(func() { _, err = c.Folders(context.Background()) })
	mustBeHostile(t, err, grew, port, "without end")
}
