package engine

import (
	"slices"
	"testing"
)

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
