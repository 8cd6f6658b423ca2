package caldav

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// rrulePartOrder is the order of the parts of a canonical RRULE. RFC 5545
// leaves the order free (only FREQ should come first), and clients differ:
// Google writes "FREQ=WEEKLY;BYDAY=MO;UNTIL=…", Apple "FREQ=WEEKLY;UNTIL=…;
// BYDAY=MO". A fixed order makes the same rule the same string.
var rrulePartOrder = []string{
	"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR",
	"BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
}

// canonicalRRule returns an RRULE value in canonical form: upper case,
// without white space, the parts in rrulePartOrder (parts RFC 5545 does not
// name, such as RFC 7529's RSCALE and SKIP, after them in alphabetical
// order), INTERVAL=1 left out as it is the default, empty and repeated parts
// dropped (the first one wins). Values are kept as written: "BYDAY=TU,MO"
// stays so. It is idempotent.
func canonicalRRule(s string) string {
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
	parts := make(map[string]string)
	var extra []string
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			continue
		}
		if _, dup := parts[k]; dup {
			continue
		}
		parts[k] = v
		if !slices.Contains(rrulePartOrder, k) {
			extra = append(extra, k)
		}
	}
	if n, err := strconv.Atoi(parts["INTERVAL"]); err == nil && n == 1 {
		delete(parts, "INTERVAL")
	}
	slices.Sort(extra)
	var out []string
	for _, k := range append(slices.Clone(rrulePartOrder), extra...) {
		if v, ok := parts[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, ";")
}

// rruleParts splits a canonical RRULE into its parts.
func rruleParts(rule string) map[string]string {
	parts := make(map[string]string)
	for _, part := range strings.Split(rule, ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			parts[k] = v
		}
	}
	return parts
}
