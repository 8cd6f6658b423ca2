package secret

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testKey(id string, fill byte) Key {
	k := Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = fill + byte(i)
	}
	return k
}

func mustKeyring(t testing.TB, keys ...Key) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey("old", 1), testKey("new", 2))
	for name, tc := range map[string]struct {
		plaintext []byte
		ad        []byte
	}{
		"empty plaintext": {nil, CredentialAD("c1")},
		"password":        {[]byte("hunter2-correct-horse"), CredentialAD("c1")},
		"oauth token":     {bytes.Repeat([]byte("eyJhbGciOi"), 300), CredentialAD("0190f2c4-7b1e")},
		"no ad":           {[]byte("x"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ct, err := kr.Seal(tc.plaintext, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if kid, err := KeyID(ct); err != nil || kid != "new" {
				t.Fatalf("KeyID = %q, %v; want the active key \"new\"", kid, err)
			}
			got, err := kr.Open(ct, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tc.plaintext)
			}
			ct2, _ := kr.Seal(tc.plaintext, tc.ad)
			if bytes.Equal(ct, ct2) {
				t.Fatal("two seals of one plaintext are equal: nonce not random")
			}
		})
	}
}

// An older key keeps opening what it sealed once a newer key is active, and
// only the keyring that holds it can.
func TestOpenUnderOlderKey(t *testing.T) {
	t.Parallel()
	old := mustKeyring(t, testKey("k1", 1))
	ct, _ := old.Seal([]byte("pw"), CredentialAD("a"))
	both := mustKeyring(t, testKey("k1", 1), testKey("k2", 2))
	if pt, err := both.Open(ct, CredentialAD("a")); err != nil || string(pt) != "pw" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if both.ActiveKeyID() != "k2" {
		t.Fatalf("active = %q, want the last key", both.ActiveKeyID())
	}
	_, err := mustKeyring(t, testKey("k2", 2)).Open(ct, CredentialAD("a"))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open without the key: %v, want ErrUnknownKey", err)
	}
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.KeyID != "k1" {
		t.Fatalf("err = %#v", err)
	}
	for _, want := range []string{`"k1"`, EnvKey, EnvKeyFile} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %s", err, want)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey("k1", 1))
	ct, err := kr.Seal([]byte("secret password"), CredentialAD("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	withVersion := func(v byte) []byte { b := bytes.Clone(ct); b[0] = v; return b }
	for name, tc := range map[string]struct {
		ct   []byte
		ad   []byte
		want error
	}{
		"other row's ad":   {ct, CredentialAD("row-2"), ErrNotAuthentic},
		"no ad":            {ct, nil, ErrNotAuthentic},
		"ad prefix":        {ct, CredentialAD("row-"), ErrNotAuthentic},
		"ad extended":      {ct, CredentialAD("row-10"), ErrNotAuthentic},
		"tag cut":          {ct[:len(ct)-1], CredentialAD("row-1"), ErrNotAuthentic},
		"appended byte":    {append(bytes.Clone(ct), 0), CredentialAD("row-1"), ErrNotAuthentic},
		"truncated header": {ct[:3], CredentialAD("row-1"), ErrMalformed},
		"no tag":           {ct[:2+2+nonceSize+5], CredentialAD("row-1"), ErrMalformed},
		"empty":            {nil, CredentialAD("row-1"), ErrMalformed},
		"version 2":        {withVersion(2), CredentialAD("row-1"), ErrMalformed},
		"plain text":       {[]byte("hunter2 is my password, in clear"), CredentialAD("row-1"), ErrMalformed},
		"zero kid":         {append([]byte{1, 0}, make([]byte, 40)...), CredentialAD("row-1"), ErrMalformed},
		"kid with a space": {append([]byte{1, 2, 'a', ' '}, make([]byte, 40)...), CredentialAD("row-1"), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pt, err := kr.Open(tc.ct, tc.ad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tc.want)
			}
			if pt != nil {
				t.Fatalf("Open returned %q with an error", pt)
			}
		})
	}
	if got := ErrNotAuthentic.Error(); got != "secret: ciphertext does not authenticate: wrong key or row" {
		t.Errorf("message = %q", got)
	}
}

// Flipping any bit of any byte, header included, must make Open fail.
func TestEveryByteFlipFails(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey("k1", 1), testKey("k2", 2))
	ct, _ := kr.Seal([]byte("imap password"), CredentialAD("c"))
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(ct)
			b[i] ^= mask
			if pt, err := kr.Open(b, CredentialAD("c")); err == nil {
				t.Fatalf("byte %d ^ %#x: Open = %q, want an error", i, mask, pt)
			}
		}
	}
}

// The header is authenticated: relabelling a ciphertext with another id that
// names the very same key still fails.
func TestHeaderBound(t *testing.T) {
	t.Parallel()
	k := testKey("aa", 7)
	alias := k
	alias.ID = "bb"
	kr := mustKeyring(t, alias, k) // "aa" active
	ct, _ := kr.Seal([]byte("pw"), CredentialAD("c"))
	b := bytes.Clone(ct)
	copy(b[2:4], "bb")
	if _, err := kr.Open(b, CredentialAD("c")); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("relabelled ciphertext: %v, want ErrNotAuthentic", err)
	}
}

// What a database dump would show of a sealed secret: nothing of it.
func TestPlaintextNotInCiphertext(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey("k1", 1))
	for _, pt := range []string{"hunter22", "ya29.a0AfH6SMBx-oauth-access-token", strings.Repeat("A", 4096)} {
		ct, _ := kr.Seal([]byte(pt), CredentialAD("c"))
		for n := 8; n <= len(pt); n *= 2 {
			if bytes.Contains(ct, []byte(pt[:n])) {
				t.Fatalf("ciphertext of %.20q contains its first %d bytes", pt, n)
			}
		}
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey("2024-06.a", 1))
	ct, _ := kr.Seal([]byte("x"), nil)
	if kid, err := KeyID(ct); kid != "2024-06.a" || err != nil {
		t.Fatalf("KeyID = %q, %v", kid, err)
	}
	if _, err := KeyID([]byte("garbage")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("KeyID(garbage) = %v", err)
	}
}

func TestNewKeyring(t *testing.T) {
	t.Parallel()
	noID := testKey("", 3)
	for name, tc := range map[string]struct {
		keys    []Key
		active  string
		ids     []string
		wantErr string
	}{
		"one":                     {keys: []Key{testKey("a", 1)}, active: "a", ids: []string{"a"}},
		"last is active":          {keys: []Key{testKey("a", 1), testKey("b", 2)}, active: "b", ids: []string{"a", "b"}},
		"same key again moves":    {keys: []Key{testKey("a", 1), testKey("b", 2), testKey("a", 1)}, active: "a", ids: []string{"b", "a"}},
		"derived id":              {keys: []Key{noID}, active: deriveKeyID(noID.Secret), ids: []string{deriveKeyID(noID.Secret)}},
		"none":                    {wantErr: "no key configured"},
		"id twice, two keys":      {keys: []Key{testKey("a", 1), testKey("a", 2)}, wantErr: "key id a is given twice with different keys"},
		"zero key":                {keys: []Key{{ID: "z"}}, wantErr: "key z is all zeros"},
		"id with a comma":         {keys: []Key{testKey("a,b", 1)}, wantErr: `invalid key id "a,b"`},
		"id longer than 32 bytes": {keys: []Key{testKey(strings.Repeat("x", 33), 1)}, wantErr: "invalid key id"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kr, err := NewKeyring(tc.keys...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kr.ActiveKeyID() != tc.active || fmt.Sprint(kr.KeyIDs()) != fmt.Sprint(tc.ids) {
				t.Fatalf("active %q, ids %v; want %q, %v", kr.ActiveKeyID(), kr.KeyIDs(), tc.active, tc.ids)
			}
		})
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	k := NewKey()
	line := FormatKeyLine(k)
	b64 := line[strings.IndexByte(line, ' ')+1:]
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		if s := fmt.Sprintf(format, k); strings.Contains(s, b64) || strings.Contains(s, fmt.Sprintf("%x", k.Secret[:4])) {
			t.Errorf("%s prints the key: %s", format, s)
		}
	}
	if s := fmt.Sprintf("%v", []Key{k}); !strings.Contains(s, "redacted") {
		t.Errorf("%%v of a slice: %s", s)
	}
}

func TestZeroKeyring(t *testing.T) {
	t.Parallel()
	var kr Keyring
	if _, err := kr.Seal([]byte("x"), nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Seal on an empty keyring: %v", err)
	}
	ct, _ := mustKeyring(t, testKey("a", 1)).Seal([]byte("x"), nil)
	if _, err := kr.Open(ct, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open on an empty keyring: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	kr := mustKeyring(f, testKey("k1", 1), testKey("k2", 2))
	for _, pt := range []string{"", "password", strings.Repeat("x", 100)} {
		ct, _ := kr.Seal([]byte(pt), CredentialAD("c"))
		f.Add(ct, []byte(CredentialAD("c")))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("x"))
	f.Add([]byte{1, 255, 'k'}, []byte("x"))
	f.Add(append([]byte{1, 2, 'z', 'z'}, make([]byte, 28)...), []byte(nil))
	f.Fuzz(func(t *testing.T, ct, ad []byte) {
		pt, err := kr.Open(ct, ad)
		if err != nil {
			if pt != nil {
				t.Fatalf("Open returned %q with error %v", pt, err)
			}
			if !strings.HasPrefix(err.Error(), "secret: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		// Whatever opens must have been sealed under a key of the ring,
		// which random input cannot be; only the seeds get here.
		if _, err := KeyID(ct); err != nil {
			t.Fatalf("Open succeeded but KeyID fails: %v", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	kr := mustKeyring(b, testKey("k1", 1))
	pt, ad := bytes.Repeat([]byte("p"), 64), CredentialAD("0190f2c4-7b1e-7000-8000-000000000001")
	for b.Loop() {
		kr.Seal(pt, ad)
	}
}

func BenchmarkOpen(b *testing.B) {
	kr := mustKeyring(b, testKey("k1", 1))
	ad := CredentialAD("0190f2c4-7b1e-7000-8000-000000000001")
	ct, _ := kr.Seal(bytes.Repeat([]byte("p"), 64), ad)
	for b.Loop() {
		kr.Open(ct, ad)
	}
}
