package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

const (
	// version1 is the first byte of every ciphertext. A later format (another
	// cipher, another header) takes the next number, so old rows stay
	// readable while they are rotated.
	version1 byte = 1

	nonceSize = 12 // the GCM standard nonce
	tagSize   = 16 // the GCM standard tag

	// maxKeyIDLen keeps key ids short: they are stored in every ciphertext
	// and printed in error messages, so they must stay readable.
	maxKeyIDLen = 32

	// minReloadInterval limits how often a ciphertext naming an unknown key
	// makes the keyring re-read an unchanged key file: garbage in a database
	// row must not turn into a file read per request.
	minReloadInterval = time.Second
)

// Errors returned by Open and the loaders. Callers compare with errors.Is.
var (
	ErrNoKey        = errors.New("secret: no key configured: set " + EnvKey + " or " + EnvKeyFile)
	ErrUnknownKey   = errors.New("secret: unknown key id")
	ErrNotAuthentic = errors.New("secret: ciphertext does not authenticate: wrong key or row")
	ErrMalformed    = errors.New("secret: malformed ciphertext: truncated, or not written by crmsync")
)

// UnknownKeyError is returned by Open for a ciphertext sealed under a key the
// keyring does not hold. It matches ErrUnknownKey. The usual cause is a key
// removed from the configuration while rows still use it, or a process
// started with an older configuration than the one that sealed the row.
type UnknownKeyError struct {
	KeyID string
	// ReloadErr says why re-reading the key file failed, when the keyring
	// came from a file and the re-read was tried.
	ReloadErr error
}

func (e *UnknownKeyError) Error() string {
	msg := fmt.Sprintf("secret: unknown key id %q: add that key to %s or to the file named by %s", e.KeyID, EnvKey, EnvKeyFile)
	if e.ReloadErr != nil {
		msg += " (re-reading the key file failed: " + e.ReloadErr.Error() + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// Key is one AES-256 key and its id. Its String and GoString methods never
// print the key itself, so a Key that reaches a log line leaks only its id.
type Key struct {
	ID     string
	Secret [KeySize]byte
}

func (k Key) String() string   { return "secret.Key{ID: " + k.ID + ", Secret: <redacted>}" }
func (k Key) GoString() string { return k.String() }

// NewKey returns a random key with a random 8-hex-digit id.
func NewKey() Key {
	var k Key
	var id [4]byte
	rand.Read(id[:]) // crypto/rand.Read never fails (it crashes the program instead)
	rand.Read(k.Secret[:])
	k.ID = hex.EncodeToString(id[:])
	return k
}

// deriveKeyID names a key given without an id. Derived from the key, the id
// is the same in every process that is given the same key, which a random
// one would not be.
func deriveKeyID(secret [KeySize]byte) string {
	h := sha256.Sum256(secret[:])
	return hex.EncodeToString(h[:4])
}

// validKeyID allows only characters that survive a key file, an environment
// variable (no comma, no space) and an error message unescaped.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CredentialAD is the associated data for the credential with that ID. It
// binds a ciphertext to its row: one copied onto another row (by a bug, or by
// someone with write access to the database trying to make the server use a
// secret elsewhere) does not open.
func CredentialAD(id string) []byte {
	return []byte("crmsync/credential/v1/" + id)
}

// keyset is an immutable set of keys; a reload swaps in a new one.
type keyset struct {
	aeads  map[string]cipher.AEAD
	order  []string // as configured; the active key last
	active string
}

func newKeyset(keys []Key) (*keyset, error) {
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	ks := &keyset{aeads: map[string]cipher.AEAD{}}
	secrets := map[string][KeySize]byte{}
	for _, k := range keys {
		if k.ID == "" {
			k.ID = deriveKeyID(k.Secret)
		}
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("secret: invalid key id %q: use 1 to %d letters, digits, '-', '_' or '.'", k.ID, maxKeyIDLen)
		}
		if k.Secret == ([KeySize]byte{}) {
			return nil, fmt.Errorf("secret: key %s is all zeros", k.ID)
		}
		if prev, dup := secrets[k.ID]; dup {
			if prev != k.Secret {
				return nil, fmt.Errorf("secret: key id %s is given twice with different keys", k.ID)
			}
			// The same key listed again (to make it active once more):
			// move it to its new place.
			for i, id := range ks.order {
				if id == k.ID {
					ks.order = append(ks.order[:i], ks.order[i+1:]...)
					break
				}
			}
		}
		block, err := aes.NewCipher(k.Secret[:])
		if err != nil {
			return nil, fmt.Errorf("secret: key %s: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret: key %s: %w", k.ID, err)
		}
		secrets[k.ID] = k.Secret
		ks.aeads[k.ID] = aead
		ks.order = append(ks.order, k.ID)
	}
	ks.active = ks.order[len(ks.order)-1]
	return ks, nil
}

// Keyring holds the keys that open credentials and the one active key that
// seals new ones. Every key can open; only the active key seals, so adding
// a key and making it active is all a rotation needs before rows are
// re-encrypted one by one.
//
// A Keyring loaded from a key file follows that file: Seal re-reads it when
// it changed on disk, and Open re-reads it when it meets an unknown key id.
// That is how a running server picks up the key `crmsync keys rotate`
// appended, without a restart. A Keyring is safe for concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	keys *keyset

	// Set for a keyring loaded from a file; reloadMu guards the rest.
	file     string
	reloadMu sync.Mutex
	fileInfo os.FileInfo // of the file as last read (or tried)
	lastRead time.Time
	reads    int // how often the file was read, for tests
	now      func() time.Time
}

// NewKeyring returns a keyring holding keys; the last one is active. A key
// without an ID gets one derived from the key. A key id given twice must name
// the same key both times.
func NewKeyring(keys ...Key) (*Keyring, error) {
	ks, err := newKeyset(keys)
	if err != nil {
		return nil, err
	}
	return &Keyring{keys: ks, now: time.Now}, nil
}

func (kr *Keyring) current() *keyset {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.keys
}

// ActiveKeyID is the id of the key that seals.
func (kr *Keyring) ActiveKeyID() string {
	if ks := kr.current(); ks != nil {
		return ks.active
	}
	return ""
}

// KeyIDs lists the ids of every key held, the active one last.
func (kr *Keyring) KeyIDs() []string {
	if ks := kr.current(); ks != nil {
		return append([]string(nil), ks.order...)
	}
	return nil
}

// File is the key file this keyring follows, or "" when its keys came from
// elsewhere (the environment, NewKeyring).
func (kr *Keyring) File() string { return kr.file }

// header is the clear part of a ciphertext: version, key id length, key id.
func header(kid string) []byte {
	h := make([]byte, 0, 2+len(kid))
	h = append(h, version1, byte(len(kid)))
	return append(h, kid...)
}

// gcmAD is what GCM authenticates besides the ciphertext: the header, so
// that the version and key id cannot be altered, then the caller's ad. The
// header states its own length, so the split between the two is unambiguous.
func gcmAD(hdr, ad []byte) []byte {
	b := make([]byte, 0, len(hdr)+len(ad))
	return append(append(b, hdr...), ad...)
}

// Seal encrypts plaintext under the active key and binds it to ad, which
// Open must be given again (for credentials: CredentialAD(id)). The result
// is
//
//	version (1) | key id length | key id | 12-byte nonce | AES-256-GCM ciphertext and tag
//
// Nonces are random: a key seals few secrets (one per credential write), far
// below the 2^32 messages that random 96-bit nonces allow per key.
func (kr *Keyring) Seal(plaintext, ad []byte) ([]byte, error) {
	// A failed re-read leaves the keys already held in use: sealing with the
	// previous active key is safe, and rotation later fixes the row.
	_ = kr.refresh(false)
	ks := kr.current()
	if ks == nil {
		return nil, ErrNoKey
	}
	hdr := header(ks.active)
	out := make([]byte, len(hdr)+nonceSize, len(hdr)+nonceSize+len(plaintext)+tagSize)
	copy(out, hdr)
	nonce := out[len(hdr):]
	rand.Read(nonce)
	return ks.aeads[ks.active].Seal(out, nonce, plaintext, gcmAD(hdr, ad)), nil
}

// parseHeader returns the key id of ciphertext and the length of its header,
// after checking that the rest is long enough for a nonce and a tag.
func parseHeader(ciphertext []byte) (kid string, hdrLen int, err error) {
	if len(ciphertext) < 2 {
		return "", 0, ErrMalformed
	}
	if ciphertext[0] != version1 {
		return "", 0, fmt.Errorf("%w (unknown format version %d)", ErrMalformed, ciphertext[0])
	}
	hdrLen = 2 + int(ciphertext[1])
	if len(ciphertext) < hdrLen+nonceSize+tagSize {
		return "", 0, ErrMalformed
	}
	kid = string(ciphertext[2:hdrLen])
	if !validKeyID(kid) {
		return "", 0, fmt.Errorf("%w (invalid key id)", ErrMalformed)
	}
	return kid, hdrLen, nil
}

// KeyID returns the id of the key that sealed ciphertext, without opening
// it: rotation uses it to skip rows already under the active key, and usage
// reports to count rows per key.
func KeyID(ciphertext []byte) (string, error) {
	kid, _, err := parseHeader(ciphertext)
	return kid, err
}

func (kr *Keyring) lookup(kid string) (cipher.AEAD, bool) {
	ks := kr.current()
	if ks == nil {
		return nil, false
	}
	aead, ok := ks.aeads[kid]
	return aead, ok
}

// Open decrypts a ciphertext made by Seal with the same ad. It fails with
// ErrMalformed for input Seal did not make, an *UnknownKeyError for a key
// the keyring does not hold, and ErrNotAuthentic when the ciphertext was
// altered or belongs to another row.
func (kr *Keyring) Open(ciphertext, ad []byte) ([]byte, error) {
	kid, hdrLen, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := kr.lookup(kid)
	if !ok {
		// Another process may have added the key to the file since we read it.
		reloadErr := kr.refresh(true)
		if aead, ok = kr.lookup(kid); !ok {
			return nil, &UnknownKeyError{KeyID: kid, ReloadErr: reloadErr}
		}
	}
	nonce := ciphertext[hdrLen : hdrLen+nonceSize]
	plaintext, err := aead.Open(nil, nonce, ciphertext[hdrLen+nonceSize:], gcmAD(ciphertext[:hdrLen], ad))
	if err != nil {
		return nil, ErrNotAuthentic
	}
	return plaintext, nil
}
