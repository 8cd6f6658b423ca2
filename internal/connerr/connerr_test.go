package connerr

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindOfAndIs(t *testing.T) {
	err := fmt.Errorf("folder INBOX: %w", &Error{Kind: CursorInvalid, Message: "renumbered", Server: "imap.example.com"})
	if KindOf(err) != CursorInvalid || !errors.Is(err, ErrCursorInvalid) || errors.Is(err, ErrGone) {
		t.Fatalf("kind %s", KindOf(err))
	}
	if KindOf(errors.New("boom")) != Protocol {
		t.Fatal("an unclassified error is protocol")
	}
	if got := Message(err); got != "renumbered (imap.example.com)" {
		t.Fatalf("message %q", got)
	}
	named := &Error{Kind: Auth, Message: "dav.example.com:8443 refused the password.", Server: "dav.example.com:8443"}
	if got := Message(named); got != "dav.example.com:8443 refused the password." {
		t.Fatalf("a sentence that names its server gets it once: %q", got)
	}
	if got := Message(errors.New("boom")); got != "sync error: boom" {
		t.Fatalf("message %q", got)
	}
}

func TestStates(t *testing.T) {
	for k, want := range map[Kind]string{Auth: "auth_failed", Blocked: "provider_blocked", Unreachable: "unreachable",
		Throttled: "throttled", TLS: "sync_error", Protocol: "sync_error", Gone: "sync_error", Quota: "sync_error",
		NotAllowed: "sync_error"} {
		if k.State() != want {
			t.Errorf("%s: state %s, want %s", k, k.State(), want)
		}
	}
}

func TestRetry(t *testing.T) {
	// Auth is retried rarely; unreachable soon; the provider's Retry-After wins.
	if d := Retry(Auth, 1, 0); d < 12*time.Minute || d > 18*time.Minute {
		t.Fatalf("auth %s", d)
	}
	if d := Retry(Unreachable, 1, 0); d > 3*time.Second {
		t.Fatalf("unreachable %s", d)
	}
	if d := Retry(Unreachable, 50, 0); d > 18*time.Minute {
		t.Fatalf("capped %s", d)
	}
	if d := Retry(Throttled, 1, 2*time.Hour); d != 2*time.Hour {
		t.Fatalf("retry-after %s", d)
	}
	if d := RetryOf(&Error{Kind: Throttled, RetryAfter: 3 * time.Hour}, 1); d != 3*time.Hour {
		t.Fatalf("retry-after %s", d)
	}
	// A refused destination stays refused until someone changes a setting.
	if NotAllowed.Transient() {
		t.Fatal("destination_not_allowed is not transient")
	}
	if d := Retry(NotAllowed, 1, 0); d < 24*time.Minute {
		t.Fatalf("destination_not_allowed retried after %s", d)
	}
}
