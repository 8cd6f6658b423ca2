package mimeparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// genMailbox returns the path of the shared peers kit's mail generator
// (gen_mailbox.py: realistic mail in many scripts with ~0.7% deliberately
// malformed messages), or skips the test when it or python3 is missing.
// CRMSYNC_GEN_MAILBOX overrides the path.
func genMailbox(tb testing.TB) (python, script string) {
	tb.Helper()
	script = os.Getenv("CRMSYNC_GEN_MAILBOX")
	if script == "" {
		script = "/work/shared/peers/gen_mailbox.py"
	}
	if _, err := os.Stat(script); err != nil {
		tb.Skipf("mail generator not found (set CRMSYNC_GEN_MAILBOX): %v", err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		tb.Skip("python3 not found")
	}
	return python, script
}

// corpus generates n messages (Maildir) once per test binary and run;
// TestMain removes the directories.
var corpus struct {
	sync.Mutex
	files map[int][]string
	dirs  []string
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range corpus.dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func genCorpus(tb testing.TB, n int) []string {
	tb.Helper()
	python, script := genMailbox(tb)
	corpus.Lock()
	defer corpus.Unlock()
	if f, ok := corpus.files[n]; ok {
		return f
	}
	dir, err := os.MkdirTemp("", "mimeparse-corpus-")
	if err != nil {
		tb.Fatal(err)
	}
	// Not tb.TempDir: the corpus outlives the test that asks for it first.
	corpus.dirs = append(corpus.dirs, dir)
	cmd := exec.Command(python, script, "--count", strconv.Itoa(n), "--maildir", dir, "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("%s: %v\n%s", script, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	sort.Strings(files)
	if len(files) != n {
		tb.Fatalf("generated %d messages, want %d", len(files), n)
	}
	if corpus.files == nil {
		corpus.files = map[int][]string{}
	}
	corpus.files[n] = files
	return files
}

// TestCorpus parses 2,000 generated messages: none fails, nearly all have
// a sender and a body, the deliberately malformed ones carry warnings, and
// every attachment can be fetched again by index with the same size.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 2,000 messages")
	}
	files := genCorpus(t, 2000)
	var withFrom, withText, withWarnings, attachments int
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := Parse(bytes.NewReader(raw), nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sum := sha256.Sum256(raw)
		if m.Size != int64(len(raw)) || m.Hash != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: size %d hash %s", f, m.Size, m.Hash)
		}
		for _, w := range m.Warnings {
			if strings.HasPrefix(w, "internal error") {
				t.Errorf("%s: %s", f, w)
			}
		}
		if len(m.From) > 0 && m.From[0].Email != "" {
			withFrom++
		}
		if strings.TrimSpace(m.Text) != "" {
			withText++
		}
		if len(m.Warnings) > 0 {
			withWarnings++
			t.Logf("%s: %q", filepath.Base(f), m.Warnings)
		}
		attachments += len(m.Attachments)
		if i%10 == 0 { // the full check on a tenth: it parses each message again per attachment
			parseChecked(t, raw, &Options{KeepAttachmentsUnder: 64 << 10})
		}
	}
	t.Logf("%d messages: %d with From, %d with text, %d with warnings, %d attachments",
		len(files), withFrom, withText, withWarnings, attachments)
	if withFrom*100 <= len(files)*99 {
		t.Errorf("only %d of %d messages have a From address", withFrom, len(files))
	}
	if withText*100 <= len(files)*97 {
		t.Errorf("only %d of %d messages have text", withText, len(files))
	}
	if withWarnings > len(files)/20 {
		t.Errorf("%d of %d messages have warnings: the generator makes ~1%% malformed", withWarnings, len(files))
	}
}
