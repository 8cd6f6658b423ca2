package crm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// What an import does with a record that breaks the rules of validate.go.
// The API refuses such a value; an import cannot ask its sender again, so
// it keeps what can be stored: a text too long is cut, a bad item of a
// list is dropped, a list too long keeps its first items, a bad date is
// dropped. Each of these is a Warning, shown on the account, so nothing is
// lost silently. Only a value the record cannot do without (an event's
// start) refuses the whole record, with a FieldError.

// Warning is a value an import cut or dropped. Field names it as the API
// would ("emails[3]", "description").
type Warning struct {
	Field   string
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

// sanitizer applies the rules to one record, collecting warnings.
type sanitizer struct{ warnings []Warning }

func (s *sanitizer) warn(field, format string, args ...any) {
	s.warnings = append(s.warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

// text cuts *v to maxLen characters.
func (s *sanitizer) text(field string, v *string, maxLen int) {
	if n := utf8.RuneCountInString(*v); n > maxLen {
		*v = strings.TrimSpace(cutRunes(*v, maxLen))
		s.warn(field, "cut to %d characters (it had %d)", maxLen, n)
	}
}

func cutRunes(v string, n int) string {
	i := 0
	for pos := range v {
		if i == n {
			return v[:pos]
		}
		i++
	}
	return v
}

// list drops the items norm refuses and repeats, and keeps at most
// MaxListItems.
func (s *sanitizer) list(field string, v *[]string, norm func(string) (string, error)) {
	if len(*v) == 0 {
		return
	}
	out := make([]string, 0, min(len(*v), MaxListItems))
	over := 0
	for i, it := range *v {
		n, err := norm(it)
		switch {
		case err != nil:
			s.warn(fmt.Sprintf("%s[%d]", field, i), "%q dropped: it %s", short(it), strings.TrimSuffix(err.Error(), "."))
		case slices.Contains(out, n):
		case len(out) == MaxListItems:
			over++
		default:
			out = append(out, n)
		}
	}
	if over > 0 {
		s.warn(field, "%d more dropped: at most %d are kept", over, MaxListItems)
	}
	*v = out
}

// short is a value as a warning quotes it: at most 100 characters.
func short(v string) string {
	if utf8.RuneCountInString(v) > 100 {
		return cutRunes(v, 100) + "…"
	}
	return v
}

// when drops *w when it is not a valid calendar time.
func (s *sanitizer) when(field string, w *When) {
	if *w == "" {
		return
	}
	if _, err := w.parse(); err != nil {
		s.warn(field, "%q dropped: %s", short(string(*w)), err)
		*w = ""
	}
}

// whens drops the invalid times of a list and keeps at most MaxDates.
func (s *sanitizer) whens(field string, ws *[]When) {
	out := (*ws)[:0:0]
	for i, w := range *ws {
		if s.when(fmt.Sprintf("%s[%d]", field, i), &w); w != "" {
			out = append(out, w)
		}
	}
	if len(out) > MaxDates {
		s.warn(field, "%d more dropped: at most %d are kept", len(out)-MaxDates, MaxDates)
		out = out[:MaxDates]
	}
	if len(out) == 0 {
		out = nil
	}
	*ws = out
}

// customFields cuts keys and values that are too long and keeps at most
// MaxCustomFields keys (in key order).
func (s *sanitizer) customFields(m *map[string]string) {
	if len(*m) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(*m))
	out := make(map[string]string, min(len(keys), MaxCustomFields))
	for _, k := range keys {
		v := (*m)[k]
		f := "custom_fields." + short(k)
		if strings.TrimSpace(k) == "" || utf8.RuneCountInString(k) > MaxCustomFieldKey {
			s.warn(f, "dropped: custom field names must be 1 to %d characters and not blank", MaxCustomFieldKey)
			continue
		}
		if len(out) == MaxCustomFields {
			s.warn(f, "dropped: a record holds at most %d custom fields", MaxCustomFields)
			continue
		}
		s.text(f, &v, MaxCustomFieldValue)
		out[k] = v
	}
	*m = out
}

// SanitizeContact makes an imported contact fit the rules of a contact.
func SanitizeContact(c *Contact) []Warning {
	var s sanitizer
	s.text("first_name", &c.FirstName, MaxName)
	s.text("last_name", &c.LastName, MaxName)
	s.list("emails", &c.Emails, NormalizeEmail)
	s.list("phones", &c.Phones, NormalizePhone)
	s.text("title", &c.Title, MaxName)
	s.text("address.street", &c.Address.Street, MaxAddressPart)
	s.text("address.city", &c.Address.City, MaxAddressPart)
	s.text("address.region", &c.Address.Region, MaxAddressPart)
	s.text("address.postal_code", &c.Address.PostalCode, MaxAddressPart)
	s.text("address.country", &c.Address.Country, MaxAddressPart)
	s.text("notes", &c.Notes, MaxLongText)
	s.list("categories", &c.Categories, NormalizeCategory)
	s.customFields(&c.CustomFields)
	return s.warnings
}

// SanitizeTask makes an imported task fit the rules of a task.
func SanitizeTask(t *Task) []Warning {
	var s sanitizer
	s.text("summary", &t.Summary, MaxSummary)
	s.text("description", &t.Description, MaxLongText)
	s.when("due", &t.Due)
	s.when("completed_at", &t.CompletedAt)
	if t.Priority < 0 || t.Priority > 9 {
		s.warn("priority", "%d dropped: a priority is from 0 to 9", t.Priority)
		t.Priority = 0
	}
	s.list("categories", &t.Categories, NormalizeCategory)
	s.customFields(&t.CustomFields)
	return s.warnings
}

// SanitizeEvent makes an imported event fit the rules of an event. An
// event without a valid start cannot be stored: that is a FieldError. A
// recurrence rule CheckRRule refuses is kept as the server has it (it is
// the server's to expand), with a warning: see RRuleAccepted.
func SanitizeEvent(e *Event) ([]Warning, error) {
	var s sanitizer
	if _, err := e.Start.parse(); err != nil {
		return nil, invalidf("start", "start (%q) is not accepted: %s.", short(string(e.Start)), strings.TrimSuffix(err.Error(), "."))
	}
	s.text("summary", &e.Summary, MaxSummary)
	s.text("description", &e.Description, MaxLongText)
	s.text("location", &e.Location, MaxLocation)
	s.when("end", &e.End)
	if !RRuleAccepted(e.RRule) {
		s.warn("rrule", "%q is kept as the server has it, but crmsync neither expands it nor writes the event back: %s", short(e.RRule), RRuleProblem(e.RRule))
	}
	s.whens("exdates", &e.ExDates)
	s.whens("rdates", &e.RDates)
	if len(e.Overrides) > MaxDates {
		s.warn("overrides", "%d more dropped: at most %d are kept", len(e.Overrides)-MaxDates, MaxDates)
		e.Overrides = e.Overrides[:MaxDates]
	}
	ovs := e.Overrides[:0:0]
	for i, o := range e.Overrides {
		f := fmt.Sprintf("overrides[%d]", i)
		if _, err := o.RecurrenceID.parse(); err != nil {
			s.warn(f, "dropped: its recurrence_id %q %s", short(string(o.RecurrenceID)), err)
			continue
		}
		s.text(f+".summary", &o.Summary, MaxSummary)
		s.text(f+".description", &o.Description, MaxLongText)
		s.text(f+".location", &o.Location, MaxLocation)
		s.when(f+".start", &o.Start)
		s.when(f+".end", &o.End)
		ovs = append(ovs, o)
	}
	if len(ovs) == 0 {
		ovs = nil
	}
	e.Overrides = ovs
	s.list("attendees", &e.Attendees, NormalizeEmail)
	s.list("categories", &e.Categories, NormalizeCategory)
	s.customFields(&e.CustomFields)
	return s.warnings, nil
}

// RRuleAccepted reports whether a rule is one crmsync may expand and write to
// a server: none, or one CheckRRule accepts.
func RRuleAccepted(rule string) bool {
	_, err := CheckRRule(rule)
	return err == nil
}

// RRuleProblem says why CheckRRule refuses a rule ("" when it does not).
func RRuleProblem(rule string) string {
	if _, err := CheckRRule(rule); err != nil {
		return strings.TrimSuffix(err.Error(), ".")
	}
	return ""
}
