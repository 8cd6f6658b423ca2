package pim

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

// TestMergeMatrix covers every policy × {neither changed, only the CRM, only
// the remote, both differently, both identically} × {scalar, list, set}.
func TestMergeMatrix(t *testing.T) {
	t.Parallel()
	type want struct {
		v        Value
		replaced *Replaced // nil: none
		conflict bool
	}
	// same gives one expectation for every policy.
	same := func(v Value) map[Policy]want {
		return map[Policy]want{NewestWins: {v: v}, CRMWins: {v: v}, ProviderWins: {v: v}}
	}
	for _, tc := range []struct {
		name                string
		field               string
		base, crm, remote   Value
		crmAt, remoteAt     time.Time
		want                map[Policy]want
		wantToCRM, wantToRm bool // whether each side gets a write
	}{
		// Scalars.
		{
			name: "scalar/neither", field: FieldTitle,
			base: Str("CTO"), crm: Str("CTO"), remote: Str("CTO"), crmAt: t1, remoteAt: t0,
			want: same(Str("CTO")),
		},
		{
			name: "scalar/only_crm", field: FieldTitle,
			base: Str("CTO"), crm: Str("CEO"), remote: Str("CTO"), crmAt: t0, remoteAt: t1, // the remote is newer but did not change it
			want: same(Str("CEO")), wantToRm: true,
		},
		{
			name: "scalar/only_remote", field: FieldTitle,
			base: Str("CTO"), crm: Str("CTO"), remote: Str("VP"), crmAt: t1, remoteAt: t0,
			want: same(Str("VP")), wantToCRM: true,
		},
		{
			name: "scalar/only_crm_cleared", field: FieldTitle,
			base: Str("CTO"), crm: Value{}, remote: Str("CTO"), crmAt: t0, remoteAt: t1,
			want: same(Value{}), wantToRm: true,
		},
		{
			name: "scalar/both_identically", field: FieldTitle,
			base: Str("CTO"), crm: Str("CEO"), remote: Str(" CEO "), crmAt: t0, remoteAt: t1,
			want: same(Str("CEO")),
		},
		{
			name: "scalar/both_differently_crm_newer", field: FieldTitle,
			base: Str("CTO"), crm: Str("CEO"), remote: Str("VP"), crmAt: t1, remoteAt: t0,
			want: map[Policy]want{
				NewestWins:   {Str("CEO"), &Replaced{FieldTitle, "VP", SideCRM}, true},
				CRMWins:      {Str("CEO"), nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true, // one of them under each policy; checked below
		},
		{
			name: "scalar/both_differently_remote_newer", field: FieldTitle,
			base: Str("CTO"), crm: Str("CEO"), remote: Str("VP"), crmAt: t0, remoteAt: t1,
			want: map[Policy]want{
				NewestWins:   {Str("VP"), &Replaced{FieldTitle, "CEO", SideRemote}, true},
				CRMWins:      {Str("CEO"), nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},
		{
			name: "scalar/both_differently_same_time", field: FieldTitle, // a tie goes to the CRM
			base: Str("CTO"), crm: Str("CEO"), remote: Str("VP"), crmAt: t0, remoteAt: t0,
			want: map[Policy]want{
				NewestWins:   {Str("CEO"), &Replaced{FieldTitle, "VP", SideCRM}, true},
				CRMWins:      {Str("CEO"), nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},
		{
			name: "scalar/both_differently_newer_cleared", field: FieldTitle, // the cleared value won: the other is kept
			base: Str("CTO"), crm: Value{}, remote: Str("VP"), crmAt: t1, remoteAt: t0,
			want: map[Policy]want{
				NewestWins:   {Value{}, &Replaced{FieldTitle, "VP", SideCRM}, true},
				CRMWins:      {Value{}, nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},
		{
			name: "scalar/both_differently_older_cleared", field: FieldTitle, // nothing to keep: the loser was empty
			base: Str("CTO"), crm: Value{}, remote: Str("VP"), crmAt: t0, remoteAt: t1,
			want: map[Policy]want{
				NewestWins:   {Str("VP"), nil, true},
				CRMWins:      {Value{}, nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},
		{
			name: "scalar/both_added_no_base", field: FieldTitle, // first sync of two matched records
			base: Value{}, crm: Str("CEO"), remote: Str("VP"), crmAt: t0, remoteAt: t1,
			want: map[Policy]want{
				NewestWins:   {Str("VP"), &Replaced{FieldTitle, "CEO", SideRemote}, true},
				CRMWins:      {Str("CEO"), nil, true},
				ProviderWins: {Str("VP"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},

		// Lists (ordered): emails.
		{
			name: "list/neither", field: FieldEmails,
			base: ListOf("a@x", "b@x"), crm: ListOf("A@X", "b@x"), remote: ListOf("a@x", "b@x"), crmAt: t1, remoteAt: t0,
			want: same(ListOf("a@x", "b@x")),
		},
		{
			name: "list/only_crm", field: FieldEmails,
			base: ListOf("a@x", "b@x"), crm: ListOf("a@x", "b@x", "c@x"), remote: ListOf("a@x", "b@x"), crmAt: t0, remoteAt: t1,
			want: same(ListOf("a@x", "b@x", "c@x")), wantToRm: true,
		},
		{
			name: "list/only_remote", field: FieldEmails,
			base: ListOf("a@x", "b@x"), crm: ListOf("a@x", "b@x"), remote: ListOf("b@x"), crmAt: t1, remoteAt: t0,
			want: same(ListOf("b@x")), wantToCRM: true,
		},
		{
			name: "list/both_differently", field: FieldEmails, // an addition on one side, a removal on the other: both apply
			base: ListOf("a@x", "b@x"), crm: ListOf("a@x", "b@x", "c@x"), remote: ListOf("b@x"), crmAt: t1, remoteAt: t0,
			want: same(ListOf("b@x", "c@x")), wantToCRM: true, wantToRm: true,
		},
		{
			name: "list/both_differently_remote_newer", field: FieldEmails, // times do not matter to elements
			base: ListOf("a@x", "b@x"), crm: ListOf("a@x", "b@x", "c@x"), remote: ListOf("b@x"), crmAt: t0, remoteAt: t1,
			want: same(ListOf("b@x", "c@x")), wantToCRM: true, wantToRm: true,
		},
		{
			// Both replaced the same address differently: a conflict, the
			// policy's winner keeps its address, the other is kept aside.
			name: "list/both_edited_same_element", field: FieldEmails,
			base: ListOf("a@x"), crm: ListOf("crm@x"), remote: ListOf("remote@x"), crmAt: t0, remoteAt: t1,
			want: map[Policy]want{
				NewestWins:   {ListOf("remote@x"), &Replaced{FieldEmails, "crm@x", SideRemote}, true},
				CRMWins:      {ListOf("crm@x"), nil, true},
				ProviderWins: {ListOf("remote@x"), nil, true},
			},
			wantToCRM: true, wantToRm: true,
		},
		{
			// One side replaced an address, the other added one: no conflict.
			name: "list/edit_and_add", field: FieldEmails,
			base: ListOf("a@x"), crm: ListOf("b@x"), remote: ListOf("a@x", "c@x"), crmAt: t0, remoteAt: t1,
			want: same(ListOf("b@x", "c@x")), wantToCRM: true, wantToRm: true,
		},
		{
			name: "list/both_identically", field: FieldEmails,
			base: ListOf("a@x", "b@x"), crm: ListOf("a@x", "c@x"), remote: ListOf("a@x", "C@x"), crmAt: t0, remoteAt: t1,
			want: same(ListOf("a@x", "c@x")),
		},

		// Sets (unordered): categories.
		{
			name: "set/neither", field: FieldCategories,
			base: SetOf("Golf", "VIP"), crm: SetOf("VIP", "Golf"), remote: SetOf("Golf", "VIP"), crmAt: t1, remoteAt: t0,
			want: same(SetOf("Golf", "VIP")),
		},
		{
			name: "set/only_crm", field: FieldCategories,
			base: SetOf("Golf", "VIP"), crm: SetOf("Golf"), remote: SetOf("Golf", "VIP"), crmAt: t0, remoteAt: t1,
			want: same(SetOf("Golf")), wantToRm: true,
		},
		{
			name: "set/only_remote", field: FieldCategories,
			base: SetOf("Golf", "VIP"), crm: SetOf("Golf", "VIP"), remote: SetOf("Golf", "VIP", "Board"), crmAt: t1, remoteAt: t0,
			want: same(SetOf("Board", "Golf", "VIP")), wantToCRM: true,
		},
		{
			name: "set/both_differently", field: FieldCategories,
			base: SetOf("Golf", "VIP"), crm: SetOf("Golf", "VIP", "Board"), remote: SetOf("VIP"), crmAt: t1, remoteAt: t0,
			want: same(SetOf("Board", "VIP")), wantToCRM: true, wantToRm: true,
		},
		{
			name: "set/both_identically", field: FieldCategories,
			base: SetOf("Golf"), crm: SetOf("Golf", "Board"), remote: SetOf("Board", "Golf"), crmAt: t0, remoteAt: t1,
			want: same(SetOf("Board", "Golf")),
		},
		{
			name: "set/both_emptied", field: FieldCategories,
			base: SetOf("Golf"), crm: Value{}, remote: SetOf(), crmAt: t0, remoteAt: t1,
			want: same(Value{}),
		},
	} {
		for _, policy := range Policies {
			t.Run(fmt.Sprintf("%s/%s", policy, tc.name), func(t *testing.T) {
				w := tc.want[policy]
				base := Fields{FieldFirstName: Str("Ada"), tc.field: tc.base}
				crm := Fields{FieldFirstName: Str("Ada"), tc.field: tc.crm}
				remote := Fields{FieldFirstName: Str("Ada"), tc.field: tc.remote}
				res := Merge(base, crm, remote, tc.crmAt, tc.remoteAt, policy)

				wantFields := Fields{FieldFirstName: Str("Ada"), tc.field: w.v}.Normalize()
				for name, got := range map[string]Fields{"CRM": res.CRM, "Remote": res.Remote, "Base": res.Base} {
					if !reflect.DeepEqual(got, wantFields) {
						t.Errorf("%s = %v, want %v", name, got, wantFields)
					}
				}
				var gotReplaced *Replaced
				if len(res.Replaced) > 0 {
					gotReplaced = &res.Replaced[0]
				}
				if len(res.Replaced) > 1 || !reflect.DeepEqual(gotReplaced, w.replaced) {
					t.Errorf("Replaced = %+v, want %+v", res.Replaced, w.replaced)
				}
				if got := len(res.Conflicts) == 1; got != w.conflict || len(res.Conflicts) > 1 {
					t.Errorf("Conflicts = %+v, want conflict %v", res.Conflicts, w.conflict)
				}
				if w.conflict && res.Conflicts[0].Field != tc.field {
					t.Errorf("conflict on %q, want %q", res.Conflicts[0].Field, tc.field)
				}
				// A side gets a write exactly when its value is not the result.
				crmWrites := !Normalize(tc.field, tc.crm).Equal(w.v)
				remoteWrites := !Normalize(tc.field, tc.remote).Equal(w.v)
				if crmWrites && !tc.wantToCRM || remoteWrites && !tc.wantToRm {
					t.Fatalf("table: a side gets a write the row does not expect")
				}
				checkWrites(t, "ToCRM", res.ToCRM, tc.field, tc.crm, w.v, crmWrites)
				checkWrites(t, "ToRemote", res.ToRemote, tc.field, tc.remote, w.v, remoteWrites)
			})
		}
	}
}

func checkWrites(t *testing.T, name string, got []FieldChange, field string, from, to Value, want bool) {
	t.Helper()
	if !want {
		if len(got) != 0 {
			t.Errorf("%s = %+v, want nothing", name, got)
		}
		return
	}
	if len(got) != 1 || got[0].Field != field || !got[0].Old.Equal(Normalize(field, from)) || !got[0].New.Equal(Normalize(field, to)) {
		t.Errorf("%s = %+v, want %s: %v → %v", name, got, field, from, to)
	}
}

func TestMergeListOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		base, crm, remote []string
		crmAt, remoteAt   time.Time
		policy            Policy
		want              []string
	}{
		{"unchanged", []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, t0, t1, NewestWins, []string{"a", "b"}},
		{"crm_new_primary", []string{"a", "b"}, []string{"b", "a"}, []string{"a", "b"}, t0, t1, NewestWins, []string{"b", "a"}},
		{"remote_new_primary", []string{"a", "b"}, []string{"a", "b"}, []string{"b", "a"}, t1, t0, CRMWins, []string{"b", "a"}},
		{"crm_inserts_first_remote_appends", []string{"a"}, []string{"z", "a"}, []string{"a", "c"}, t0, t1, NewestWins, []string{"z", "a", "c"}},
		{"remote_inserts_first_crm_appends", []string{"a"}, []string{"a", "c"}, []string{"z", "a"}, t1, t0, NewestWins, []string{"z", "a", "c"}},
		{"both_append_crm_first", []string{"a"}, []string{"a", "c"}, []string{"a", "r"}, t0, t1, ProviderWins, []string{"a", "c", "r"}},
		{"removal_is_not_reordering", []string{"a", "b", "c"}, []string{"a", "c"}, []string{"c", "b", "a"}, t1, t0, NewestWins, []string{"c", "a"}},
		{"both_reorder_newest_crm", []string{"a", "b", "c"}, []string{"c", "a", "b"}, []string{"b", "a", "c"}, t1, t0, NewestWins, []string{"c", "a", "b"}},
		{"both_reorder_newest_remote", []string{"a", "b", "c"}, []string{"c", "a", "b"}, []string{"b", "a", "c"}, t0, t1, NewestWins, []string{"b", "a", "c"}},
		{"both_reorder_crm_wins", []string{"a", "b", "c"}, []string{"c", "a", "b"}, []string{"b", "a", "c"}, t0, t1, CRMWins, []string{"c", "a", "b"}},
		{"both_reorder_provider_wins", []string{"a", "b", "c"}, []string{"c", "a", "b"}, []string{"b", "a", "c"}, t1, t0, ProviderWins, []string{"b", "a", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field := "x_list" // an unknown field: elements kept as written
			res := Merge(Fields{field: ListOf(tc.base...)}, Fields{field: ListOf(tc.crm...)}, Fields{field: ListOf(tc.remote...)}, tc.crmAt, tc.remoteAt, tc.policy)
			if got := res.Base[field].List; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if len(res.Replaced) != 0 || len(res.Conflicts) != 0 {
				t.Errorf("order is not a conflict: %+v %+v", res.Replaced, res.Conflicts)
			}
		})
	}
}

// New records are copied whatever the policy: a merge with an empty base
// and an empty other side takes everything from the side that has it.
func TestMergeNewRecord(t *testing.T) {
	t.Parallel()
	rec := Fields{
		FieldFirstName:  Str("Ada"),
		FieldLastName:   Str("Lovelace"),
		FieldEmails:     ListOf("Ada@Example.com", "ada@home.example"),
		FieldPhones:     ListOf("+44 (0)20 7946 0000"),
		FieldCategories: SetOf("VIP"),
		FieldNotes:      Str("Met at the\r\nconference"),
	}
	for _, policy := range Policies {
		for _, from := range []Side{SideCRM, SideRemote} {
			t.Run(fmt.Sprintf("%s/from_%s", policy, from), func(t *testing.T) {
				crm, remote := rec, Fields(nil)
				older, newer := t1, t0 // the side that has the record is the older: must not matter
				if from == SideRemote {
					crm, remote = nil, rec
				}
				res := Merge(nil, crm, remote, older, newer, policy)
				if !reflect.DeepEqual(res.Base, rec.Normalize()) {
					t.Errorf("Base = %v, want %v", res.Base, rec.Normalize())
				}
				to, other := res.ToRemote, res.ToCRM
				if from == SideRemote {
					to, other = res.ToCRM, res.ToRemote
				}
				if len(to) != len(rec) || len(other) != 0 {
					t.Errorf("writes: to the other side %d fields, back %d; want %d, 0", len(to), len(other), len(rec))
				}
				if len(res.Conflicts) != 0 || len(res.Replaced) != 0 {
					t.Errorf("conflicts on a new record: %+v", res.Conflicts)
				}
			})
		}
	}
}

// Several fields at once: each is decided on its own.
func TestMergeRecord(t *testing.T) {
	t.Parallel()
	base := Fields{
		FieldFirstName: Str("Ada"), FieldLastName: Str("Byron"), FieldTitle: Str("Analyst"),
		FieldEmails: ListOf("ada@example.com"), FieldPhones: ListOf("+44 20 7946 0000"), FieldNotes: Str("n"),
	}
	crm := Fields{
		FieldFirstName: Str("Ada"), FieldLastName: Str("Lovelace"), FieldTitle: Str("Countess"),
		FieldEmails: ListOf("ada@example.com", "ada@engine.example"), FieldPhones: ListOf("+442079460000"), FieldNotes: Str("n"),
	}
	remote := Fields{
		FieldFirstName: Str("Augusta Ada"), FieldLastName: Str("Byron"), FieldTitle: Str("Mathematician"),
		FieldEmails: ListOf("ADA@example.com"), FieldPhones: ListOf("0044 20 7946-0000"), FieldCompany: Str("Analytical Engines"),
	}
	res := Merge(base, crm, remote, t0, t1, NewestWins)
	want := Fields{
		FieldFirstName: Str("Augusta Ada"),   // remote only
		FieldLastName:  Str("Lovelace"),      // CRM only
		FieldTitle:     Str("Mathematician"), // both: the remote is newer
		FieldEmails:    ListOf("ada@example.com", "ada@engine.example"),
		FieldPhones:    ListOf("+442079460000"), // written three ways, the same number
		FieldCompany:   Str("Analytical Engines"),
		// notes: removed on the remote only
	}
	if !reflect.DeepEqual(res.Base, want) {
		t.Errorf("Base = %v\nwant %v", res.Base, want)
	}
	if want := []Replaced{{FieldTitle, "Countess", SideRemote}}; !reflect.DeepEqual(res.Replaced, want) {
		t.Errorf("Replaced = %+v, want %+v", res.Replaced, want)
	}
	var toCRM, toRemote []string
	for _, c := range res.ToCRM {
		toCRM = append(toCRM, c.Field)
	}
	for _, c := range res.ToRemote {
		toRemote = append(toRemote, c.Field)
	}
	if want := []string{FieldCompany, FieldFirstName, FieldNotes, FieldTitle}; !reflect.DeepEqual(toCRM, want) {
		t.Errorf("ToCRM fields = %q, want %q", toCRM, want)
	}
	if want := []string{FieldEmails, FieldLastName}; !reflect.DeepEqual(toRemote, want) {
		t.Errorf("ToRemote fields = %q, want %q", toRemote, want)
	}
	if !Apply(crm, res.ToCRM).Equal(want) || !Apply(remote, res.ToRemote).Equal(want) {
		t.Error("applying the writes does not give the result")
	}
}

func TestMergeInvalidPolicyIsNewestWins(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{"", "crm-wins", "NEWEST_WINS"} {
		res := Merge(Fields{FieldTitle: Str("a")}, Fields{FieldTitle: Str("b")}, Fields{FieldTitle: Str("c")}, t0, t1, p)
		if res.Base[FieldTitle].Str != "c" || len(res.Replaced) != 1 {
			t.Errorf("policy %q: %+v", p, res)
		}
	}
}

// A field the engine does not know, a scalar on one side and a list on the
// other, is merged as one value.
func TestMergeMixedKinds(t *testing.T) {
	t.Parallel()
	res := Merge(Fields{"x": Str("a")}, Fields{"x": ListOf("a", "b")}, Fields{"x": Str("c")}, t1, t0, NewestWins)
	if !res.Base["x"].Equal(ListOf("a", "b")) {
		t.Errorf("got %v", res.Base["x"])
	}
	if want := []Replaced{{"x", "c", SideCRM}}; !reflect.DeepEqual(res.Replaced, want) {
		t.Errorf("Replaced = %+v", res.Replaced)
	}
	res = Merge(Fields{"x": Str("a")}, Fields{"x": ListOf("a", "b")}, Fields{"x": Str("c")}, t0, t1, NewestWins)
	if want := []Replaced{{"x", "a, b", SideRemote}}; !reflect.DeepEqual(res.Replaced, want) {
		t.Errorf("Replaced = %+v", res.Replaced)
	}
}

// The merge's result merged again changes nothing: the engine's writes do
// not come back.
func TestMergeFixedPoint(t *testing.T) {
	t.Parallel()
	res := Merge(
		Fields{FieldTitle: Str("a"), FieldEmails: ListOf("a@x", "b@x")},
		Fields{FieldTitle: Str("b"), FieldEmails: ListOf("b@x", "a@x", "c@x")},
		Fields{FieldTitle: Str("c"), FieldEmails: ListOf("a@x", "d@x")},
		t0, t1, NewestWins)
	again := Merge(res.Base, res.CRM, res.Remote, t1, t1, NewestWins)
	if len(again.ToCRM)+len(again.ToRemote)+len(again.Conflicts)+len(again.Replaced) != 0 {
		t.Errorf("second merge: %+v", again)
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Policy{"": NewestWins, "newest_wins": NewestWins, "crm_wins": CRMWins, "provider_wins": ProviderWins} {
		if got, err := ParsePolicy(in); got != want || err != nil {
			t.Errorf("ParsePolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("outlook_wins"); err != ErrUnknownPolicy {
		t.Errorf("err = %v", err)
	}
}

func TestSide(t *testing.T) {
	t.Parallel()
	if SideCRM.Other() != SideRemote || SideRemote.Other() != SideCRM || !SideCRM.Valid() || Side("x").Valid() {
		t.Fatal("Side")
	}
}
