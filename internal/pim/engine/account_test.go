package engine

import (
	"context"
	"testing"
)

// TestSyncAccountWarns: a target that cannot be synced any more is said,
// not synced, and does not stop the others.
func TestSyncAccountWarns(t *testing.T) {
	var said []string
	res, err := SyncAccount(context.Background(), Account{Targets: []Target{{Warning: "the task list no longer takes tasks"}},
		Warn: func(_ context.Context, msg string) { said = append(said, msg) }})
	if err != nil || len(said) != 1 || said[0] != "the task list no longer takes tasks" || res.Backlog != 0 {
		t.Fatalf("said %q, err %v", said, err)
	}
}
