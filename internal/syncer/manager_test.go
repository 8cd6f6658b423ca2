package syncer

import (
	"errors"
	"slices"
	"testing"

	"github.com/crmsync/crmsync/internal/store"
)

// TestRunLocal: a second run of the same account in this process is
// refused while the first runs (the lease would let it in), other
// accounts and kinds are not, and the account is free again after.
func TestRunLocal(t *testing.T) {
	ran := 0
	err := runLocal("pim", 7, func() error {
		ran++
		if err := runLocal("pim", 7, func() error { ran++; return nil }); !errors.Is(err, store.ErrLeaseHeld) {
			t.Errorf("a second run of the same account: %v, want ErrLeaseHeld", err)
		}
		if err := runLocal("mail", 7, func() error { ran++; return nil }); err != nil {
			t.Errorf("another kind: %v", err)
		}
		return runLocal("pim", 8, func() error { ran++; return nil })
	})
	if err != nil || ran != 3 {
		t.Fatalf("err %v, ran %d, want 3", err, ran)
	}
	if err := runLocal("pim", 7, func() error { ran++; return nil }); err != nil || ran != 4 {
		t.Fatalf("after the first run ended: err %v, ran %d", err, ran)
	}
}

// TestUnrenamed: a fixed category renamed on the server is told from a
// user's own new category.
func TestUnrenamed(t *testing.T) {
	base := pimBase{RemoteCats: []string{"Base Lead", "Base Person", "Golf"}}
	for _, tc := range []struct {
		remote, want []string
	}{
		{[]string{"Leads", "Base Person", "Golf"}, []string{"Base Person", "Golf"}},                                    // renamed
		{[]string{"VIP", "Base Person", "Golf"}, []string{"VIP", "Base Person", "Golf"}},                               // removed, and an unrelated one added
		{[]string{"Base Person", "Golf"}, []string{"Base Person", "Golf"}},                                             // removed only
		{[]string{"Leads", "VIP", "Base Person"}, []string{"Leads", "VIP", "Base Person"}},                             // Golf gone too: not a rename
		{[]string{"Base Lead", "Base Person", "Golf", "Leads"}, []string{"Base Lead", "Base Person", "Golf", "Leads"}}, // nothing vanished
	} {
		if got := unrenamed(base, tc.remote); !slices.Equal(got, tc.want) {
			t.Errorf("unrenamed(%v) = %v, want %v", tc.remote, got, tc.want)
		}
	}
	if got := unrenamed(pimBase{}, []string{"Leads"}); !slices.Equal(got, []string{"Leads"}) {
		t.Errorf("without a base: %v", got)
	}
}
