package mimeparse

import (
	"net/mail"
	"strings"
	"time"
)

// obsZones are the RFC 5322 section 4.3 obsolete zone names. Military
// one-letter zones are deliberately absent: the RFC says to read them as
// "-0000" (unknown) because they were so often written with the wrong sign.
var obsZones = map[string]string{
	"UT": "+0000", "GMT": "+0000", "Z": "+0000", "UTC": "+0000",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
	// Not in the RFC but common in real headers.
	"CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200",
	"BST": "+0100", "JST": "+0900", "KST": "+0900", "IST": "+0530",
	"EET": "+0200", "EEST": "+0300", "WET": "+0000", "WEST": "+0100",
	"HKT": "+0800", "SGT": "+0800", "AEST": "+1000", "AEDT": "+1100",
	"NZST": "+1200", "NZDT": "+1300", "MSK": "+0300",
}

// dateLayouts are tried after net/mail.ParseDate (which implements the
// RFC 5322 section 3.3 grammar with the obsolete forms) fails: broken
// forms seen in real mail and output of non-mail software.
var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 January 2006 15:04:05 -0700",
	"Monday, 2 January 2006 15:04:05 -0700",
	"Monday, January 2, 2006 15:04:05 -0700",
	"Mon, Jan 2 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15.04.05 -0700",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 2006", // asctime, no zone: UTC
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"Mon, 2 Jan 2006 15:04:05", // no zone: UTC
	"2 Jan 2006 15:04:05",
	"Mon, 2 Jan 2006",
	"2 Jan 2006",
	"2006-01-02",
}

// parseDate parses a Date header leniently: RFC 5322 first, then the
// common broken forms, after removing comments ("(CET)"), dots after the
// weekday, named zones and junk at the end. Dates before 1970 or after
// 9999 are rejected: such a date is garbage and the caller's fallback (the
// server's internal date) is better.
func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	// Named zones first: net/mail reads "EST" as UTC.
	s := normalizeDate(v)
	for len(s) > 0 {
		if t, err := mail.ParseDate(s); err == nil {
			return t, plausible(t)
		}
		for _, layout := range dateLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, plausible(t)
			}
		}
		// Drop the last word ("... +0100 +0100", "... -0500 EST5EDT").
		i := strings.LastIndexByte(s, ' ')
		if i < 0 {
			break
		}
		s = strings.TrimSpace(s[:i])
	}
	return time.Time{}, false
}

func plausible(t time.Time) bool {
	return t.Year() >= 1970 && t.Year() <= 9999
}

// normalizeDate removes comments and commas/dots in odd places, and
// replaces named zones with numeric ones.
func normalizeDate(v string) string {
	var b strings.Builder
	depth := 0
	for _, r := range v {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			b.WriteRune(r)
		}
	}
	f := strings.Fields(b.String())
	for i, w := range f {
		w = strings.TrimSuffix(w, ".")
		if i == 0 && len(w) >= 3 && !strings.HasSuffix(w, ",") && isAlpha(w) && len(f) > 1 && !isAlpha(f[1]) {
			w += "," // "Mon 2 Jan 2006"
		}
		if z, ok := obsZones[strings.ToUpper(w)]; ok && i > 0 {
			w = z
		}
		// "+01:00" -> "+0100"
		if len(w) == 6 && (w[0] == '+' || w[0] == '-') && w[3] == ':' {
			w = w[:3] + w[4:]
		}
		f[i] = w
	}
	s := strings.Join(f, " ")
	if strings.HasPrefix(s, "Date:") { // a doubled header name
		s = strings.TrimSpace(s[5:])
	}
	return s
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}
