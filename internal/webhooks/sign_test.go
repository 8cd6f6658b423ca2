package webhooks

import (
	"strings"
	"testing"
	"time"
)

func TestScheduleSpansAboutADay(t *testing.T) {
	s := DefaultSchedule
	if s.Attempts < 11 {
		t.Fatalf("%d attempts: at least 10 retries are promised", s.Attempts)
	}
	if total := s.Total(); total < 18*time.Hour || total > 26*time.Hour {
		t.Fatalf("the retries span %v, not about a day", total)
	}
	for n := 1; n < s.Attempts; n++ {
		steady := Schedule{Attempts: s.Attempts, Base: s.Base, Max: s.Max}
		plain := steady.Delay(n)
		if n > 1 && plain < steady.Delay(n-1) {
			t.Fatalf("pause %d (%v) shorter than the one before", n, plain)
		}
		seen := map[time.Duration]bool{}
		for range 50 {
			d := s.Delay(n)
			if d < time.Duration(float64(plain)*(1-s.Jitter)) || d > time.Duration(float64(plain)*(1+s.Jitter)) {
				t.Fatalf("pause %d = %v, outside %v ± %.0f%%", n, d, plain, s.Jitter*100)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("pause %d has no jitter: %v", n, seen)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1700000000, 0)
	h := Sign(secret, at, body)
	// The documented construction, by hand: HMAC-SHA256 of "t.body".
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if h != "t=1700000000,v1="+mac(secret, "1700000000", body) {
		t.Fatal("not the HMAC of timestamp.body")
	}
	if err := Verify(secret, h, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, body, at.Add(time.Hour), 5*time.Minute); err == nil {
		t.Fatal("an old signature (a replay) verifies")
	}
	if err := Verify(secret, strings.Replace(h, "t=1700000000", "t=1700000001", 1), body, at, 0); err == nil {
		t.Fatal("a changed timestamp verifies")
	}
	if err := Verify(secret, "v1=abc", body, at, 0); err == nil {
		t.Fatal("a header without a timestamp verifies")
	}
}

func TestExcerptKeepsWholeCharacters(t *testing.T) {
	b := []byte(strings.Repeat("a", ExcerptBytes-1) + "é")
	if got := excerpt(b); len(got) != ExcerptBytes-1 || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("excerpt of %d bytes = %d bytes", len(b), len(got))
	}
	if got := excerpt([]byte("ok \xff")); got != "ok \uFFFD" {
		t.Fatalf("invalid UTF-8 = %q", got)
	}
}
