package mimeparse

import (
	"net/mail"
	"regexp"
	"strings"

	model "github.com/crmsync/crmsync/internal/mail"
)

// maxAddresses bounds one address header (a 256 KiB header could otherwise
// list tens of thousands).
const maxAddresses = 1000

// bareAddr finds user@host tokens in text that is not a valid address list.
var bareAddr = regexp.MustCompile(`[^\s<>()\[\]\\",;:@]+@[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?`)

// parseAddressList parses an RFC 5322 section 3.4 address list leniently.
// net/mail parses the whole list or nothing, so when it fails the list is
// split at top-level commas and each piece parsed alone: every address that
// parses is kept, a piece without "@" followed by a named address is taken
// as the first half of an unquoted "Last, First <addr>" name, and from the
// rest bare user@host tokens are recovered. Names are RFC 2047 decoded (also
// the common encoded word inside quotes, which RFC 2047 section 5 forbids
// but Outlook writes); addresses are lower-cased.
func (p *parser) parseAddressList(field, v string) []model.Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	ap := mail.AddressParser{WordDecoder: p.wordDecoder}
	if list, err := ap.ParseList(v); err == nil {
		out := make([]model.Address, 0, len(list))
		for _, a := range list {
			if len(out) == maxAddresses {
				p.warn("%s: more than %d addresses; the rest skipped", field, maxAddresses)
				break
			}
			out = append(out, p.address(field, a.Name, a.Address))
		}
		return out
	}
	var out []model.Address
	seen := map[string]bool{}
	pending := "" // pieces without "@": maybe "Last" of "Last, First <addr>"
	for _, piece := range splitAddressList(v) {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		if len(out) == maxAddresses {
			p.warn("%s: more than %d addresses; the rest skipped", field, maxAddresses)
			return out
		}
		if !strings.Contains(piece, "@") {
			if pending != "" {
				pending += ", "
			}
			pending += piece
			continue
		}
		a, err := ap.Parse(piece)
		if err != nil {
			if g := groupPrefix(piece); g != "" { // "Team: a@b" when the list as a whole failed
				a, err = ap.Parse(g)
			}
		}
		if err == nil {
			name := a.Name
			if pending != "" {
				if name != "" {
					name = p.decodeWords(field, pending) + ", " + name
				} else {
					p.warn("%s: skipped %q, not an address", field, clip(pending, 60))
				}
				pending = ""
			}
			out = append(out, p.address(field, name, a.Address))
			seen[out[len(out)-1].Email] = true
			continue
		}
		if pending != "" {
			p.warn("%s: skipped %q, not an address", field, clip(pending, 60))
			pending = ""
		}
		found := bareAddr.FindAllString(piece, 10)
		if len(found) == 0 {
			p.warn("%s: skipped unparseable address %q", field, clip(piece, 60))
			continue
		}
		p.warn("%s: unparseable address %q; kept %s", field, clip(piece, 60), strings.ToLower(strings.Join(found, ", ")))
		for _, f := range found {
			if a := p.address(field, "", f); !seen[a.Email] && len(out) < maxAddresses {
				seen[a.Email] = true
				out = append(out, a)
			}
		}
	}
	if pending != "" {
		p.warn("%s: skipped %q, not an address", field, clip(pending, 60))
	}
	return out
}

// address builds one participant: the name decoded and cleaned, the
// address lower-cased.
func (p *parser) address(field, name, addr string) model.Address {
	if strings.Contains(name, "=?") {
		name = p.decodeWords(field, name)
	}
	name = cleanHeaderText(name)
	name = strings.TrimSpace(strings.Trim(name, `"'`))
	email := strings.ToLower(strings.TrimSpace(addr))
	if len(email) > maxAddress {
		// Cutting it would make another, wrong address (without its
		// domain): keep the name only.
		p.warn("%s: skipped an address of %d bytes, longer than any valid one", field, len(email))
		email = ""
	}
	return model.Address{Name: clipField(name), Email: email}
}

// maxAddress is the longest address there can be: a 64-octet local part,
// "@", a 255-octet domain (RFC 5321 section 4.5.3.1).
const maxAddress = 64 + 1 + 255

// groupPrefix strips a group name ("Team: a@b, c@d;") from a list piece.
func groupPrefix(s string) string {
	quoted, angle := false, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '<':
			angle = true
		case ':':
			if !quoted && !angle {
				return strings.TrimSuffix(strings.TrimSpace(s[i+1:]), ";")
			}
		}
	}
	return ""
}

// splitAddressList splits at commas and semicolons that are not inside a
// quoted string, a comment or angle brackets.
func splitAddressList(v string) []string {
	var out []string
	start, quoted, depth, angle := 0, false, 0, false
	lastGT := strings.LastIndexByte(v, '>') // a "<" never closed protects nothing
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = i < lastGT
		case c == '>':
			angle = false
		case (c == ',' || c == ';') && !angle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
