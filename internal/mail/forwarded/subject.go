package forwarded

import (
	"strings"
	"unicode"
)

type subjKind uint8

const (
	plainSubject subjKind = iota
	forwardSubject
	replySubject
)

// forwardPrefixes and replyPrefixes are the subject prefixes clients add,
// lower-cased: English, French (TR), German (WG, AW), Spanish (RV), Italian
// (I, R), Portuguese (ENC), Dutch (Doorst, Antw), Nordic (VB, SV), Polish (Odp).
var (
	forwardPrefixes = map[string]bool{"fwd": true, "fw": true, "tr": true, "wg": true, "rv": true,
		"enc": true, "i": true, "doorst": true, "vb": true, "vl": true, "pd": true}
	replyPrefixes = map[string]bool{"re": true, "aw": true, "antw": true, "sv": true, "r": true,
		"rif": true, "odp": true, "res": true}
)

// splitPrefix splits a subject into its first prefix ("Fwd", "TR " before
// the colon, "Re[2]"), lower-cased without counter, and the rest.
func splitPrefix(s string) (string, string, bool) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 12 {
		return "", s, false
	}
	w := strings.TrimRightFunc(s[:i], unicode.IsSpace)
	if j := strings.IndexAny(w, "[("); j > 0 { // "Re[2]", "AW(2)"
		w = w[:j]
	}
	for _, r := range w {
		if !unicode.IsLetter(r) {
			return "", s, false
		}
	}
	return strings.ToLower(w), s[i+1:], w != ""
}

// subjectKind says whether a subject marks a forward or a reply by its
// first prefix, after tags such as "[EXTERNAL]".
func subjectKind(s string) subjKind {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for n := 0; n < 3 && strings.HasPrefix(s, "["); n++ {
		j := strings.IndexByte(s, ']')
		if j < 0 || j > 40 {
			break
		}
		s = strings.TrimLeftFunc(s[j+1:], unicode.IsSpace)
	}
	w, _, ok := splitPrefix(s)
	switch {
	case !ok:
		return plainSubject
	case forwardPrefixes[w]:
		return forwardSubject
	case replyPrefixes[w]:
		return replySubject
	}
	return plainSubject
}

// stripForwardPrefixes removes the forward prefixes from the start of a
// subject: "Fwd: FW: Quote" is "Quote".
func stripForwardPrefixes(s string) string {
	for n := 0; n < 10; n++ {
		w, rest, ok := splitPrefix(s)
		if !ok || !forwardPrefixes[w] {
			break
		}
		s = rest
	}
	return strings.TrimSpace(s)
}
