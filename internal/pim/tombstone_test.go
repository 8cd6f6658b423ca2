package pim

import (
	"fmt"
	"testing"
)

// TestDecide walks the whole table: every combination of the four facts.
func TestDecide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    ItemState
		want Action
	}{
		{ItemState{Mapped: true, InCRM: true, InRemote: true}, ActionMerge},
		{ItemState{Mapped: true, InCRM: true}, ActionTombstone},    // remote item deleted
		{ItemState{Mapped: true, InRemote: true}, ActionTombstone}, // CRM record deleted
		{ItemState{Mapped: true}, ActionTombstone},                 // deleted on both
		{ItemState{InCRM: true, InRemote: true}, ActionLink},       // found by stamp or matched
		{ItemState{InCRM: true}, ActionCreateRemote},               // new in the CRM
		{ItemState{InRemote: true}, ActionCreateCRM},               // new on the remote
		{ItemState{}, ActionNone},
	} {
		for _, tomb := range []bool{false, true} {
			s := tc.s
			s.Tombstoned = tomb
			want := tc.want
			if tomb {
				want = ActionIgnore // whatever else is true: never recreated, never synced
			}
			t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
				if got := Decide(s); got != want {
					t.Errorf("Decide(%+v) = %v, want %v", s, got, want)
				}
			})
		}
	}
}

func TestOnMissing(t *testing.T) {
	t.Parallel()
	for _, side := range []Side{SideCRM, SideRemote, ""} {
		if got := OnMissing(side); got != ActionTombstone {
			t.Errorf("OnMissing(%q) = %v, want tombstone", side, got)
		}
	}
}

// After a tombstone, the surviving copy keeps changing: still ignored, and
// the missing side is never written.
func TestTombstoneIsFinal(t *testing.T) {
	t.Parallel()
	tomb := Tombstone{CRMID: "contact-1", RemoteID: "abc.vcf", DeletedOn: SideRemote, At: t0}
	if tomb.IsZero() || !(Tombstone{}).IsZero() {
		t.Fatal("IsZero")
	}
	for pass := range 3 {
		s := ItemState{Mapped: true, Tombstoned: !tomb.IsZero(), InCRM: true, InRemote: pass == 2 /* restored from the trash */}
		if a := Decide(s); a != ActionIgnore {
			t.Errorf("pass %d: %v", pass, a)
		}
	}
}

func TestActionString(t *testing.T) {
	t.Parallel()
	for a, want := range map[Action]string{ActionNone: "none", ActionMerge: "merge", ActionCreateRemote: "create_remote",
		ActionCreateCRM: "create_crm", ActionLink: "link", ActionTombstone: "tombstone", ActionIgnore: "ignore", Action(99): "unknown"} {
		if a.String() != want {
			t.Errorf("%d: %q", a, a.String())
		}
	}
}
