// Package compose builds the RFC 5322 message of a mail sent from crmsync:
// the bytes handed to the SMTP server and appended to the Sent folder. It
// is built once, when the message is queued, with a fixed Message-ID and
// Date, so that every attempt sends the same bytes and a message already
// sent can be recognised in the Sent folder.
//
// The result is 7-bit clean: header text is RFC 2047 encoded, bodies are
// quoted-printable (RFC 2045 §6.7), attachments base64 with RFC 2231 file
// names. A text body is derived from an HTML-only one, so that every
// recipient has something to read (multipart/alternative, RFC 2046
// §5.1.4). Bcc recipients are in the SMTP envelope only, never in the
// message.
package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
)

// ErrInvalid is in the chain of every error Build returns: the message
// cannot be built from what it was given (a bug upstream: the API checks
// the request before).
var ErrInvalid = errors.New("compose: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// lineMax is the length header lines are folded at (RFC 5322 §2.1.1
// "SHOULD be no more than 78 characters").
const lineMax = 78

// Build returns the message of req sent by from, with the given Message-ID
// (without angle brackets) and Date. Header order and encodings are fixed,
// and MIME boundaries are derived from the Message-ID, so the same input
// gives the same bytes.
func Build(req crm.SendRequest, from crm.Address, messageID string, date time.Time) ([]byte, error) {
	if err := checkMsgID(messageID); err != nil {
		return nil, err
	}
	if date.IsZero() {
		return nil, invalid("no date")
	}
	if err := checkAddr("from", from); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		field string
		as    []crm.Address
	}{{"to", req.To}, {"cc", req.Cc}, {"bcc", req.Bcc}} {
		for i, a := range l.as {
			if err := checkAddr(fmt.Sprintf("%s[%d]", l.field, i), a); err != nil {
				return nil, err
			}
		}
	}
	if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		return nil, invalid("no recipient")
	}
	var refs []string
	if req.InReplyTo != "" {
		id := strings.Trim(strings.TrimSpace(req.InReplyTo), "<>")
		if err := checkMsgID(id); err != nil {
			return nil, invalid("in_reply_to: %v", err)
		}
		refs = []string{id}
	}

	var b bytes.Buffer
	header(&b, "Date", date.Format(time.RFC1123Z))
	header(&b, "From", addressList([]crm.Address{from}))
	if len(req.To) > 0 {
		header(&b, "To", addressList(req.To))
	} else if len(req.Cc) == 0 {
		// Only Bcc recipients: RFC 5322 §3.6.3 allows no destination field,
		// but many clients show an empty To as a problem.
		header(&b, "To", "undisclosed-recipients:;")
	}
	if len(req.Cc) > 0 {
		header(&b, "Cc", addressList(req.Cc))
	}
	header(&b, "Subject", unstructured(req.Subject))
	header(&b, "Message-ID", "<"+messageID+">")
	if len(refs) > 0 {
		header(&b, "In-Reply-To", "<"+refs[0]+">")
		header(&b, "References", "<"+strings.Join(refs, "> <")+">")
	}
	header(&b, "MIME-Version", "1.0")

	text, html := req.Text, req.HTML
	if strings.TrimSpace(html) == "" {
		html = ""
	}
	if text == "" && html != "" {
		text = HTMLToText(html)
	}
	bnd := boundaries(messageID)
	var body part
	switch {
	case html != "":
		body = multipart("alternative", bnd(), textPart("plain", text), textPart("html", html))
	default:
		body = textPart("plain", text)
	}
	if len(req.Attachments) > 0 {
		parts := []part{}
		if text != "" || html != "" {
			parts = append(parts, body)
		}
		for i, a := range req.Attachments {
			p, err := attachmentPart(i, a)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		body = multipart("mixed", bnd(), parts...)
	}
	body.write(&b)
	return b.Bytes(), nil
}

// Recipients returns the envelope recipients of req (To, Cc and Bcc), each
// once, in that order.
func Recipients(req crm.SendRequest) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range [][]crm.Address{req.To, req.Cc, req.Bcc} {
		for _, a := range l {
			k := strings.ToLower(strings.TrimSpace(a.Email))
			if k != "" && !seen[k] {
				seen[k] = true
				out = append(out, strings.TrimSpace(a.Email))
			}
		}
	}
	return out
}

// NewMessageID returns a new globally unique Message-ID (without angle
// brackets) in the sender's domain, as RFC 5322 §3.6.4 recommends.
func NewMessageID(fromEmail string) string {
	domain := "crmsync.invalid"
	if at := strings.LastIndexByte(fromEmail, '@'); at >= 0 && at < len(fromEmail)-1 {
		domain = strings.ToLower(fromEmail[at+1:])
	}
	var r [16]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:]) + ".crmsync@" + domain
}

func checkMsgID(id string) error {
	if id == "" || len(id) > 250 || strings.ContainsAny(id, "<> \t\r\n()\"\\,;[]") || !strings.Contains(id, "@") || strings.HasPrefix(id, "@") || strings.HasSuffix(id, "@") {
		return invalid("message id %q is not of the form id@domain", id)
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return invalid("message id %q has a character outside printable US-ASCII", id)
		}
	}
	return nil
}

func checkAddr(field string, a crm.Address) error {
	e := strings.TrimSpace(a.Email)
	if e == "" {
		return invalid("%s: no address", field)
	}
	if strings.ContainsAny(e, "\r\n<>, \t\"") || strings.Count(e, "@") != 1 || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") {
		return invalid("%s: %q is not an address", field, e)
	}
	for _, r := range e {
		if r < 0x20 || r == 0x7f {
			return invalid("%s: %q has a control character", field, e)
		}
	}
	return nil
}

// clean turns a header text into one line: control characters (CR, LF,
// tabs…) become spaces, runs of spaces one, and invalid UTF-8 U+FFFD.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// unstructured encodes a header text (Subject) per RFC 2047 when it is not
// plain ASCII, when it would read as an encoded word, or when a word is
// too long to fold.
func unstructured(s string) string {
	s = clean(s)
	need := !ascii(s) || strings.Contains(s, "=?")
	for _, w := range strings.Fields(s) {
		need = need || len(w) > lineMax-len("Subject: ")
	}
	if !need {
		return s
	}
	return encodeWords(s)
}

// encodeWords encodes s as a sequence of RFC 2047 encoded words of at most
// 75 characters (§2), split on character boundaries, separated by spaces
// so that the header can be folded between them. Q encoding for mostly
// ASCII text, B otherwise.
func encodeWords(s string) string {
	nonASCII := 0
	for _, r := range s {
		if r >= 0x80 {
			nonASCII++
		}
	}
	enc := mime.QEncoding
	if nonASCII*3 > utf8.RuneCountInString(s) {
		enc = mime.BEncoding
	}
	// mime.WordEncoder leaves pure-ASCII text alone; split it ourselves
	// so a long word still becomes several encoded words.
	const chunk = 20 // runes per word: at most 80 bytes of UTF-8, under 75 characters encoded with B
	var words []string
	rs := []rune(s)
	for len(rs) > 0 {
		n := min(chunk, len(rs))
		w := string(rs[:n])
		rs = rs[n:]
		if enc == mime.QEncoding {
			words = append(words, qWord(w))
		} else {
			words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(w))+"?=")
		}
	}
	return strings.Join(words, " ")
}

// qWord Q-encodes s (RFC 2047 §4.2) as one encoded word.
func qWord(s string) string {
	var b strings.Builder
	b.WriteString("=?utf-8?q?")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("!*+-/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("?=")
	return b.String()
}

// addressList formats addresses for From, To and Cc: display names
// quoted or RFC 2047 encoded, separated by ", " (folded later).
func addressList(as []crm.Address) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = formatAddress(a)
	}
	return strings.Join(out, ", ")
}

func formatAddress(a crm.Address) string {
	addr := strings.TrimSpace(a.Email)
	name := clean(a.Name)
	if name == "" || strings.EqualFold(name, addr) {
		return addr
	}
	if ascii(name) && !strings.Contains(name, "=?") {
		if isAtomText(name) {
			return name + " <" + addr + ">"
		}
		return quote(name) + " <" + addr + ">"
	}
	// RFC 2047 §5(3): encoded words in a phrase; B or Q with the phrase's
	// restricted character set.
	return encodeWords(name) + " <" + addr + ">"
}

// isAtomText reports whether a display name can go unquoted (RFC 5322
// §3.2.3 atext and spaces).
func isAtomText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// header writes "Name: value" folded at spaces outside quoted strings so
// that lines stay within 78 characters where the value allows.
func header(b *bytes.Buffer, name, value string) {
	line := name + ":"
	col := len(line)
	b.WriteString(line)
	for i, tok := range splitFoldable(value) {
		if i > 0 && col+1+len(tok) > lineMax {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(' ')
		b.WriteString(tok)
		col += 1 + len(tok)
	}
	b.WriteString("\r\n")
}

// splitFoldable splits a header value at the spaces where it may be folded:
// those outside quoted strings.
func splitFoldable(v string) []string {
	var out []string
	inQuote, esc := false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && inQuote:
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			if i > start {
				out = append(out, v[start:i])
			}
			start = i + 1
		}
	}
	if start < len(v) {
		out = append(out, v[start:])
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// boundaries returns a generator of MIME boundaries derived from the
// Message-ID. "=_" cannot occur in quoted-printable or base64 content
// (RFC 2045 §6.7: "=" is followed by two hex digits or a line break).
func boundaries(messageID string) func() string {
	n := 0
	h := hex.EncodeToString([]byte(messageID))
	if len(h) > 24 {
		h = h[:24]
	}
	return func() string {
		n++
		return fmt.Sprintf("=_crmsync_%d_%s", n, h)
	}
}

// part is a MIME entity: its header fields and a body writer.
type part struct {
	header [][2]string
	body   func(b *bytes.Buffer)
}

func (p part) write(b *bytes.Buffer) {
	for _, h := range p.header {
		header(b, h[0], h[1])
	}
	b.WriteString("\r\n")
	p.body(b)
}

func multipart(sub, boundary string, parts ...part) part {
	return part{
		header: [][2]string{{"Content-Type", mime.FormatMediaType("multipart/"+sub, map[string]string{"boundary": boundary})}},
		body: func(b *bytes.Buffer) {
			for _, p := range parts {
				b.WriteString("--" + boundary + "\r\n")
				p.write(b)
				if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
					b.WriteString("\r\n")
				}
			}
			b.WriteString("--" + boundary + "--\r\n")
		},
	}
}

func textPart(sub, s string) part {
	return part{
		header: [][2]string{
			{"Content-Type", "text/" + sub + "; charset=utf-8"},
			{"Content-Transfer-Encoding", "quoted-printable"},
		},
		body: func(b *bytes.Buffer) {
			s := strings.ToValidUTF8(s, "\uFFFD")
			// Line breaks become CRLF (quotedprintable does so in text
			// mode); a lone CR is one too.
			s = strings.ReplaceAll(s, "\r\n", "\n")
			s = strings.ReplaceAll(s, "\r", "\n")
			w := quotedprintable.NewWriter(b)
			w.Write([]byte(s))
			w.Close()
			if len(s) > 0 && !strings.HasSuffix(s, "\n") {
				b.WriteString("\r\n")
			}
		},
	}
}

func attachmentPart(i int, a crm.SendAttachment) (part, error) {
	name := strings.TrimSpace(clean(a.Filename))
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = fmt.Sprintf("attachment-%d", i+1)
	}
	ct := "application/octet-stream"
	if a.ContentType != "" {
		mt, params, err := mime.ParseMediaType(a.ContentType)
		if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
			return part{}, invalid("attachments[%d].content_type %q is not a media type like application/pdf", i, a.ContentType)
		}
		delete(params, "name")
		ct = mime.FormatMediaType(mt, params)
		if ct == "" {
			ct = mt
		}
	} else if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		ct = t
	}
	// RFC 2231 (filename*=utf-8''…) for names that are not ASCII;
	// mime.FormatMediaType chooses it.
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if ascii(name) {
		// The name parameter too, for clients that read only that one.
		ct += "; " + strings.TrimPrefix(mime.FormatMediaType("x/x", map[string]string{"name": name}), "x/x; ")
	}
	content := a.Content
	return part{
		header: [][2]string{
			{"Content-Type", ct},
			{"Content-Disposition", disp},
			{"Content-Transfer-Encoding", "base64"},
		},
		body: func(b *bytes.Buffer) {
			enc := base64.StdEncoding.EncodeToString(content)
			for len(enc) > 76 {
				b.WriteString(enc[:76])
				b.WriteString("\r\n")
				enc = enc[76:]
			}
			if enc != "" {
				b.WriteString(enc)
				b.WriteString("\r\n")
			}
		},
	}, nil
}

// htmlSpace reports the white space HTML collapses.
func htmlSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || unicode.Is(unicode.Zs, r)
}
