package pim

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Kind says how a field's value is shaped, compared and merged.
type Kind uint8

const (
	// Scalar is one string: a name, a title, a note, a date in its
	// canonical text form. Changed on both sides, it is a conflict.
	Scalar Kind = iota + 1
	// List is an ordered set: no duplicates, and the order means something
	// (the first email or phone is the primary one, as in a vCard's PREF,
	// Graph's emailAddresses array and the CRM's Emails[0]). Merged element
	// by element; the order follows the side that reordered.
	List
	// Set is an unordered set, kept sorted (categories, attendees): two sets
	// with the same elements are the same value whatever order a provider
	// returned them in. Merged element by element.
	Set
)

func (k Kind) String() string {
	switch k {
	case Scalar:
		return "scalar"
	case List:
		return "list"
	case Set:
		return "set"
	}
	return "unknown"
}

// MarshalText writes k as "scalar", "list" or "set" (the zero Kind as ""),
// so that a base snapshot stored as JSON reads as what it is.
func (k Kind) MarshalText() ([]byte, error) {
	if k == 0 {
		return nil, nil
	}
	if k.String() == "unknown" {
		return nil, fmt.Errorf("pim: unknown value kind %d", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads what MarshalText writes.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, x := range []Kind{0, Scalar, List, Set} {
		if t, _ := x.MarshalText(); string(t) == string(b) {
			*k = x
			return nil
		}
	}
	return fmt.Errorf("pim: unknown value kind %q", b)
}

// multi reports whether k holds several elements.
func (k Kind) multi() bool { return k == List || k == Set }

// Value is one field's value. A Scalar has Str; a List or Set has List.
// The zero Value is the empty value of every kind: an absent field, an
// empty string and an empty list are the same thing to the engine, because
// providers do not tell them apart either (a vCard without NOTE, a Graph
// contact with "personalNotes": "", a Google contact without biographies).
type Value struct {
	Kind Kind     `json:"kind"`
	Str  string   `json:"str,omitempty"`
	List []string `json:"list,omitempty"`
}

// Str returns a Scalar value.
func Str(s string) Value { return Value{Kind: Scalar, Str: s} }

// ListOf returns a List value (ordered; the first element is the primary).
func ListOf(elems ...string) Value { return Value{Kind: List, List: elems} }

// SetOf returns a Set value (unordered).
func SetOf(elems ...string) Value { return Value{Kind: Set, List: elems} }

// IsZero reports whether v is empty (see Value).
func (v Value) IsZero() bool { return v.Str == "" && len(v.List) == 0 }

// Equal reports whether v and w are the same value. Both are expected in
// canonical form (see Normalize); empty values of any kind are equal.
func (v Value) Equal(w Value) bool {
	if v.IsZero() || w.IsZero() {
		return v.IsZero() && w.IsZero()
	}
	return v.Kind == w.Kind && v.Str == w.Str && slices.Equal(v.List, w.List)
}

// String renders v for people: a scalar as is, a list or set with its
// elements joined by ", ". It is what a replaced value looks like in the
// CRM's custom field.
func (v Value) String() string {
	if v.Kind.multi() {
		return strings.Join(v.List, ", ")
	}
	return v.Str
}

func (v Value) clone() Value {
	v.List = slices.Clone(v.List)
	return v
}

// Fields is a normalized record: field name → value. Connectors translate a
// provider's item (vCard, VTODO, Graph contact…) to Fields and back, the
// engine translates a CRM record the same way, and everything in between —
// snapshots, diffs, merges — works on Fields alone. A field that is absent
// is empty.
//
// Only the fields that are synchronised belong here. The CRM's custom
// fields (where replaced values are kept) and provider-only properties
// (photos, X- properties) stay out, so they are never compared.
type Fields map[string]Value

// Field names known to the engine. A connector may use others: their kind
// is then the Value's own, and their elements are normalized as text.
const (
	FieldFirstName   = "first_name"
	FieldLastName    = "last_name"
	FieldCompany     = "company"
	FieldTitle       = "title"
	FieldEmails      = "emails"
	FieldPhones      = "phones"
	FieldCategories  = "categories"
	FieldNotes       = "notes"
	FieldSummary     = "summary" // tasks, events
	FieldDescription = "description"
	FieldLocation    = "location"
	FieldAttendees   = "attendees" // events: addresses
	FieldAddress     = "address"   // contacts: crm.PostalAddress.String()

	// Tasks and events. Times are crm.When strings.
	FieldDue       = "due"
	FieldStatus    = "status"   // tasks: crm.TaskStatus
	FieldPriority  = "priority" // tasks: "1".."9", "" undefined
	FieldCompleted = "completed"
	FieldStart     = "start"
	FieldEnd       = "end"
	FieldRRule     = "rrule"     // events: canonical RRULE value
	FieldExDates   = "exdates"   // events: crm.When of skipped occurrences
	FieldRDates    = "rdates"    // events: crm.When of added occurrences
	FieldOverrides = "overrides" // events: canonical JSON of []crm.EventOverride
)

// fieldSpec fixes the kind and element normalization of a known field.
type fieldSpec struct {
	kind Kind
	norm func(string) string
}

var fieldSpecs = map[string]fieldSpec{
	FieldFirstName:   {Scalar, normalizeLine},
	FieldLastName:    {Scalar, normalizeLine},
	FieldCompany:     {Scalar, normalizeLine},
	FieldTitle:       {Scalar, normalizeLine},
	FieldSummary:     {Scalar, normalizeLine},
	FieldLocation:    {Scalar, normalizeLine},
	FieldNotes:       {Scalar, normalizeText},
	FieldDescription: {Scalar, normalizeText},
	FieldEmails:      {List, NormalizeEmail},
	FieldPhones:      {List, NormalizePhone},
	FieldCategories:  {Set, normalizeLine},
	FieldAttendees:   {Set, NormalizeEmail},
	FieldAddress:     {Scalar, normalizeLine},
	FieldDue:         {Scalar, normalizeLine},
	FieldStatus:      {Scalar, normalizeLine},
	FieldPriority:    {Scalar, normalizeLine},
	FieldCompleted:   {Scalar, normalizeLine},
	FieldStart:       {Scalar, normalizeLine},
	FieldEnd:         {Scalar, normalizeLine},
	FieldRRule:       {Scalar, normalizeLine},
	FieldExDates:     {Set, normalizeLine},
	FieldRDates:      {Set, normalizeLine},
	// Overrides are one value: two sides changing the same occurrence is
	// a conflict for the policy, not two occurrences.
	FieldOverrides: {Scalar, normalizeText},
}

// KindOf returns the kind of a known field, or 0 for a field the engine
// does not know (its values then carry their own kind).
func KindOf(field string) Kind { return fieldSpecs[field].kind }

// Normalize returns v in canonical form for field:
//
//   - the kind of a known field is fixed (a Scalar given for "emails" becomes
//     a one-element List); an unknown field keeps its value's kind, Scalar
//     when unset;
//   - scalars are trimmed and their line endings made "\n"; one-line fields
//     (names, title, company, summary, location) also have every run of
//     white space made one space;
//   - elements are normalized per field (emails lower-cased, phones as in
//     NormalizePhone, others as one-line text), and empty ones dropped;
//   - a List drops later duplicates and keeps its order; a Set is sorted and
//     deduplicated;
//   - an empty result is the zero Value.
//
// Normalize is idempotent. Text is not Unicode-normalized (NFC would need a
// dependency beyond the standard library): providers return what they were
// given, so the same client's text compares equal.
func Normalize(field string, v Value) Value {
	spec, known := fieldSpecs[field]
	kind := v.Kind
	if known {
		kind = spec.kind
	}
	if kind == 0 {
		kind = Scalar
	}
	norm := spec.norm
	if norm == nil {
		norm = normalizeText
		if kind.multi() {
			norm = normalizeLine
		}
	}
	var out Value
	if kind == Scalar {
		s := v.Str
		if s == "" && len(v.List) > 0 {
			s = strings.Join(v.List, ", ")
		}
		if s = norm(s); s == "" {
			return Value{}
		}
		return Value{Kind: Scalar, Str: s}
	}
	elems := v.List
	if len(elems) == 0 && v.Str != "" {
		elems = []string{v.Str}
	}
	seen := make(map[string]bool, len(elems))
	for _, e := range elems {
		e = norm(e)
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		out.List = append(out.List, e)
	}
	if len(out.List) == 0 {
		return Value{}
	}
	out.Kind = kind
	if kind == Set {
		slices.Sort(out.List)
	}
	return out
}

// Normalize returns a canonical copy of f: every value normalized (see the
// function Normalize) and empty ones left out. f is not modified.
func (f Fields) Normalize() Fields {
	out := make(Fields, len(f))
	for name, v := range f {
		if v = Normalize(name, v); !v.IsZero() {
			out[name] = v
		}
	}
	return out
}

// Equal reports whether f and g hold the same values once normalized.
func (f Fields) Equal(g Fields) bool {
	nf, ng := f.Normalize(), g.Normalize()
	if len(nf) != len(ng) {
		return false
	}
	for name, v := range nf {
		if !v.Equal(ng[name]) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of f.
func (f Fields) Clone() Fields {
	if f == nil {
		return nil
	}
	out := make(Fields, len(f))
	for name, v := range f {
		out[name] = v.clone()
	}
	return out
}

// normalizeText trims s and makes its line endings "\n".
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// normalizeLine makes every run of white space (line breaks included) one
// space and trims the ends.
func normalizeLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// NormalizeEmail trims an address, drops "mailto:" prefixes and lower-cases
// it, as crm.NormalizeEmail does. It does not validate: an address the
// CRM would refuse still compares equal to itself, and the connector that
// writes it decides what to do.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = strings.TrimSpace(s[7:])
	}
	return strings.ToLower(s)
}

// DisplayName is what an address book shows for a contact whose fields
// are f: its name, or, for a contact without one, its company, first
// email or first phone (a vCard's mandatory FN, Outlook's displayName).
func DisplayName(f Fields) string {
	if n := strings.TrimSpace(f[FieldFirstName].Str + " " + f[FieldLastName].Str); n != "" {
		return n
	}
	if c := f[FieldCompany].Str; c != "" {
		return c
	}
	for _, l := range [][]string{f[FieldEmails].List, f[FieldPhones].List} {
		if len(l) > 0 {
			return l[0]
		}
	}
	return ""
}
