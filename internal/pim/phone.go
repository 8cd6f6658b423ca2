package pim

import (
	"strings"
	"unicode"
)

// NormalizePhone returns a phone number in a simple canonical form, so
// that "+44 (0)20 7946-0000" typed in Outlook and "+442079460000" stored
// by the CRM are the same number:
//
//   - a "tel:" prefix (vCard 4, RFC 3966) is dropped;
//   - separators (white space, "-", ".", "/", "(", ")") are dropped;
//   - a leading "00" (the international prefix of most of the world)
//     becomes "+"; "(0)" after a country code (the UK and European way of
//     writing the trunk prefix) is dropped;
//   - an extension written "x12", "ext 12", "ext. 12" or ";ext=12" becomes
//     ";ext=12" (RFC 3966);
//   - the result is "+" and digits for an international number, digits
//     alone for a national one.
//
// It is E.164-ish, not E.164: there is no country guessing, so a national
// number ("06 12 34 56 78") stays national and is a different value from
// its international form; a user who writes both gets both. Anything else —
// letters ("1-800-FLOWERS"), a "+" in the middle, no digits — is not a
// number this function understands and is kept as typed, trimmed, with runs
// of white space made one space. The function is idempotent.
func NormalizePhone(s string) string {
	s = normalizeLine(s)
	for len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = strings.TrimSpace(s[4:])
	}
	if n, ok := canonicalPhone(s); ok {
		return n
	}
	return s
}

// phoneExtMarkers are the ways an extension is introduced, lower-case,
// longest first so that "ext." is not read as "ext" followed by ".".
// parens drops parentheses from a number (built once: it is on every
// normalization).
var parens = strings.NewReplacer("(", "", ")", "")

var phoneExtMarkers = []string{";ext=", "ext.", "ext", "x"}

func canonicalPhone(s string) (string, bool) {
	main, ext := s, ""
	lower := asciiLower(s) // same length as s: its indexes are s's
	for _, m := range phoneExtMarkers {
		if i := strings.Index(lower, m); i > 0 {
			main, ext = s[:i], strings.TrimSpace(s[i+len(m):])
			if ext == "" || strings.TrimFunc(ext, isDigit) != "" {
				return "", false
			}
			break
		}
	}
	// Separators other than parentheses go first, so that "0 044" and
	// "0044" are read alike; parentheses go once "(0)" is dealt with.
	var compact strings.Builder
	for _, r := range main {
		if !unicode.IsSpace(r) && !strings.ContainsRune("-./", r) {
			compact.WriteRune(r)
		}
	}
	num, intl := compact.String(), false
	switch {
	case strings.HasPrefix(num, "+"):
		intl, num = true, num[1:]
	case strings.HasPrefix(num, "00"):
		intl, num = true, num[2:]
	}
	if intl {
		num = strings.Replace(num, "(0)", "", 1)
	}
	num = parens.Replace(num)
	if num == "" || strings.TrimFunc(num, isDigit) != "" {
		return "", false
	}
	if !intl && strings.HasPrefix(num, "00") { // "0(0)44…": a "00" only once the parentheses are gone
		intl, num = true, num[2:]
		if num == "" {
			return "", false
		}
	}
	var b strings.Builder
	if intl {
		b.WriteByte('+')
	}
	b.WriteString(num)
	if ext != "" {
		b.WriteString(";ext=")
		b.WriteString(ext)
	}
	return b.String(), true
}

// asciiLower lower-cases the ASCII letters of s and nothing else, byte by
// byte (strings.ToLower may change the length of invalid UTF-8).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
