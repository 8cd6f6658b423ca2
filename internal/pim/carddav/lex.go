package carddav

import (
	"errors"
	"fmt"
	"strings"
)

// The content-line layer. A vCard is read into its properties as written
// (the physical lines of each, folding included) so that Encode can give
// back every property it does not map byte for byte. go-vcard's Card, a map
// of unescaped values, cannot: see doc.go.

// document is one vCard: the BEGIN line, the properties up to the END line
// that closes it, and that END line.
type document struct {
	begin []string
	props []*prop
	end   []string
}

// prop is one logical line between BEGIN:VCARD and END:VCARD.
type prop struct {
	// raw holds the physical lines of the property as the source wrote
	// them, without their line breaks.
	raw []string
	// key is the upper-cased property name, "" for a line that is not a
	// property (no name, no colon): such lines are kept and never read.
	key   string
	group string // as written
	name  string // as written
	// params are in source order.
	params []param
	// value is the unfolded value, still escaped and, for QUOTED-PRINTABLE,
	// still encoded (soft line breaks removed).
	value string
	// dangling is set for a QUOTED-PRINTABLE value whose last line ends
	// with a soft break that has nothing to join (the next line is END or
	// there is none). Written back as is, the break would swallow whatever
	// line came next; raw() drops it, which changes nothing it decodes to.
	dangling bool
	// depth is 1 at the top level of the card; properties of a card
	// nested in it (vCard 2.1 AGENT) are deeper and never read.
	depth int
}

// param is one parameter of a property.
type param struct {
	raw    string   // as written, without the leading ";"
	name   string   // upper-cased; TYPE or ENCODING for a 2.1 bare value
	bare   bool     // vCard 2.1 "TEL;WORK;PREF:…": a value without a name
	values []string // unquoted, as split on unquoted commas
}

// lines returns p's physical lines as they are to be written.
func (p *prop) lines() []string {
	if !p.dangling {
		return p.raw
	}
	out := append([]string(nil), p.raw...)
	last := out[len(out)-1]
	out[len(out)-1] = last[:len(last)-1]
	return out
}

// param returns p's first parameter named name (upper case), or nil.
func (p *prop) param(name string) *param {
	for i := range p.params {
		if p.params[i].name == name {
			return &p.params[i]
		}
	}
	return nil
}

// paramValue returns the first value of p's parameter name, or "".
func (p *prop) paramValue(name string) string {
	if pa := p.param(name); pa != nil && len(pa.values) > 0 {
		return pa.values[0]
	}
	return ""
}

// types returns the TYPE values of p, lower-cased, with comma lists
// (TYPE="work,voice", TYPE=INTERNET,WORK) and repeated parameters
// (type=INTERNET;type=WORK) flattened.
func (p *prop) types() []string {
	var out []string
	for _, pa := range p.params {
		if pa.name == "TYPE" {
			out = append(out, pa.types()...)
		}
	}
	return out
}

func (pa *param) types() []string {
	var out []string
	for _, v := range pa.values {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, strings.ToLower(t))
			}
		}
	}
	return out
}

var (
	errNotVCard  = errors.New("not a vCard: no BEGIN:VCARD")
	errNoEnd     = errors.New("no END:VCARD")
	errSeveral   = errors.New("more than one vCard in one address object")
	errTrailing  = errors.New("content after END:VCARD")
	errEmptyCard = errors.New("empty vCard body")
)

// lex reads data into a document. It is lenient inside the card (a line
// it cannot read is kept and ignored) and strict about the envelope: one
// BEGIN:VCARD … END:VCARD, blank lines around it, nothing else.
func lex(data []byte) (*document, error) {
	s := strings.TrimPrefix(string(data), "\ufeff")
	if strings.TrimSpace(s) == "" {
		return nil, errEmptyCard
	}
	phys := splitLines(s)
	d := &document{}
	depth := 0 // 0 before BEGIN, 1 in the card, more in nested cards, -1 after END
	for i := 0; i < len(phys); {
		start := i
		i++
		for i < len(phys) && isFold(phys[i]) {
			i++
		}
		raw := phys[start:i:i]
		text := unfold(raw)
		p := parseProp(text)
		if p.key != "" && p.quotedPrintable() {
			// vCard 2.1 soft line breaks: "=" at the end of a line joins
			// the next one, which does not start with white space.
			buf := []byte(text)
			for len(buf) > 0 && buf[len(buf)-1] == '=' && i < len(phys) && !isEndLine(phys[i]) {
				buf = append(buf[:len(buf)-1], phys[i]...)
				raw = append(raw, phys[i])
				i++
			}
			text = string(buf)
			p = parseProp(text)
			p.dangling = strings.HasSuffix(text, "=")
		}
		p.raw = raw
		blank := strings.TrimSpace(text) == ""
		switch {
		case depth == 0:
			if blank {
				continue
			}
			if !p.isBegin() {
				return nil, fmt.Errorf("%w (the body starts with %q)", errNotVCard, clip(text, 40))
			}
			d.begin = raw
			depth = 1
		case depth < 0:
			if blank {
				continue
			}
			if p.isBegin() {
				return nil, errSeveral
			}
			return nil, fmt.Errorf("%w: %q", errTrailing, clip(text, 40))
		case blank:
			// A blank line in a card is no property; it is not written back.
		case p.isEnd() && depth == 1:
			d.end = raw
			depth = -1
		default:
			p.depth = depth
			switch {
			case p.isBegin():
				depth++
			case p.isEnd():
				depth--
			}
			d.props = append(d.props, p)
		}
	}
	switch depth {
	case 0:
		return nil, errNotVCard
	case -1:
		return d, nil
	}
	return nil, errNoEnd
}

// splitLines splits s at CRLF, LF and lone CR (old Mac exports).
func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return out
}

// unfold joins a line and its continuations, each without its first
// white space character.
func unfold(raw []string) string {
	if len(raw) == 1 {
		return raw[0]
	}
	n := len(raw[0])
	for _, l := range raw[1:] {
		n += len(l) - 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(raw[0])
	for _, l := range raw[1:] {
		b.WriteString(l[1:])
	}
	return b.String()
}

func isFold(line string) bool { return line != "" && (line[0] == ' ' || line[0] == '\t') }

func isEndLine(line string) bool {
	return strings.EqualFold(strings.TrimRight(line, " \t"), "END:VCARD")
}

func (p *prop) isBegin() bool {
	return p.key == "BEGIN" && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
}

func (p *prop) isEnd() bool {
	return p.key == "END" && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
}

// quotedPrintable reports whether p's value is QUOTED-PRINTABLE encoded
// (ENCODING=QUOTED-PRINTABLE, or 2.1's bare QUOTED-PRINTABLE).
func (p *prop) quotedPrintable() bool {
	return strings.EqualFold(p.paramValue("ENCODING"), "QUOTED-PRINTABLE")
}

// parseProp reads one unfolded line: [group "."] name *(";" param) ":"
// value. A line that does not have that shape is returned with key "".
func parseProp(text string) *prop {
	p := &prop{}
	i := strings.IndexAny(text, ".;:")
	if i < 0 {
		return p
	}
	name := text[:i]
	if text[i] == '.' {
		group := name
		rest := text[i+1:]
		j := strings.IndexAny(rest, ";:")
		if j < 0 || !isName(group) {
			return p
		}
		p.group, name, i = group, rest[:j], i+1+j
	}
	if !isName(name) {
		return &prop{}
	}
	p.name = name
	for text[i] == ';' {
		i++
		start, inQuote := i, false
		for i < len(text) && (inQuote || (text[i] != ';' && text[i] != ':')) {
			if text[i] == '"' {
				inQuote = !inQuote
			}
			i++
		}
		if i >= len(text) {
			return &prop{} // no colon after the parameters
		}
		p.params = append(p.params, parseParam(text[start:i]))
	}
	p.key = strings.ToUpper(name)
	p.value = text[i+1:]
	return p
}

// isName reports whether s is a property or group name: letters, digits,
// "-" (RFC 6350 §3.3), and "_", which some writers use.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// encodingTokens are the bare vCard 2.1 parameters that name an encoding
// rather than a type.
var encodingTokens = map[string]bool{"QUOTED-PRINTABLE": true, "BASE64": true, "B": true, "8BIT": true, "7BIT": true}

func parseParam(raw string) param {
	pa := param{raw: raw}
	eq, inQuote := -1, false
	for i := 0; i < len(raw); i++ {
		if raw[i] == '"' {
			inQuote = !inQuote
		} else if raw[i] == '=' && !inQuote {
			eq = i
			break
		}
	}
	if eq < 0 {
		v := strings.TrimSpace(strings.ReplaceAll(raw, `"`, ""))
		pa.bare = true
		pa.name = "TYPE"
		if encodingTokens[strings.ToUpper(v)] {
			pa.name = "ENCODING"
		}
		if v != "" {
			pa.values = []string{v}
		}
		return pa
	}
	pa.name = strings.ToUpper(strings.TrimSpace(raw[:eq]))
	rest := raw[eq+1:]
	start := 0
	inQuote = false
	for i := 0; i <= len(rest); i++ {
		if i < len(rest) && rest[i] == '"' {
			inQuote = !inQuote
		}
		if i == len(rest) || rest[i] == ',' && !inQuote {
			pa.values = append(pa.values, strings.ReplaceAll(rest[start:i], `"`, ""))
			start = i + 1
		}
	}
	return pa
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
