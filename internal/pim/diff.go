package pim

import (
	"slices"
	"sort"
)

// FieldChange is one field that differs between two records.
type FieldChange struct {
	Field string `json:"field"`
	// Old and New are the whole values before and after (zero when empty).
	Old Value `json:"old"`
	New Value `json:"new"`
	// Added and Removed are, for a List or Set, the elements New has that
	// Old lacks (in New's order) and those Old has that New lacks (in Old's
	// order). Both are empty when a List was only reordered. Writers that
	// patch a provider element by element (a Graph PATCH of one email) use
	// them; the others write New.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Diff returns the fields whose values differ between base and now, sorted
// by field name. Both are normalized first, so a change of case in an
// email or of spacing in a phone number is not a change. A field absent
// from one side is empty there.
func Diff(base, now Fields) []FieldChange {
	return diffNormalized(base.Normalize(), now.Normalize())
}

func diffNormalized(base, now Fields) []FieldChange {
	var out []FieldChange
	for _, name := range fieldNames(base, now) {
		b, n := base[name], now[name]
		if b.Equal(n) {
			continue
		}
		c := FieldChange{Field: name, Old: b.clone(), New: n.clone()}
		if b.Kind.multi() || n.Kind.multi() {
			c.Added = minus(n.List, b.List)
			c.Removed = minus(b.List, n.List)
		}
		out = append(out, c)
	}
	return out
}

// Apply returns a copy of f with changes applied: each changed field takes
// its New value (an empty New removes the field). f is not modified.
func Apply(f Fields, changes []FieldChange) Fields {
	out := f.Clone()
	if out == nil {
		out = Fields{}
	}
	for _, c := range changes {
		if c.New.IsZero() {
			delete(out, c.Field)
		} else {
			out[c.Field] = c.New.clone()
		}
	}
	return out
}

// fieldNames returns the names present in any of fs, sorted.
func fieldNames(fs ...Fields) []string {
	seen := map[string]bool{}
	var names []string
	for _, f := range fs {
		for name := range f {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// minus returns the elements of a not in b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, e := range a {
		if !slices.Contains(b, e) {
			out = append(out, e)
		}
	}
	return out
}
