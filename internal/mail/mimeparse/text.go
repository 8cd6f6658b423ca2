package mimeparse

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/text/encoding/charmap"
)

// charsetKind says how a part's bytes become UTF-8.
type charsetKind int

const (
	// csUTF8: UTF-8 or US-ASCII (or no charset): the bytes are used as they
	// are, and if they are not valid UTF-8 they are read as Windows-1252
	// (see fixUTF8): 8-bit text mislabelled as UTF-8 or sent without any
	// label is nearly always Latin-1 / Windows-1252.
	csUTF8 charsetKind = iota
	// csConverted: a known charset, converted by go-message's tables.
	csConverted
	// csUnknown: an unknown charset: raw bytes, invalid UTF-8 replaced.
	csUnknown
)

// normCharset returns the charset label in lower case without quotes.
func normCharset(cs string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
}

// charsetReader wraps r to convert from the RFC 2045 charset parameter cs
// (RFC 2046 section 4.1.2) to UTF-8.
func charsetReader(cs string, r io.Reader) (io.Reader, charsetKind) {
	switch normCharset(cs) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "us", "unicode-1-1-utf-8":
		return r, csUTF8
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "cp819", "ibm819":
		// As in the WHATWG Encoding standard: mail labelled ISO-8859-1 uses
		// the Windows-1252 letters (curly quotes, €) in the C1 range.
		return charmap.Windows1252.NewDecoder().Reader(r), csConverted
	}
	dec, err := charset.Reader(normCharset(cs), r)
	if err != nil || dec == nil {
		return r, csUnknown
	}
	return dec, csConverted
}

// fixUTF8 turns b into valid UTF-8 and says what it had to do ("" if
// nothing). With latin1Fallback, bytes that are not UTF-8 and contain no
// valid multi-byte sequence at all are read as Windows-1252 rather than
// replaced, which keeps "Grüße" readable in mislabelled mail; otherwise
// invalid sequences become U+FFFD.
func fixUTF8(b []byte, latin1Fallback bool) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	if latin1Fallback && !hasMultibyte(b) {
		s, err := charmap.Windows1252.NewDecoder().Bytes(b)
		if err == nil {
			return string(s), "not valid UTF-8; read as Windows-1252"
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), "invalid UTF-8 replaced"
}

// hasMultibyte reports whether b holds at least one valid multi-byte UTF-8
// sequence.
func hasMultibyte(b []byte) bool {
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			return true
		}
		b = b[n:]
	}
	return false
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b, left
// there when a body was cut at its size limit.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// cutUTF8 cuts s to at most n bytes, never inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// normalizeText makes line ends LF (RFC 5322 text uses CRLF, a bare CR is
// a malformation but must not hide a line break) and removes NUL bytes,
// which PostgreSQL text columns reject. It reports how many NULs it removed.
func normalizeText(s string) (string, int) {
	if !strings.ContainsAny(s, "\r\x00") {
		return s, 0
	}
	var b strings.Builder
	b.Grow(len(s))
	nul := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b.WriteByte('\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case 0:
			nul++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nul
}

// htmlPolicy is bluemonday's user-generated-content policy: no scripts,
// forms, iframes, event handlers or style attributes (which can load remote
// resources). Two additions for mail: "cid:" URLs stay so the UI can show
// inline parts (RFC 2392), and links get rel="noreferrer" so a click does
// not tell the sender which mailbox read the message. Remote images stay
// in what is stored; BlockRemoteImages turns them off as mail is shown,
// until the reader asks. A Policy is safe for concurrent use once built.
var htmlPolicy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("cid")
	p.RequireNoReferrerOnLinks(true)
	return p
}()

// sanitizeHTML sanitizes s and cuts the result to at most n bytes,
// backing off so that the cut does not leave half a tag or entity.
func sanitizeHTML(s string, n int) (string, bool) {
	out := strings.TrimSpace(htmlPolicy.Sanitize(s))
	if len(out) <= n {
		return out, false
	}
	out = cutUTF8(out, n)
	if i := strings.LastIndexAny(out, "<&"); i >= 0 && !strings.ContainsAny(out[i:], ">;") {
		out = out[:i]
	}
	return out, true
}

// htmlBlocks are the elements that end a line of text.
var htmlBlocks = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "br": true, "dd": true,
	"div": true, "dl": true, "dt": true, "fieldset": true, "figcaption": true, "figure": true,
	"footer": true, "form": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true,
	"h6": true, "header": true, "hr": true, "li": true, "main": true, "nav": true, "ol": true,
	"p": true, "pre": true, "section": true, "table": true, "tr": true, "ul": true,
}

// htmlSkip are the elements whose content is not text.
var htmlSkip = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "template": true,
	"noscript": true, "svg": true, "math": true, "object": true,
}

// htmlToText derives plain text from an HTML body for search and the
// forwarded-mail extractor: tags removed, entities decoded, white space
// collapsed, one line per block element, at most one empty line in a row.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var out bytes.Buffer
	skip := 0
	space := false // a space is pending between words
	newlines := 2  // newlines at the end of out (2: at start, none wanted)
	nl := func(n int) {
		space = false
		for newlines < n {
			out.WriteByte('\n')
			newlines++
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(out.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			if r, _ := utf8.DecodeRuneInString(t); isHTMLSpace(r) {
				space = true
			}
			for _, f := range strings.FieldsFunc(t, isHTMLSpace) {
				if space && newlines == 0 {
					out.WriteByte(' ')
				}
				out.WriteString(f)
				newlines, space = 0, true
			}
			if r, _ := utf8.DecodeLastRuneInString(t); !isHTMLSpace(r) {
				space = false
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if tag == "body" {
				skip = 0 // a <head> that was never closed ends here
			}
			if htmlSkip[tag] {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if htmlBlocks[tag] {
				if tag == "p" || tag == "blockquote" || tag == "table" || tag[0] == 'h' && len(tag) == 2 {
					nl(2)
				} else {
					nl(1)
				}
			} else if tag == "td" || tag == "th" {
				space = true
			}
		}
	}
}

func isHTMLSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\u00a0':
		return true
	}
	return false
}
