package pim

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		field string
		in    Value
		want  Value
	}{
		{"scalar_trimmed", FieldNotes, Str("  hello\r\nworld \r"), Str("hello\nworld")},
		{"one_line_field_spaces", FieldFirstName, Str(" Ada \t\n Augusta "), Str("Ada Augusta")},
		{"scalar_empty_is_zero", FieldTitle, Str("   "), Value{}},
		{"scalar_kind_fixed_for_known_field", FieldTitle, ListOf("a", "b"), Str("a, b")},
		{"emails_lower_dedup_keep_order", FieldEmails, ListOf(" B@X.com", "a@x.com", "b@x.com", "MAILTO:A@x.COM", ""), ListOf("b@x.com", "a@x.com")},
		{"emails_from_scalar", FieldEmails, Str("Ada@X.com"), ListOf("ada@x.com")},
		{"emails_given_as_set_stay_a_list", FieldEmails, SetOf("b@x", "a@x"), ListOf("b@x", "a@x")},
		{"phones", FieldPhones, ListOf("+1 (555) 010-0000", "+15550100000", "06 12 34 56 78"), ListOf("+15550100000", "0612345678")},
		{"categories_sorted_dedup", FieldCategories, SetOf("VIP", " Golf  club", "VIP", ""), SetOf("Golf club", "VIP")},
		{"categories_case_kept", FieldCategories, SetOf("vip", "VIP"), SetOf("VIP", "vip")},
		{"attendees_set_of_emails", FieldAttendees, ListOf("B@x", "a@x"), SetOf("a@x", "b@x")},
		{"empty_list_is_zero", FieldEmails, ListOf(" ", ""), Value{}},
		{"unknown_scalar_default", "x_custom", Value{Str: " v "}, Str("v")},
		{"unknown_list_kept_kind", "x_custom", ListOf("b", " a ", "b"), ListOf("b", "a")},
		{"unknown_set_kept_kind", "x_custom", SetOf("b", " a ", "b"), SetOf("a", "b")},
		{"zero", FieldTitle, Value{}, Value{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Normalize(tc.field, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Normalize(%q, %+v) = %+v, want %+v", tc.field, tc.in, got, tc.want)
			}
			if again := Normalize(tc.field, got); !reflect.DeepEqual(again, got) {
				t.Errorf("not idempotent: %+v then %+v", got, again)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"+33 6 12 34 56 78", "+33612345678"},
		{"+33 (0)6 12 34 56 78", "+33612345678"},
		{"+44 (0)20 7946-0000", "+442079460000"},
		{"0044 20 7946 0000", "+442079460000"},
		{"00 44 (0) 20 7946 0000", "+442079460000"},
		{"0 044 20 7946 0000", "+442079460000"},
		{"1 555\xbfX 2", "1 555\xbfX 2"}, // invalid UTF-8: kept
		{"(555) 010.0000", "5550100000"},
		{"06/12/34/56/78", "0612345678"},
		{"tel:+1-555-010-0000", "+15550100000"},
		{"TEL: +1 555 010 0000", "+15550100000"},
		{"+1 555 010 0000 x123", "+15550100000;ext=123"},
		{"+1 555 010 0000 ext. 123", "+15550100000;ext=123"},
		{"+1 555 010 0000 Ext 123", "+15550100000;ext=123"},
		{"+15550100000;ext=123", "+15550100000;ext=123"},
		{"+1\u00a0555\u00a0010\u00a00000", "+15550100000"}, // no-break spaces, as Outlook pastes them
		{"1-800-FLOWERS", "1-800-FLOWERS"},                 // letters: kept as typed
		{" 1-800-FLOWERS  now ", "1-800-FLOWERS now"},
		{"+1 555 + 2", "+1 555 + 2"}, // "+" in the middle
		{"x123", "x123"},             // an extension with no number
		{"+1 555 x", "+1 555 x"},     // a marker with no extension
		{"++1", "++1"},
		{"+", "+"},
		{"00", "00"},
		{"", ""},
		{"  ", ""},
	} {
		got := NormalizePhone(tc.in)
		if got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := NormalizePhone(got); again != got {
			t.Errorf("NormalizePhone not idempotent on %q: %q then %q", tc.in, got, again)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" John.Doe@Example.COM ": "john.doe@example.com",
		"mailto:a@x":             "a@x",
		"MailTo: mailto:A@X":     "a@x",
		"not an address":         "not an address",
		"":                       "",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldsNormalizeEqualClone(t *testing.T) {
	t.Parallel()
	f := Fields{FieldTitle: Str(" CEO "), FieldNotes: Str(""), FieldEmails: ListOf("A@x")}
	n := f.Normalize()
	if want := (Fields{FieldTitle: Str("CEO"), FieldEmails: ListOf("a@x")}); !reflect.DeepEqual(n, want) {
		t.Errorf("Normalize = %v", n)
	}
	if f[FieldTitle].Str != " CEO " {
		t.Error("Normalize modified its receiver")
	}
	if !f.Equal(Fields{FieldTitle: Str("CEO"), FieldEmails: ListOf("a@x")}) || f.Equal(Fields{FieldTitle: Str("CEO")}) {
		t.Error("Equal")
	}
	c := n.Clone()
	c[FieldEmails].List[0] = "changed"
	if n[FieldEmails].List[0] != "a@x" {
		t.Error("Clone shares lists")
	}
	if Fields(nil).Clone() != nil {
		t.Error("Clone(nil)")
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	if !(Value{}).Equal(Str("")) || !ListOf().Equal(Value{}) || Str("a").Equal(ListOf("a")) || !SetOf("a").Equal(SetOf("a")) {
		t.Error("Equal")
	}
	if ListOf("a", "b").String() != "a, b" || Str("x").String() != "x" {
		t.Error("String")
	}
	if KindOf(FieldEmails) != List || KindOf(FieldCategories) != Set || KindOf(FieldTitle) != Scalar || KindOf("x") != 0 {
		t.Error("KindOf")
	}
	if Scalar.String() != "scalar" || List.String() != "list" || Set.String() != "set" || Kind(0).String() != "unknown" {
		t.Error("Kind.String")
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		base, now Fields
		want      []FieldChange
	}{
		{"equal", Fields{FieldTitle: Str("a")}, Fields{FieldTitle: Str(" a ")}, nil},
		{"both_empty", nil, Fields{FieldNotes: Str("")}, nil},
		{"case_of_email_is_no_change", Fields{FieldEmails: ListOf("a@x")}, Fields{FieldEmails: ListOf("A@X")}, nil},
		{"set_order_is_no_change", Fields{FieldCategories: SetOf("a", "b")}, Fields{FieldCategories: SetOf("b", "a")}, nil},
		{"scalar_changed", Fields{FieldTitle: Str("a")}, Fields{FieldTitle: Str("b")},
			[]FieldChange{{Field: FieldTitle, Old: Str("a"), New: Str("b")}}},
		{"scalar_added", nil, Fields{FieldTitle: Str("b")},
			[]FieldChange{{Field: FieldTitle, New: Str("b")}}},
		{"scalar_removed", Fields{FieldTitle: Str("a")}, Fields{},
			[]FieldChange{{Field: FieldTitle, Old: Str("a")}}},
		{"list_elements", Fields{FieldEmails: ListOf("a@x", "b@x")}, Fields{FieldEmails: ListOf("c@x", "a@x")},
			[]FieldChange{{Field: FieldEmails, Old: ListOf("a@x", "b@x"), New: ListOf("c@x", "a@x"), Added: []string{"c@x"}, Removed: []string{"b@x"}}}},
		{"list_reordered", Fields{FieldEmails: ListOf("a@x", "b@x")}, Fields{FieldEmails: ListOf("b@x", "a@x")},
			[]FieldChange{{Field: FieldEmails, Old: ListOf("a@x", "b@x"), New: ListOf("b@x", "a@x")}}},
		{"sorted_by_field", Fields{FieldTitle: Str("a"), FieldCompany: Str("x")}, Fields{FieldTitle: Str("b"), FieldCompany: Str("y")},
			[]FieldChange{{Field: FieldCompany, Old: Str("x"), New: Str("y")}, {Field: FieldTitle, Old: Str("a"), New: Str("b")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.base, tc.now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff = %+v\nwant %+v", got, tc.want)
			}
			if applied := Apply(tc.base, got); !applied.Equal(tc.now) {
				t.Errorf("Apply(base, Diff) = %v, want %v", applied, tc.now)
			}
		})
	}
}

func TestApplyDoesNotModify(t *testing.T) {
	t.Parallel()
	f := Fields{FieldTitle: Str("a"), FieldNotes: Str("n")}
	got := Apply(f, []FieldChange{{Field: FieldTitle, New: Str("b")}, {Field: FieldNotes}})
	if f[FieldTitle].Str != "a" || len(f) != 2 {
		t.Error("Apply modified its input")
	}
	if !reflect.DeepEqual(got, Fields{FieldTitle: Str("b")}) {
		t.Errorf("Apply = %v", got)
	}
	if got := Apply(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("Apply(nil, nil) = %#v", got)
	}
}

// A base snapshot is stored as JSON: it must come back as it went.
func TestFieldsJSON(t *testing.T) {
	t.Parallel()
	f := Fields{FieldTitle: Str("CEO"), FieldEmails: ListOf("a@x", "b@x"), FieldCategories: SetOf("VIP")}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"categories":{"kind":"set","list":["VIP"]},"emails":{"kind":"list","list":["a@x","b@x"]},"title":{"kind":"scalar","str":"CEO"}}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant %s", b, want)
	}
	var back Fields
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, f) {
		t.Errorf("round trip = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"x":{"kind":"tree"}}`), &back); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := json.Marshal(Value{Kind: 9}); err == nil {
		t.Error("invalid kind marshalled")
	}
}
