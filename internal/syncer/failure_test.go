package syncer

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// TestUnreachableAfterSyncing: a server refusing connections reads as a
// settings question for a new account, and as "not answering, next try
// at …" for one that has synced (issue 13 point 5), with the same code,
// state and next attempt.
func TestUnreachableAfterSyncing(t *testing.T) {
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	err := &connerr.Error{Kind: connerr.Unreachable, Server: "imap.acme.test:993", Err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED),
		Message: "imap.acme.test refused the connection: is the port right and the server up?"}
	fresh := failure(err, 1, now, false)
	if !strings.Contains(fresh.ErrorMessage, "is the port right") {
		t.Errorf("a new account: %q", fresh.ErrorMessage)
	}
	worked := failure(err, 1, now, true)
	want := fmt.Sprintf("imap.acme.test:993 is not answering. The settings worked before, so there is nothing to change: crmsync tries again by itself, next at %s.",
		worked.NextAttemptAt.UTC().Format("15:04 MST"))
	if worked.ErrorMessage != want || strings.Contains(worked.ErrorMessage, "port") {
		t.Errorf("an account that synced: %q, want %q", worked.ErrorMessage, want)
	}
	if worked.ErrorCode != "unreachable" || worked.State != fresh.State || !worked.NextAttemptAt.After(now) {
		t.Errorf("code %s state %s next %v", worked.ErrorCode, worked.State, worked.NextAttemptAt)
	}
	// Other faults keep the connector's words: a wrong password is one
	// whether or not the account synced before.
	auth := &connerr.Error{Kind: connerr.Auth, Message: "Incorrect password."}
	if got := failure(auth, 1, now, true).ErrorMessage; got != "Incorrect password." {
		t.Errorf("auth after syncing: %q", got)
	}
}
