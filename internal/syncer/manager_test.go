package syncer

import (
	"errors"
	"testing"

	"github.com/crmsync/crmsync/internal/store"
)

// TestRunLocal: a second run of the same account in this process is
// refused while the first runs (the lease would let it in), other
// accounts and kinds are not, and the account is free again after.
func TestRunLocal(t *testing.T) {
	ran := 0
	local := newLocalRuns()
	err := local.run("pim", 7, func() error {
		ran++
		if err := local.run("pim", 7, func() error { ran++; return nil }); !errors.Is(err, store.ErrLeaseHeld) {
			t.Errorf("a second run of the same account: %v, want ErrLeaseHeld", err)
		}
		if err := local.run("mail", 7, func() error { ran++; return nil }); err != nil {
			t.Errorf("another kind: %v", err)
		}
		return local.run("pim", 8, func() error { ran++; return nil })
	})
	if err != nil || ran != 3 {
		t.Fatalf("err %v, ran %d, want 3", err, ran)
	}
	if err := local.run("pim", 7, func() error { ran++; return nil }); err != nil || ran != 4 {
		t.Fatalf("after the first run ended: err %v, ran %d", err, ran)
	}
}
