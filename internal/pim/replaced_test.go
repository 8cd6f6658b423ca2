package pim

import (
	"reflect"
	"testing"
	"time"
)

func TestCustomFieldName(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 21, 23, 30, 0, 0, time.UTC)
	for field, want := range map[string]string{
		"email":      "replaced_email_2026-11-21",
		FieldTitle:   "replaced_title_2026-11-21",
		"first_name": "replaced_first_name_2026-11-21",
		"Job Title":  "replaced_job_title_2026-11-21",
		"x-prop.1":   "replaced_x_prop_1_2026-11-21",
		"é":          "replaced___2026-11-21", // one "_" per character
	} {
		if got := CustomFieldName(field, day); got != want {
			t.Errorf("CustomFieldName(%q) = %q, want %q", field, got, want)
		}
	}
	// The date is the calendar date in day's location.
	paris := time.FixedZone("CET", 3600)
	if got := CustomFieldName("email", day.In(paris)); got != "replaced_email_2026-11-22" {
		t.Errorf("in Paris: %q", got)
	}
}

func TestReplacedCustomFields(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		existing map[string]string
		replaced []Replaced
		want     map[string]string
	}{
		{"first", nil, []Replaced{{FieldTitle, "CTO", SideRemote}},
			map[string]string{"replaced_title_2026-11-21": "CTO"}},
		{"second_same_day_gets_suffix", map[string]string{"replaced_title_2026-11-21": "CTO"}, []Replaced{{FieldTitle, "VP", SideCRM}},
			map[string]string{"replaced_title_2026-11-21_2": "VP"}},
		{"third_same_day", map[string]string{"replaced_title_2026-11-21": "CTO", "replaced_title_2026-11-21_2": "VP"}, []Replaced{{FieldTitle, "CEO", SideCRM}},
			map[string]string{"replaced_title_2026-11-21_3": "CEO"}},
		{"replay_adds_nothing", map[string]string{"replaced_title_2026-11-21": "CTO", "replaced_title_2026-11-21_2": "VP"}, []Replaced{{FieldTitle, "VP", SideCRM}},
			map[string]string{}},
		{"other_day_free", map[string]string{"replaced_title_2026-11-20": "CTO"}, []Replaced{{FieldTitle, "VP", SideCRM}},
			map[string]string{"replaced_title_2026-11-21": "VP"}},
		{"several_fields", nil, []Replaced{{FieldTitle, "CTO", SideCRM}, {FieldNotes, "old notes", SideRemote}},
			map[string]string{"replaced_title_2026-11-21": "CTO", "replaced_notes_2026-11-21": "old notes"}},
		{"same_field_twice_in_one_call", nil, []Replaced{{FieldTitle, "CTO", SideCRM}, {FieldTitle, "VP", SideCRM}},
			map[string]string{"replaced_title_2026-11-21": "CTO", "replaced_title_2026-11-21_2": "VP"}},
		{"empty_value_skipped", nil, []Replaced{{FieldTitle, "", SideCRM}}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before map[string]string
			if tc.existing != nil {
				before = map[string]string{}
				for k, v := range tc.existing {
					before[k] = v
				}
			}
			got := ReplacedCustomFields(tc.existing, tc.replaced, day)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReplacedCustomFields = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.existing, before) {
				t.Error("existing was modified")
			}
		})
	}
}
