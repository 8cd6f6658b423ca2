package caldav

import (
	"strings"

	"github.com/emersion/go-ical"
)

// textValues reads a TEXT value as a list (CATEGORIES): split on the commas
// that are not escaped, each element unescaped.
//
// go-ical's Prop.Text splits on commas too and returns only the first
// element, so "Lunch, then walk" written unescaped by a lax client would
// lose its end; it also refuses unknown escapes. These are lenient: "\N" is
// a line break as "\n" is, any other escaped character stands for itself,
// and a trailing backslash is kept.
func textValues(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == 'n' || s[i] == 'N' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(s[i])
			}
		case c == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
}

// text reads a TEXT value as one string, unescaped as textValues does,
// commas included.
func text(s string) string {
	if !strings.ContainsRune(s, '\\') {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
			if c == 'n' || c == 'N' {
				c = '\n'
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// textProp returns the unescaped value of c's first name property.
func textProp(c *ical.Component, name string) string {
	if p := c.Props.Get(name); p != nil {
		return text(p.Value)
	}
	return ""
}

// escapeText writes a TEXT value (RFC 5545 §3.3.11) byte by byte. go-ical's
// SetText ranges over runes, which turns bytes that are not UTF-8 into
// U+FFFD: a value read from a server would not be written back as read.
func escapeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ';', ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// setTextList sets p's value to the TEXT list l.
func setTextList(p *ical.Prop, l ...string) {
	p.SetValueType(ical.ValueText)
	esc := make([]string, len(l))
	for i, s := range l {
		esc[i] = escapeText(s)
	}
	p.Value = strings.Join(esc, ",")
}
