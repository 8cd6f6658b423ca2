package pim

import (
	"strings"
)

// The idempotency stamp: the CRM id of a record, carried by the remote item
// the engine created for it — as its UID (vCard UID, RFC 6350 §6.7.6;
// iCalendar UID, RFC 5545 §3.8.4.7), or in an extended property where the
// provider assigns ids itself (Graph singleValueExtendedProperties, Google
// People clientData). A create that times out and is retried, or a full
// listing after a sync token expired, finds the item by its stamp instead
// of creating a duplicate (DESIGN §9).
//
// The form is "crmsync-" + id + "@crmsync.invalid": the "unique@host" shape
// RFC 5545 long recommended, with a host under .invalid (RFC 2606) so no
// other client's UID can end the same way. In the id, anything but ASCII
// letters, digits, "-", ".", "_" and "~" is percent-encoded, so any id
// round-trips and the stamp stays one token in vCard, iCalendar and URLs.
const (
	stampPrefix = "crmsync-"
	stampSuffix = "@crmsync.invalid"
)

// StampUID returns the stamp for crmID. crmID is the engine's opaque id; it
// must be unique across the record kinds the account syncs (e.g.
// "contact-42"), since contacts, tasks and events may share a collection
// on some providers, and not empty (an empty id has no stamp: ParseStamp
// refuses "crmsync-@crmsync.invalid").
func StampUID(crmID string) string {
	var b strings.Builder
	b.WriteString(stampPrefix)
	for i := 0; i < len(crmID); i++ {
		c := crmID[i]
		if stampSafe(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	b.WriteString(stampSuffix)
	return b.String()
}

// ParseStamp returns the CRM id of a stamp made by StampUID. It is tolerant
// of what it is given: any other client's UID ("urn:uuid:…", "ABC123@
// google.com", "") gives ok false, never an error; surrounding white space
// and the case of the fixed parts and of percent escapes are ignored, since
// some servers rewrite them.
func ParseStamp(uid string) (crmID string, ok bool) {
	uid = strings.TrimSpace(uid)
	if len(uid) <= len(stampPrefix)+len(stampSuffix) ||
		!strings.EqualFold(uid[:len(stampPrefix)], stampPrefix) ||
		!strings.EqualFold(uid[len(uid)-len(stampSuffix):], stampSuffix) {
		return "", false
	}
	s := uid[len(stampPrefix) : len(uid)-len(stampSuffix)]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case stampSafe(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0:
			b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

func stampSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
