package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The environment variables keys are read from.
const (
	EnvKey     = "CRMSYNC_SECRET_KEY"
	EnvKeyFile = "CRMSYNC_SECRET_KEY_FILE"
)

// maxKeyFileSize bounds what is read from a key file; a real one holds a few
// lines.
const maxKeyFileSize = 1 << 20

const keyFileHeader = `# crmsync secret keys: one "<key id> <base64 key>" per line. The last key seals
# new secrets; every key opens. Keep a key until "crmsync keys usage" shows no
# credential uses it. Keep this file mode 0600, and back it up apart from the
# database: without it the stored credentials cannot be read.
`

// FormatKeyLine is k as a line of a key file or an entry of
// CRMSYNC_SECRET_KEY: "<key id> <base64 key>".
func FormatKeyLine(k Key) string {
	return k.ID + " " + base64.StdEncoding.EncodeToString(k.Secret[:])
}

// NewKeyLine returns a fresh random key as a line to add to
// CRMSYNC_SECRET_KEY (crmsync keys generate).
func NewKeyLine() string { return FormatKeyLine(NewKey()) }

// parseKeyEntry reads "<key id> <base64 key>" or a bare base64 key. Errors
// never quote the entry: it holds a key.
func parseKeyEntry(entry string) (Key, error) {
	var k Key
	var b64 string
	switch f := strings.Fields(entry); len(f) {
	case 1:
		b64 = f[0]
	case 2:
		k.ID, b64 = f[0], f[1]
		if !validKeyID(k.ID) {
			return k, fmt.Errorf("invalid key id %q: use 1 to %d letters, digits, '-', '_' or '.'", k.ID, maxKeyIDLen)
		}
	default:
		return k, errors.New(`want "<key id> <base64 key>"`)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return k, errors.New("key is not valid base64")
	}
	if len(raw) != KeySize {
		return k, fmt.Errorf("key is %d bytes, want %d (crmsync keys generate makes one)", len(raw), KeySize)
	}
	copy(k.Secret[:], raw)
	if k.Secret == ([KeySize]byte{}) {
		return k, errors.New("key is all zeros")
	}
	if k.ID == "" {
		k.ID = deriveKeyID(k.Secret)
	}
	return k, nil
}

// parseKeys reads entries, skipping blank ones and # comments. where names
// entry n (from 1) in errors.
func parseKeys(entries []string, where func(n int) string) ([]Key, error) {
	var keys []Key
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		k, err := parseKeyEntry(e)
		if err != nil {
			return nil, fmt.Errorf("secret: %s: %w", where(i+1), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseKeyFile reads the text of a key file.
func parseKeyFile(text, path string) ([]Key, error) {
	keys, err := parseKeys(strings.Split(text, "\n"), func(n int) string {
		return "key file " + path + " line " + strconv.Itoa(n)
	})
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("secret: key file %s holds no key", path)
	}
	return keys, err
}

// parseKeyEnv reads the value of CRMSYNC_SECRET_KEY, whose entries are
// separated by newlines or commas (a comma fits where a newline does not,
// as in a docker run -e flag).
func parseKeyEnv(value string) ([]Key, error) {
	entries := strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == ',' })
	keys, err := parseKeys(entries, func(n int) string { return EnvKey + " entry " + strconv.Itoa(n) })
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("secret: %s holds no key", EnvKey)
	}
	return keys, err
}

// Load returns the keyring configured in the environment: the keys in
// CRMSYNC_SECRET_KEY, or in the file named by CRMSYNC_SECRET_KEY_FILE. Setting
// both is refused: a rotation would append to a file that is then ignored.
// source describes where the keys came from, for a startup log line. env is
// os.Getenv outside tests. With neither variable set the error is ErrNoKey.
func Load(env func(string) string) (kr *Keyring, source string, err error) {
	value, file := env(EnvKey), env(EnvKeyFile)
	hasValue := strings.TrimSpace(value) != ""
	switch {
	case hasValue && file != "":
		return nil, "", fmt.Errorf("secret: both %s and %s are set: keep only one", EnvKey, EnvKeyFile)
	case hasValue:
		keys, err := parseKeyEnv(value)
		if err != nil {
			return nil, "", err
		}
		kr, err := NewKeyring(keys...)
		if err != nil {
			return nil, "", err
		}
		return kr, "environment variable " + EnvKey, nil
	case file != "":
		kr, err := LoadFile(file)
		if err != nil {
			return nil, "", err
		}
		return kr, "key file " + file, nil
	}
	return nil, "", ErrNoKey
}

// KeyFileFor is the key file that crmsync init creates beside a SQLite
// database when no key is configured.
func KeyFileFor(dbPath string) string { return dbPath + ".key" }

// LoadOrCreate is Load with the SQLite default. When no key is configured
// and dbPath (a SQLite database file; "" for PostgreSQL) is given, it uses
// KeyFileFor(dbPath), and creates that file when create is set (crmsync
// init). created reports a new file: the caller must say so, because the
// file must be backed up apart from the database.
func LoadOrCreate(env func(string) string, dbPath string, create bool) (kr *Keyring, source string, created bool, err error) {
	kr, source, err = Load(env)
	if !errors.Is(err, ErrNoKey) || dbPath == "" {
		return kr, source, false, err
	}
	path := KeyFileFor(dbPath)
	source = "key file " + path
	kr, err = LoadFile(path)
	switch {
	case err == nil:
		return kr, source, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", false, err
	case !create:
		return nil, "", false, fmt.Errorf("%w (nor is there a key file %s; crmsync init creates one)", ErrNoKey, path)
	}
	kr, err = GenerateKeyFile(path)
	if err != nil {
		return nil, "", false, err
	}
	return kr, source, true, nil
}

// readKeyFile reads and parses a key file, refusing one that others can
// read. The mode is checked on the open file, so it is the mode of what was
// read.
func readKeyFile(path string) (text string, keys []Key, info os.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, fmt.Errorf("secret: key file: %w", err)
	}
	defer f.Close()
	info, err = f.Stat()
	if err != nil {
		return "", nil, nil, fmt.Errorf("secret: key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", nil, info, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	// Windows has no such mode bits; its ACLs are the administrator's job.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return "", nil, info, fmt.Errorf("secret: key file %s can be read or written by group or others (mode %04o): run chmod 600 %s (for a mounted secret, give it mode 0400)",
			path, info.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", nil, info, fmt.Errorf("secret: key file: %w", err)
	}
	if len(b) > maxKeyFileSize {
		return "", nil, info, fmt.Errorf("secret: key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	keys, err = parseKeyFile(string(b), path)
	return string(b), keys, info, err
}

// LoadFile returns the keyring in the key file at path: lines of
// "<key id> <base64 key>" (a bare base64 key gets an id derived from it),
// blank lines and # comments, the last key active. The file must not be
// readable by group or others. The keyring follows later changes to the file.
func LoadFile(path string) (*Keyring, error) {
	_, keys, info, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	ks, err := newKeyset(keys)
	if err != nil {
		return nil, fmt.Errorf("%w (in key file %s)", err, path)
	}
	return &Keyring{keys: ks, file: path, fileInfo: info, lastRead: time.Now(), reads: 1, now: time.Now}, nil
}

// Reload re-reads the key file now (on SIGHUP, say). Keyrings follow their
// file on their own; this is for a caller that must see a change at once.
func (kr *Keyring) Reload() error {
	if kr.file == "" {
		return errors.New("secret: keyring was not loaded from a file")
	}
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	return kr.readLocked()
}

// refresh re-reads the key file if it changed on disk since it was last
// read, or, with force, if it was last read at least minReloadInterval ago
// (for a change that left size, time and inode alone). Keyrings not loaded
// from a file have nothing to refresh.
func (kr *Keyring) refresh(force bool) error {
	if kr.file == "" {
		return nil
	}
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	fi, err := os.Stat(kr.file)
	if err != nil {
		return fmt.Errorf("secret: key file: %w", err)
	}
	old := kr.fileInfo
	changed := old == nil || !os.SameFile(fi, old) || fi.Size() != old.Size() ||
		!fi.ModTime().Equal(old.ModTime()) || fi.Mode() != old.Mode()
	if !changed && !(force && kr.now().Sub(kr.lastRead) >= minReloadInterval) {
		return nil
	}
	return kr.readLocked()
}

// readLocked reads the key file and swaps in its keys. On failure the keys
// already held stay in use: a half-edited or mis-permissioned file must not
// stop a running server. reloadMu is held.
func (kr *Keyring) readLocked() error {
	_, keys, info, err := readKeyFile(kr.file)
	kr.reads++
	kr.lastRead = kr.now()
	if info != nil {
		// Remember even a bad file, so Seal does not re-read it until it
		// changes again.
		kr.fileInfo = info
	}
	if err != nil {
		return err
	}
	ks, err := newKeyset(keys)
	if err != nil {
		return fmt.Errorf("%w (in key file %s)", err, kr.file)
	}
	kr.mu.Lock()
	kr.keys = ks
	kr.mu.Unlock()
	return nil
}

// GenerateKeyFile creates a key file at path holding one new key, with mode
// 0600, and returns its keyring. It fails if path exists: overwriting a key
// file would make every credential sealed under it unreadable.
func GenerateKeyFile(path string) (*Keyring, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret: creating key file: %w", err)
	}
	err = writeSynced(f, keyFileHeader+FormatKeyLine(NewKey())+"\n")
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("secret: creating key file: %w", err)
	}
	syncDir(filepath.Dir(path))
	return LoadFile(path)
}

// writeSynced sets f to mode 0600 (the umask or a default ACL may have
// widened it), writes text, syncs and closes f.
func writeSynced(f *os.File, text string) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a file created or renamed in dir survive a crash. It is best
// effort: some systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// AppendNewKey adds a new random key at the end of the key file at path,
// making it the active key, and returns its id. The file is written anew
// and renamed into place, so a reader (a running server re-reading the file)
// sees the old file or the new one, never half of one; comments and old keys
// are kept as they were. A lock file (path + ".lock") keeps two concurrent
// calls from each writing a file without the other's key: a key lost that
// way after rows were sealed under it would lose those rows.
func AppendNewKey(path string) (kid string, err error) {
	lockPath := path + ".lock"
	lock, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("secret: %s exists: another key rotation is running, or one was interrupted; if none is running, delete that file", lockPath)
	}
	if err != nil {
		return "", fmt.Errorf("secret: locking key file: %w", err)
	}
	defer func() {
		lock.Close()
		os.Remove(lockPath)
	}()

	text, keys, info, err := readKeyFile(path)
	if err != nil {
		return "", err
	}
	taken := map[string]bool{}
	for _, k := range keys {
		taken[k.ID] = true
	}
	k := NewKey()
	for taken[k.ID] {
		k = NewKey()
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	text += FormatKeyLine(k) + "\n"

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return "", fmt.Errorf("secret: writing key file: %w", err)
	}
	tmpPath := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(tmpPath)
		}
	}()
	if err = copyOwner(tmp, info, path); err != nil {
		tmp.Close()
		return "", err
	}
	if err = writeSynced(tmp, text); err != nil {
		return "", fmt.Errorf("secret: writing key file: %w", err)
	}
	if err = os.Rename(tmpPath, path); err != nil {
		return "", fmt.Errorf("secret: writing key file: %w", err)
	}
	syncDir(dir)
	return k.ID, nil
}
