package forwarded

import (
	"strings"

	"github.com/crmsync/crmsync/internal/mail"
)

// maxAddresses bounds one address line, as mimeparse does for a header.
const maxAddresses = 1000

// parseAddressList reads an address line of a forwarded header, written
// for people rather than for RFC 5322 parsers: "Name <addr>", "<addr>",
// "addr", "'Name'", "Name [mailto:addr]", Outlook's plain-text rendering of
// a link "Name <addr<mailto:addr>>", an unquoted "Last, First <addr>", and
// names without address. Recipients are separated by ";" (Outlook) or ","
// (everyone else). It returns the participants, addresses lower-cased and
// without duplicates, and how many were dropped past maxAddresses.
func parseAddressList(v string) ([]mail.Address, int) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, 0
	}
	pieces := splitTop(v, ";")
	if nonEmpty(pieces) <= 1 {
		pieces = splitTop(v, ",")
		hasAt := false
		for _, p := range pieces {
			hasAt = hasAt || strings.Contains(p, "@")
		}
		if hasAt {
			pieces = mergeNames(pieces)
		} else {
			// Outlook's "Smith, John": one name (it separates by ";").
			pieces = []string{strings.TrimRight(v, ";")}
		}
	}
	var out []mail.Address
	dropped := 0
	seen := map[string]bool{}
	for _, p := range pieces {
		a, ok := parseAddress(p)
		if !ok {
			continue
		}
		if a.Email != "" {
			if seen[a.Email] {
				continue
			}
			seen[a.Email] = true
		}
		if len(out) == maxAddresses {
			dropped++
			continue
		}
		out = append(out, a)
	}
	return out, dropped
}

func nonEmpty(ss []string) int {
	n := 0
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			n++
		}
	}
	return n
}

// mergeNames joins an unquoted "Last, First <addr>" split at its comma:
// a piece without "@" followed by a named address is the first half of
// that address's name. Other pieces without "@" are names alone.
func mergeNames(pieces []string) []string {
	out := make([]string, 0, len(pieces))
	pending := ""
	for _, p := range pieces {
		t := strings.TrimSpace(p)
		if t == "" {
			continue
		}
		if !strings.Contains(t, "@") {
			if pending != "" {
				out = append(out, pending)
			}
			pending = t
			continue
		}
		if pending != "" {
			if l, _, _, ok := bracketAddr(t); ok && strings.Trim(t[:l], ` "'`) != "" {
				t = pending + ", " + t
			} else {
				out = append(out, pending)
			}
			pending = ""
		}
		out = append(out, t)
	}
	if pending != "" {
		out = append(out, pending)
	}
	return out
}

// parseAddress reads one participant. ok is false when the piece holds
// nothing.
func parseAddress(p string) (mail.Address, bool) {
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(p), "*"))
	if s == "" {
		return mail.Address{}, false
	}
	name, addr := s, ""
	if l, r, seg, ok := bracketAddr(s); ok {
		addr = findAddr(seg)
		name = s[:l] + " " + s[r:]
	}
	if addr == "" {
		// A bare address, maybe beside a name: "alice@example.com",
		// "Alice alice@example.com".
		fs := strings.Fields(s)
		for i, f := range fs {
			if a := findAddr(f); a != "" {
				addr = a
				name = strings.Join(append(fs[:i:i], fs[i+1:]...), " ")
				break
			}
		}
	}
	name = cleanName(name)
	if strings.HasSuffix(name, ":") {
		name = "" // a group's label: "Undisclosed recipients:;", "Team: a@b.example"
	}
	if addr != "" && strings.EqualFold(name, addr) {
		name = "" // Outlook writes the address as the name when there is none
	}
	if name == "" && addr == "" {
		return mail.Address{}, false
	}
	return mail.Address{Name: name, Email: addr}, true
}

// cleanName removes quotes, stray separators and doubled white space.
func cleanName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Trim(s, ` "',;*`)
	if strings.Contains(s, `\`) {
		s = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s)
	}
	return strings.TrimSpace(s)
}

// bracketAddr finds the first bracketed part of s that holds an address:
// <addr>, [mailto:addr], (addr). Brackets nest ("<a@b<mailto:a@b>>"); an
// unclosed one runs to the end. It returns the part's bounds (l at the
// opening bracket, r after the closing one) and its content. Each byte is
// looked at a bounded number of times.
func bracketAddr(s string) (l, r int, content string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		var closer byte
		switch {
		case c == '\\' && quoted:
			i++
			continue
		case c == '"':
			quoted = !quoted
			continue
		case quoted:
			continue
		case c == '<':
			closer = '>'
		case c == '[':
			closer = ']'
		case c == '(':
			closer = ')'
		default:
			continue
		}
		depth, j := 0, i
		for ; j < len(s); j++ {
			if s[j] == c {
				depth++
			} else if s[j] == closer {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		inner := s[i+1 : min(j, len(s))]
		if strings.IndexByte(inner, '@') >= 0 && findAddr(inner) != "" {
			return i, min(j+1, len(s)), inner, true
		}
		if j >= len(s) {
			break // unclosed: nothing after it is outside brackets
		}
		i = j
	}
	return 0, 0, "", false
}

// findAddr returns the first user@domain in s, lower-cased, or "". A
// "mailto:" before it is not part of it.
func findAddr(s string) string {
	for off := 0; off < len(s); {
		i := strings.IndexByte(s[off:], '@')
		if i < 0 {
			return ""
		}
		i += off
		l := i
		for l > 0 && isLocalByte(s[l-1]) {
			l--
		}
		r := i + 1
		for r < len(s) && isDomainByte(s[r]) {
			r++
		}
		local := strings.TrimLeft(s[l:i], "'.")
		dom := strings.TrimRight(s[i+1:r], ".-")
		if local != "" && dom != "" && dom[0] != '.' && dom[0] != '-' && strings.Contains(dom, ".") {
			return strings.ToLower(local + "@" + dom)
		}
		off = i + 1
	}
	return ""
}

func isLocalByte(c byte) bool {
	return c > ' ' && c != 0x7f && !strings.ContainsRune(`<>()[]\",;:@`, rune(c))
}

// isDomainByte: letters, digits, dot and hyphen, and bytes of non-ASCII
// letters (internationalized domains).
func isDomainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c >= 0x80
}

// looksLikeAddresses says whether a line is only addresses, the
// continuation of a wrapped recipient list rather than the first line of
// a body that mentions one.
func looksLikeAddresses(s string) bool {
	n := 0
	for _, p := range splitTop(s, ",;") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.Contains(p, ": ") || strings.Contains(p, ":\t") {
			return false // a header line ("Kopie (CC): x <a@b>"), not more recipients
		}
		if _, _, _, ok := bracketAddr(p); ok && len(strings.Fields(p)) <= 6 {
			n++
			continue
		}
		if !strings.ContainsAny(p, " \t") && findAddr(p) != "" {
			n++
			continue
		}
		return false
	}
	return n > 0
}

// splitTop splits s at the bytes of seps that are outside quotes and
// brackets.
func splitTop(s, seps string) []string {
	var out []string
	start, quoted, depth := 0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<' || c == '[' || c == '(':
			depth++
		case (c == '>' || c == ']' || c == ')') && depth > 0:
			depth--
		case depth == 0 && strings.IndexByte(seps, c) >= 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
