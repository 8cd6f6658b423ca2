package mimeparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// rawHeader is a header block as read from the message: at most the
// configured number of bytes, whole lines only.
type rawHeader struct {
	block    []byte
	overflow bool // the header was longer: lines past the limit were skipped
}

// readHeaderBlock reads header lines up to and including the empty line
// that ends them (RFC 5322 section 2.1), keeping at most max bytes of them
// so a header cannot exhaust memory. stop, if not nil, is asked before each
// line whether the header ends there without its empty line: a multipart
// boundary right after a part's header. An io.EOF error means the input
// ended inside the header (a message with no body, or a truncated one).
func readHeaderBlock(br *bufio.Reader, max int, stop func(*bufio.Reader) bool) (rawHeader, error) {
	var h rawHeader
	lineStart, atLineStart := 0, true
	for {
		if atLineStart && stop != nil && stop(br) {
			return h, nil
		}
		line, err := br.ReadSlice('\n')
		if atLineStart && err == nil && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
			return h, nil
		}
		if atLineStart {
			lineStart = len(h.block)
		}
		if !h.overflow {
			if len(h.block)+len(line) <= max {
				h.block = append(h.block, line...)
			} else {
				h.overflow = true
				h.block = h.block[:lineStart] // never keep half a line
			}
		}
		if err == bufio.ErrBufferFull {
			atLineStart = false
			continue
		}
		atLineStart = true
		if err != nil {
			return h, err
		}
	}
}

// parseHeaderBlock turns a raw header block into go-message's Header.
//
// go-message's ReadHeader stops at the first line that is not "name:
// value" (and the reference run against real mail found such messages), so
// lines are checked first: a line without a colon, with an invalid field
// name (RFC 5322 section 2.2: printable US-ASCII except colon) or a
// continuation line of such a line is dropped with a warning, and the rest
// is parsed. A leading mbox "From " line (RFC 4155) is dropped silently.
func parseHeaderBlock(block []byte, warn func(string, ...any)) textproto.Header {
	var clean bytes.Buffer
	clean.Grow(len(block) + 64)
	kept := false
	for n := 1; len(block) > 0; n++ {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if kept {
				clean.Write(line)
				clean.WriteString("\r\n")
			} else if n == 1 {
				warn("header line 1 starts with white space; skipped")
			}
			continue
		}
		kept = false
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			if n != 1 || !bytes.HasPrefix(line, []byte("From ")) {
				warn("header line %d has no colon; skipped", n)
			}
			continue
		}
		if !validFieldName(bytes.TrimRight(line[:colon], " \t")) {
			if n != 1 || !bytes.HasPrefix(line, []byte("From ")) {
				warn("header line %d has an invalid field name; skipped", n)
			}
			continue
		}
		kept = true
		clean.Write(line)
		clean.WriteString("\r\n")
	}
	clean.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if err != nil && err != io.EOF {
		warn("header: %v; the fields after it were skipped", err)
	}
	return h
}

func validFieldName(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// msgIDs extracts message identifiers (RFC 5322 section 3.6.4) from a
// Message-ID, In-Reply-To or References value, without angle brackets.
// Real mail has ids without brackets, several in a Message-ID, comments and
// phrases between them (RFC 822 allowed phrases in In-Reply-To), so: every
// <...> is an id, and outside brackets every word containing "@" is one
// too. A lone bracket-less word without "@" is taken as the id only when
// it is the whole value.
func msgIDs(v string) []string {
	var ids, words []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == 0 {
				return -1
			}
			return r
		}, id)
		id = strings.Trim(id, `"'`)
		if id == "" || len(id) > 998 || seen[id] {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	var word strings.Builder
	endWord := func() {
		if word.Len() > 0 {
			words = append(words, word.String())
			if strings.Contains(word.String(), "@") {
				add(word.String())
			}
			word.Reset()
		}
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '<':
			endWord()
			j := strings.IndexByte(v[i+1:], '>')
			if j < 0 {
				add(v[i+1:])
				i = len(v)
				break
			}
			add(v[i+1 : i+1+j])
			i += j + 1
		case '(':
			endWord()
			depth := 1
			for i++; i < len(v) && depth > 0; i++ {
				switch v[i] {
				case '(':
					depth++
				case ')':
					depth--
				case '\\':
					i++
				}
			}
			i--
		case ' ', '\t', '\r', '\n', ',', ';':
			endWord()
		default:
			word.WriteByte(c)
		}
	}
	endWord()
	if len(ids) == 0 && len(words) == 1 {
		add(words[0])
	}
	return ids
}

// parseMediaHeader parses a Content-Type or Content-Disposition value
// (RFC 2045 section 5.1, RFC 2183) leniently: the value before the first
// ";" (lower-cased) and its parameters, with RFC 2231 continuations
// ("name*0*=", "name*1=") and charsets ("name*=charset'lang'%XX") joined
// and decoded. Unlike mime.ParseMediaType it keeps going after a
// duplicate or malformed parameter (the first occurrence wins), accepts
// unquoted values with spaces, a missing closing quote and a missing ";",
// and decodes RFC 2231 values in any charset go-message knows. Problems
// are returned for the caller to warn about.
func parseMediaHeader(v string) (value string, params map[string]string, problems []string) {
	segs := splitParams(v)
	if len(segs) == 0 {
		return "", nil, nil
	}
	first := strings.TrimSpace(segs[0])
	if i := strings.IndexAny(first, " \t("); i >= 0 {
		rest := strings.TrimSpace(first[i:])
		first = first[:i]
		if strings.Contains(rest, "=") { // "text/plain charset=x": a missing ";"
			segs = append([]string{"", rest}, segs[1:]...)
		}
	}
	value = strings.ToLower(first)

	type cont struct {
		val      string
		extended bool
		ok       bool
	}
	simple := map[string]string{}
	conts := map[string][]cont{}
	var order []string
	for i, s := range segs[1:] {
		if i == maxParams {
			problems = append(problems, fmt.Sprintf("more than %d parameters; the rest ignored", maxParams))
			break
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			problems = append(problems, fmt.Sprintf("parameter %q has no value", clip(s, 40)))
			continue
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		val := unquote(strings.TrimSpace(s[eq+1:]))
		name, section, extended := key, -1, false
		if i := strings.IndexByte(key, '*'); i >= 0 {
			name = key[:i]
			rest := key[i+1:]
			if strings.HasSuffix(rest, "*") {
				extended, rest = true, strings.TrimSuffix(rest, "*")
			}
			switch {
			case rest == "": // "name*=charset'lang'value": one extended section
				section, extended = 0, true
			default: // "name*N=" or "name*N*="
				k := 0
				for _, c := range rest {
					k = k*10 + int(c-'0')
					if c < '0' || c > '9' || k >= maxSections {
						k = -1
						break
					}
				}
				section = k
			}
			if section < 0 || name == "" {
				problems = append(problems, fmt.Sprintf("parameter %q is malformed", clip(key, 40)))
				continue
			}
		}
		if _, ok := simple[name]; !ok && section < 0 {
			simple[name] = val
			continue
		}
		if section >= 0 {
			c := conts[name]
			if c == nil {
				order = append(order, name)
			}
			for len(c) <= section {
				c = append(c, cont{})
			}
			if !c[section].ok {
				c[section] = cont{val: val, extended: extended, ok: true}
			}
			conts[name] = c
			continue
		}
		problems = append(problems, fmt.Sprintf("duplicate parameter %q ignored", clip(name, 40)))
	}
	params = simple
	for _, name := range order {
		c := conts[name]
		var raw []byte
		cs := ""
		for i, part := range c {
			if !part.ok {
				problems = append(problems, fmt.Sprintf("parameter %q misses section %d", clip(name, 40), i))
				break
			}
			val := part.val
			if part.extended {
				if i == 0 { // charset'language'value (RFC 2231 section 4)
					if a := strings.IndexByte(val, '\''); a >= 0 {
						if b := strings.IndexByte(val[a+1:], '\''); b >= 0 {
							cs, val = val[:a], val[a+1+b+1:]
						}
					}
				}
				raw = append(raw, percentDecode(val)...)
			} else {
				raw = append(raw, val...)
			}
		}
		dec, kind := decodeCharsetBytes(cs, raw)
		if kind == csUnknown {
			problems = append(problems, fmt.Sprintf("unknown charset %s in parameter %q; shown undecoded", clip(cs, 40), clip(name, 40)))
		}
		params[name] = dec // RFC 2231 value wins over a plain fallback
	}
	return value, params, problems
}

// Bounds on parameters, so that a 256 KiB header of "a*9999=x" cannot
// allocate gigabytes. Real RFC 2231 values have a handful of sections.
const (
	maxParams   = 64
	maxSections = 100
)

// splitParams splits at ";" outside quoted strings.
func splitParams(v string) []string {
	var segs []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				segs = append(segs, v[start:i])
				start = i + 1
			}
		}
	}
	return append(segs, v[start:])
}

// unquote removes the quotes of a quoted-string and its backslash escapes;
// an unterminated quote runs to the end of the value.
func unquote(s string) string {
	if len(s) == 0 || s[0] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// percentDecode decodes RFC 2231 %XX escapes; a malformed escape is kept.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// decodeCharsetBytes converts b from charset cs to valid UTF-8.
func decodeCharsetBytes(cs string, b []byte) (string, charsetKind) {
	r, kind := charsetReader(cs, bytes.NewReader(b))
	if kind == csConverted {
		if out, err := io.ReadAll(r); err == nil {
			b = out
		}
	}
	s, _ := fixUTF8(b, kind == csUTF8)
	return s, kind
}

// clip shortens s for a warning.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return cutUTF8(s, n) + "…"
}
