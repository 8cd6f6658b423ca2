package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeKeyFile writes text at a new path in a temporary directory with mode.
func writeKeyFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crmsync.db.key")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func b64(k Key) string { return base64.StdEncoding.EncodeToString(k.Secret[:]) }

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey("k1", 1), testKey("k2", 2)
	bare := testKey("", 3)
	for name, tc := range map[string]struct {
		text    string
		ids     []string
		wantErr string
	}{
		"one key":                 {text: FormatKeyLine(k1) + "\n", ids: []string{"k1"}},
		"no final newline":        {text: FormatKeyLine(k1), ids: []string{"k1"}},
		"comments, blanks, CRLF":  {text: "# keys\r\n\r\n" + FormatKeyLine(k1) + "\r\n  # old above, new below\n\t" + FormatKeyLine(k2) + "  \n", ids: []string{"k1", "k2"}},
		"bare key":                {text: b64(bare) + "\n", ids: []string{deriveKeyID(bare.Secret)}},
		"unpadded base64":         {text: "k1 " + strings.TrimRight(b64(k1), "=") + "\n", ids: []string{"k1"}},
		"tabs between fields":     {text: "k1\t" + b64(k1), ids: []string{"k1"}},
		"empty":                   {text: "", wantErr: "holds no key"},
		"only comments":           {text: "# nothing\n\n", wantErr: "holds no key"},
		"three fields on line 3":  {text: "# c\n" + FormatKeyLine(k1) + "\nk2 " + b64(k2) + " extra\n", wantErr: `line 3: want "<key id> <base64 key>"`},
		"bad base64 on line 2":    {text: FormatKeyLine(k1) + "\nk2 not*base64!\n", wantErr: "line 2: key is not valid base64"},
		"short key on line 1":     {text: "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: "line 1: key is 16 bytes, want 32"},
		"zero key":                {text: "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 32)), wantErr: "line 1: key is all zeros"},
		"bad key id":              {text: "k/1 " + b64(k1), wantErr: `line 1: invalid key id "k/1"`},
		"same id, different keys": {text: FormatKeyLine(k1) + "\nk1 " + b64(k2), wantErr: "key id k1 is given twice"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeKeyFile(t, tc.text, 0o600)
			kr, err := LoadFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "secret: ") || !strings.Contains(err.Error(), path) {
					t.Errorf("message %q lacks the prefix or the path", err)
				}
				for _, k := range []Key{k1, k2} {
					if strings.Contains(err.Error(), b64(k)[:20]) {
						t.Errorf("message %q shows a key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(kr.KeyIDs()) != fmt.Sprint(tc.ids) || kr.ActiveKeyID() != tc.ids[len(tc.ids)-1] {
				t.Fatalf("ids %v active %q, want %v", kr.KeyIDs(), kr.ActiveKeyID(), tc.ids)
			}
			if kr.File() != path {
				t.Fatalf("File() = %q", kr.File())
			}
		})
	}
}

func TestKeyFilePermissions(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o644, false}, {0o640, false}, {0o604, false}, {0o620, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			path := writeKeyFile(t, NewKeyLine()+"\n", tc.mode)
			_, err := LoadFile(path)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Fatalf("err = %v, want a chmod 600 hint", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey("k1", 1), testKey("k2", 2)
	bare := testKey("", 3)
	file := writeKeyFile(t, FormatKeyLine(k1)+"\n", 0o600)
	for name, tc := range map[string]struct {
		env        map[string]string
		ids        []string
		source     string
		wantErr    string
		wantErrIs  error
		fileBacked bool
	}{
		"nothing":           {env: nil, wantErrIs: ErrNoKey},
		"blank variable":    {env: map[string]string{EnvKey: " \n"}, wantErrIs: ErrNoKey},
		"one line":          {env: map[string]string{EnvKey: FormatKeyLine(k1)}, ids: []string{"k1"}, source: "environment variable " + EnvKey},
		"newlines":          {env: map[string]string{EnvKey: FormatKeyLine(k1) + "\n" + FormatKeyLine(k2) + "\n"}, ids: []string{"k1", "k2"}},
		"commas":            {env: map[string]string{EnvKey: FormatKeyLine(k1) + "," + FormatKeyLine(k2)}, ids: []string{"k1", "k2"}},
		"commas, spaces":    {env: map[string]string{EnvKey: FormatKeyLine(k1) + " , " + FormatKeyLine(k2) + ","}, ids: []string{"k1", "k2"}},
		"bare key":          {env: map[string]string{EnvKey: b64(bare)}, ids: []string{deriveKeyID(bare.Secret)}},
		"bare and named":    {env: map[string]string{EnvKey: b64(bare) + "," + FormatKeyLine(k2)}, ids: []string{deriveKeyID(bare.Secret), "k2"}},
		"bad entry 2":       {env: map[string]string{EnvKey: FormatKeyLine(k1) + ",k2 AAAA"}, wantErr: EnvKey + " entry 2: key is 3 bytes"},
		"file":              {env: map[string]string{EnvKeyFile: file}, ids: []string{"k1"}, source: "key file " + file, fileBacked: true},
		"missing file":      {env: map[string]string{EnvKeyFile: file + ".nope"}, wantErrIs: fs.ErrNotExist},
		"both":              {env: map[string]string{EnvKey: FormatKeyLine(k1), EnvKeyFile: file}, wantErr: "keep only one"},
		"no key in entries": {env: map[string]string{EnvKey: ",,"}, wantErr: EnvKey + " holds no key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kr, source, err := Load(func(k string) string { return tc.env[k] })
			switch {
			case tc.wantErrIs != nil:
				if !errors.Is(err, tc.wantErrIs) {
					t.Fatalf("err = %v, want %v", err, tc.wantErrIs)
				}
				return
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if fmt.Sprint(kr.KeyIDs()) != fmt.Sprint(tc.ids) {
				t.Fatalf("ids %v, want %v", kr.KeyIDs(), tc.ids)
			}
			if tc.source != "" && source != tc.source {
				t.Fatalf("source %q, want %q", source, tc.source)
			}
			if (kr.File() != "") != tc.fileBacked {
				t.Fatalf("File() = %q", kr.File())
			}
		})
	}
}

func TestGenerateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crmsync.db.key")
	kr, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	ct, _ := kr.Seal([]byte("pw"), CredentialAD("c"))
	again, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := again.Open(ct, CredentialAD("c")); err != nil || string(pt) != "pw" {
		t.Fatalf("reloaded file: Open = %q, %v", pt, err)
	}
	before, _ := os.ReadFile(path)
	if _, err := GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyFile: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("second GenerateKeyFile changed the file")
	}
}

func TestAppendNewKey(t *testing.T) {
	t.Parallel()
	k1 := testKey("k1", 1)
	orig := "# my comment\n" + FormatKeyLine(k1) // no final newline
	path := writeKeyFile(t, orig, 0o600)
	kid, err := AppendNewKey(path)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(text), orig+"\n") || !strings.HasSuffix(string(text), "\n") {
		t.Fatalf("file not appended to:\n%s", text)
	}
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveKeyID() != kid || fmt.Sprint(kr.KeyIDs()) != fmt.Sprint([]string{"k1", kid}) {
		t.Fatalf("after append: ids %v active %q, new %q", kr.KeyIDs(), kr.ActiveKeyID(), kid)
	}
	fi, _ := os.Stat(path)
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}

	// A held lock refuses a second writer instead of losing its key.
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendNewKey(path); err == nil || !strings.Contains(err.Error(), "another key rotation") {
		t.Fatalf("with lock held: %v", err)
	}
	// So does a file others can read, leaving it as it is.
	os.Remove(path + ".lock")
	os.Chmod(path, 0o644)
	if _, err := AppendNewKey(path); runtime.GOOS != "windows" && (err == nil || !strings.Contains(err.Error(), "chmod 600")) {
		t.Fatalf("0644 file: %v", err)
	}
	if _, err := AppendNewKey(path + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// Concurrent appends each keep every key: none is lost to a lost update.
func TestAppendNewKeyConcurrent(t *testing.T) {
	t.Parallel()
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	var mu sync.Mutex
	var added []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				kid, err := AppendNewKey(path)
				if err == nil {
					mu.Lock()
					added = append(added, kid)
					mu.Unlock()
					return
				}
				if !strings.Contains(err.Error(), "another key rotation") {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range kr.KeyIDs() {
		have[id] = true
	}
	for _, id := range added {
		if !have[id] {
			t.Errorf("key %s lost", id)
		}
	}
}

// The no-downtime path: a server's keyring meets a row sealed under a key
// that rotation (another process) appended to the file after the server
// read it.
func TestOpenReloadsFileForUnknownKey(t *testing.T) {
	t.Parallel()
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	server, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := server.ActiveKeyID()
	oldCT, _ := server.Seal([]byte("old row"), CredentialAD("a"))

	newKid, err := AppendNewKey(path)
	if err != nil {
		t.Fatal(err)
	}
	rotator, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := rotator.Seal([]byte("new row"), CredentialAD("b"))
	if kid, _ := KeyID(ct); kid != newKid {
		t.Fatalf("rotator sealed under %q, want %q", kid, newKid)
	}
	if pt, err := server.Open(ct, CredentialAD("b")); err != nil || string(pt) != "new row" {
		t.Fatalf("server Open after rotation = %q, %v", pt, err)
	}
	if server.ActiveKeyID() != newKid {
		t.Fatalf("server active key %q, want %q", server.ActiveKeyID(), newKid)
	}
	if pt, err := server.Open(oldCT, CredentialAD("a")); err != nil || string(pt) != "old row" {
		t.Fatalf("old row after reload = %q, %v", pt, err)
	}
	if oldKid == newKid {
		t.Fatal("AppendNewKey reused the key id")
	}
}

// Seal follows the file too, so that a running server stops sealing under
// the old key as soon as rotation appends a new one.
func TestSealFollowsFile(t *testing.T) {
	t.Parallel()
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	server, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	newKid, err := AppendNewKey(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := server.Seal([]byte("pw"), nil)
	if kid, _ := KeyID(ct); kid != newKid {
		t.Fatalf("sealed under %q, want the appended %q", kid, newKid)
	}
}

// A broken key file leaves a running keyring with the keys it had, and
// unknown ids re-read an unchanged file at most once per interval.
func TestReloadFailureAndRateLimit(t *testing.T) {
	t.Parallel()
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	kr.now = func() time.Time { return clock }
	kr.lastRead = clock
	active := kr.ActiveKeyID()
	stranger, _ := mustKeyring(t, testKey("stranger", 9)).Seal([]byte("x"), nil)

	reads := func() int { kr.reloadMu.Lock(); defer kr.reloadMu.Unlock(); return kr.reads }
	for range 5 {
		if _, err := kr.Open(stranger, nil); !errors.Is(err, ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if reads() != 1 {
		t.Fatalf("unchanged file read %d times within the interval", reads())
	}
	clock = clock.Add(2 * minReloadInterval)
	kr.Open(stranger, nil)
	if reads() != 2 {
		t.Fatalf("reads = %d after the interval, want 2", reads())
	}

	os.Chmod(path, 0o644)
	if runtime.GOOS != "windows" {
		clock = clock.Add(2 * minReloadInterval)
		_, err := kr.Open(stranger, nil)
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.ReloadErr == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Open with a bad file: %v", err)
		}
	}
	if err := kr.Reload(); runtime.GOOS != "windows" && err == nil {
		t.Fatal("Reload of a 0644 file succeeded")
	}
	if ct, err := kr.Seal([]byte("still works"), nil); err != nil {
		t.Fatal(err)
	} else if kid, _ := KeyID(ct); kid != active {
		t.Fatalf("sealed under %q, want the held key %q", kid, active)
	}
	if err := mustKeyring(t, testKey("a", 1)).Reload(); err == nil {
		t.Fatal("Reload of a keyring without a file succeeded")
	}
}

// Seal and Open from many goroutines while the file is rotated under them.
func TestConcurrentUseDuringRotation(t *testing.T) {
	t.Parallel()
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	server, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			ad := CredentialAD(fmt.Sprint("c", g))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pt := fmt.Sprint("pw", g, i)
				ct, err := server.Seal([]byte(pt), ad)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := server.Open(ct, ad); err != nil || string(got) != pt {
					t.Errorf("Open = %q, %v", got, err)
					return
				}
			}
		})
	}
	for range 5 {
		if _, err := AppendNewKey(path); err != nil {
			t.Error(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	server.Seal(nil, nil) // in case no goroutine sealed after the last append
	if len(server.KeyIDs()) != 6 {
		t.Fatalf("server holds %v, want 6 keys", server.KeyIDs())
	}
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "crmsync.db")
	noEnv := func(string) string { return "" }

	if _, _, _, err := LoadOrCreate(noEnv, db, false); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), KeyFileFor(db)) {
		t.Fatalf("serve before init: %v", err)
	}
	kr, source, created, err := LoadOrCreate(noEnv, db, true)
	if err != nil || !created || source != "key file "+KeyFileFor(db) || kr.File() != KeyFileFor(db) {
		t.Fatalf("init: %v %q %v %v", kr, source, created, err)
	}
	kr2, _, created, err := LoadOrCreate(noEnv, db, true)
	if err != nil || created || kr2.ActiveKeyID() != kr.ActiveKeyID() {
		t.Fatalf("second init: created %v, %v", created, err)
	}
	if _, _, _, err := LoadOrCreate(noEnv, "", true); !errors.Is(err, ErrNoKey) {
		t.Fatalf("postgres without key: %v", err)
	}
	env := func(k string) string {
		if k == EnvKey {
			return FormatKeyLine(testKey("envkey", 4))
		}
		return ""
	}
	kr3, _, created, err := LoadOrCreate(env, db, true)
	if err != nil || created || kr3.ActiveKeyID() != "envkey" {
		t.Fatalf("environment wins over the default file: %v %v", kr3.KeyIDs(), err)
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add("# c\n" + FormatKeyLine(testKey("k1", 1)) + "\n" + NewKeyLine())
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("k1 k2 k3\n\n#")
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := parseKeyFile(text, "f")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if _, err := newKeyset(keys); err != nil && !strings.HasPrefix(err.Error(), "secret: ") {
			t.Fatal(err)
		}
	})
}
