package pim

import (
	"strconv"
	"strings"
	"time"
)

// CustomFieldName returns the name of the CRM custom field that keeps a
// value NewestWins replaced in field on day: "replaced_", the field name,
// "_" and the date as YYYY-MM-DD, e.g. "replaced_email_2026-11-21". The
// field name is lower-cased and anything but a-z, 0-9 and "_" becomes "_",
// so the name is safe as a custom field key, a form field name and a CSV
// column. The date is day's calendar date in day's location: the engine
// passes the time of the sync in UTC.
//
// The name alone can collide: the same field replaced twice on the same day
// (two syncs, two conflicts). ReplacedCustomFields resolves that with a
// suffix: "replaced_email_2026-11-21_2", then "_3", and so on.
func CustomFieldName(field string, day time.Time) string {
	// A replaced element of a list is one email or phone: the field is
	// named for one ("replaced_email_…", as users of such integrations
	// know it), not for the list.
	switch field {
	case FieldEmails:
		field = "email"
	case FieldPhones:
		field = "phone"
	}
	var b strings.Builder
	b.WriteString("replaced_")
	for _, r := range strings.ToLower(field) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(day.Format(time.DateOnly))
	return b.String()
}

// ReplacedCustomFields returns the custom fields to add to a CRM record that
// has the custom fields existing, to keep the values in replaced: name (see
// CustomFieldName) → the replaced value. existing is not modified.
//
// A name already taken gets the first free suffix "_2", "_3"… — unless the
// field of that day already holds the same value (under the bare name or a
// suffixed one): then nothing is added, so replaying a sync after a crash
// does not keep the same value twice.
func ReplacedCustomFields(existing map[string]string, replaced []Replaced, day time.Time) map[string]string {
	added := map[string]string{}
	taken := func(name string) (string, bool) {
		if v, ok := existing[name]; ok {
			return v, true
		}
		v, ok := added[name]
		return v, ok
	}
	for _, r := range replaced {
		if r.OldValue == "" {
			continue
		}
		base := CustomFieldName(r.Field, day)
		for n := 1; ; n++ {
			name := base
			if n > 1 {
				name += "_" + strconv.Itoa(n)
			}
			v, ok := taken(name)
			if !ok {
				added[name] = r.OldValue
				break
			}
			if v == r.OldValue {
				break
			}
		}
	}
	return added
}
