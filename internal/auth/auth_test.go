package auth

import (
	"bytes"
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Fatal("right password refused")
	}
	if CheckPassword(h, "correct horse batterz") {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if _, err := HashPassword("short"); err != ErrWeakPassword {
		t.Fatalf("short password: err = %v", err)
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$bcrypt$x$y$z$w"} {
		if CheckPassword(bad, "anything at all") {
			t.Fatalf("malformed hash %q accepted", bad)
		}
	}
}

func TestToken(t *testing.T) {
	s1, p1, h1 := NewToken()
	s2, _, h2 := NewToken()
	if s1 == s2 || bytes.Equal(h1, h2) {
		t.Fatal("tokens repeat")
	}
	if !strings.HasPrefix(s1, TokenPrefix) || !strings.HasPrefix(s1, p1) {
		t.Fatalf("token %q prefix %q", s1, p1)
	}
	if !bytes.Equal(HashToken(s1), h1) {
		t.Fatal("hash not stable")
	}
}
