package carddav

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// text returns p's value with its transfer encoding (QUOTED-PRINTABLE,
// base64) and charset undone: still escaped, valid UTF-8.
func (p *prop) text() string {
	v := p.value
	switch strings.ToUpper(p.paramValue("ENCODING")) {
	case "QUOTED-PRINTABLE":
		v = decodeQP(v)
	case "B", "BASE64":
		if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), "")); err == nil {
			v = string(b)
		}
	}
	return toUTF8(v, p.paramValue("CHARSET"))
}

// decodeQP decodes a QUOTED-PRINTABLE value whose soft line breaks were
// joined by lex. It is lenient where mime/quotedprintable is not: "=" not
// followed by two hex digits is kept, and a final "=" (a soft break with
// nothing after it) is dropped.
func decodeQP(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		if i == len(s)-1 {
			break
		}
		if i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, c)
	}
	return string(b)
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

// toUTF8 converts s from charset to UTF-8. UTF-8 (the default of 3.0 and
// 4.0) is kept; ISO-8859-1 and Windows-1252, what Outlook's 2.1 exports
// declare, are read as Windows-1252 (as browsers do, since writers that
// say ISO-8859-1 mean it). Any other charset, or none, is trusted only if
// s is valid UTF-8, and otherwise read as Windows-1252 too: the engine
// stores and compares UTF-8, and a value that changed with each read would
// look like a user's edit.
func toUTF8(s, charset string) string {
	switch strings.ToUpper(strings.TrimSpace(charset)) {
	case "ISO-8859-1", "ISO8859-1", "LATIN1", "WINDOWS-1252", "CP1252":
		return fromWindows1252(s)
	}
	if utf8.ValidString(s) {
		return s
	}
	return fromWindows1252(s)
}

// windows1252 maps the bytes 0x80–0x9F of Windows-1252 to runes; the five
// it leaves undefined map to the C1 control of the same number.
var windows1252 = [32]rune{
	'\u20AC', '\u0081', '\u201A', '\u0192', '\u201E', '\u2026', '\u2020', '\u2021',
	'\u02C6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008D', '\u017D', '\u008F',
	'\u0090', '\u2018', '\u2019', '\u201C', '\u201D', '\u2022', '\u2013', '\u2014',
	'\u02DC', '\u2122', '\u0161', '\u203A', '\u0153', '\u009D', '\u017E', '\u0178',
}

func fromWindows1252(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case c < 0xA0:
			b.WriteRune(windows1252[c-0x80])
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}

// unescapeText undoes the escapes of a TEXT value (RFC 6350 §3.4, RFC 2426
// §4): "\n" and "\N" are a line break, "\\", "\,", "\;" the character, and
// "\:", which some writers emit, a colon. Any other backslash is kept as
// written: it is more likely a Windows path in a note than an escape.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch n := s[i+1]; n {
		case 'n', 'N':
			b.WriteByte('\n')
			i++
		case '\\', ',', ';', ':':
			b.WriteByte(n)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitEscaped splits an escaped value at each sep not escaped by a
// backslash; the parts stay escaped. It is how structured values (N, ADR,
// ORG: ";") and lists (CATEGORIES: ",") are read, before unescaping, so
// that "\;" and "\," stay inside their component.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// escapeText escapes a TEXT value or component: backslash, comma,
// semicolon, and line breaks (CRLF, CR, LF all written "\n").
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case ',':
			b.WriteString(`\,`)
		case ';':
			b.WriteString(`\;`)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// canonical rewrites an escaped component in this package's escaping, so a
// component kept from the previous card (N's prefix, ORG's department) can
// be written whatever its source: a raw line break left by a
// QUOTED-PRINTABLE value, a comma a writer did not escape.
func canonical(escaped string) string { return escapeText(unescapeText(escaped)) }

// foldLine folds a content line at 75 octets (RFC 6350 §3.2): the first
// line holds at most 75, each continuation a space and at most 74. It never
// cuts a UTF-8 sequence (an invalid byte counts as one character).
func foldLine(line string) []string {
	var out []string
	start, n := 0, 0 // the current line is " " + line[start:i] when start > 0, n octets
	if len(line) <= 75 {
		return []string{line}
	}
	for i := 0; i < len(line); {
		_, size := utf8.DecodeRuneInString(line[i:])
		if n+size > 75 {
			if start == 0 {
				out = append(out, line[:i])
			} else {
				out = append(out, " "+line[start:i])
			}
			start, n = i, 1
		}
		n += size
		i += size
	}
	if start == 0 {
		return []string{line}
	}
	return append(out, " "+line[start:])
}

// paramNeedsQuote reports whether a parameter value must be quoted.
func paramNeedsQuote(v string) bool { return strings.ContainsAny(v, ":;,") }

// renderProp writes a property as its (folded) physical lines.
func renderProp(group, name string, params []param, value string) []string {
	var b strings.Builder
	if group != "" {
		b.WriteString(group)
		b.WriteByte('.')
	}
	b.WriteString(name)
	for _, pa := range params {
		b.WriteByte(';')
		b.WriteString(pa.raw)
	}
	b.WriteByte(':')
	b.WriteString(value)
	return foldLine(b.String())
}
