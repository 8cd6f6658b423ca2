package mimeparse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	_ "github.com/emersion/go-message/charset" // charset tables for go-message (RFC 2046 4.1.2, RFC 2047)
	"github.com/emersion/go-message/textproto"

	model "github.com/crmsync/crmsync/internal/mail"
)

// Options bound what Parse keeps. A nil *Options, or a zero field, means
// the default.
type Options struct {
	// MaxTextBytes and MaxHTMLBytes bound the stored bodies (default 1 MiB
	// each); a longer body is cut and its *Truncated flag set.
	MaxTextBytes int64
	MaxHTMLBytes int64
	// KeepAttachmentsUnder: the decoded content of attachments smaller than
	// this many bytes is returned by Parse; larger ones are listed only and
	// fetched later with Attachment. 0 keeps none.
	KeepAttachmentsUnder int64
	// MaxKeptBytes bounds the content kept over all attachments of one
	// message (default 64 MiB, never less than KeepAttachmentsUnder), so a
	// message made of many small attachments cannot exhaust memory either.
	MaxKeptBytes int64
	// MaxHeaderBytes bounds the header of the message and of each part
	// (default 256 KiB); header lines past it are skipped with a warning.
	// Attachment parses with the default: a lower value can number the
	// attachments of a message whose headers exceed it differently.
	MaxHeaderBytes int64
}

const (
	defaultMaxBody   = 1 << 20
	defaultMaxHeader = 256 << 10
	defaultMaxKept   = 64 << 20

	maxDepth       = 32    // MIME nesting levels followed
	maxAttachments = 10000 // attachments listed per message
	maxWarnings    = 100
	maxPreamble    = 1 << 20 // bytes of a multipart preamble kept for recovery
	maxField       = 998     // RFC 5322 line length: longer names are clipped
)

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
		if *v > math.MaxInt32 { // buffers are indexed by int
			*v = math.MaxInt32
		}
	}
	def(&out.MaxTextBytes, defaultMaxBody)
	def(&out.MaxHTMLBytes, defaultMaxBody)
	def(&out.MaxHeaderBytes, defaultMaxHeader)
	def(&out.MaxKeptBytes, defaultMaxKept)
	if out.KeepAttachmentsUnder < 0 {
		out.KeepAttachmentsUnder = 0
	}
	if out.MaxKeptBytes < out.KeepAttachmentsUnder {
		out.MaxKeptBytes = out.KeepAttachmentsUnder
	}
	return out
}

// KeptAttachment is the decoded content of a small attachment, named by its
// mail.Attachment.Index.
type KeptAttachment struct {
	Index int
	Data  []byte
}

// ErrNoAttachment is returned by Attachment when the message has no
// attachment with the requested index.
var ErrNoAttachment = errors.New("mimeparse: no such attachment")

// errFound stops reading once Attachment has written its attachment.
var errFound = errors.New("mimeparse: attachment found")

// Parse reads one raw message from r, to its end and exactly once, and
// returns what crmsync stores of it, plus the content of the attachments
// smaller than opts.KeepAttachmentsUnder.
//
// The error is non-nil only when reading r fails; the Message then holds
// what was parsed before, and Size and Hash cover the bytes read. A
// malformed message is never an error: it is parsed as far as possible and
// each problem is described in Message.Warnings.
func Parse(r io.Reader, opts *Options) (*model.Message, []KeptAttachment, error) {
	p := newParser(r, opts)
	defer p.release()
	p.run()
	p.finishBodies()
	if p.src.stop == nil {
		io.Copy(io.Discard, p.src) // Size and Hash cover all of r even if parsing stopped early
	}
	p.msg.Size = p.src.n
	p.msg.Hash = hex.EncodeToString(p.src.h.Sum(nil))
	p.flushWarnings()
	return p.msg, p.kept, p.src.err
}

// Attachment re-parses a raw message and writes the decoded content of
// the attachment with the given index (as numbered by Parse) to w, in
// bounded memory. It stops reading r once the attachment is written. It
// returns ErrNoAttachment if there is no such attachment, or the error of
// reading r or writing w.
//
// For a message/rfc822 attachment the content is the embedded message,
// itself parseable with Parse (forwarding mode).
func Attachment(r io.Reader, index int, w io.Writer) (model.Attachment, error) {
	if index < 0 || index >= maxAttachments {
		return model.Attachment{}, ErrNoAttachment
	}
	p := newParser(r, nil)
	defer p.release()
	p.target, p.w = index, w
	p.run()
	switch {
	case p.werr != nil:
		return model.Attachment{}, p.werr
	case p.found != nil:
		return *p.found, nil
	case p.src.err != nil:
		return model.Attachment{}, p.src.err
	}
	return model.Attachment{}, ErrNoAttachment
}

// source is the raw message as read: it hashes and counts every byte
// (RFC 5322 message as stored, so the hash identifies the same message in
// two folders) and remembers the first read error, which is the only error
// Parse returns.
type source struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	err  error // first read error other than io.EOF
	stop error // set to stop reading early
}

func (s *source) Read(b []byte) (int, error) {
	if s.stop != nil {
		return 0, s.stop
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(b)
	if n > 0 {
		s.h.Write(b[:n])
		s.n += int64(n)
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type parser struct {
	opts Options
	src  *source
	msg  *model.Message
	kept []KeptAttachment

	keptTotal int64
	nAttach   int
	buf       []byte // copy buffer
	bufp      *[]byte

	warnings     []string
	moreWarnings int

	wordDecoder *mime.WordDecoder
	field       string // header field being decoded, for warnings

	// Attachment mode: target >= 0.
	target int
	w      io.Writer
	werr   error
	found  *model.Attachment

	text, html           []byte
	textSet, htmlSet     bool
	textTrunc, htmlTrunc bool
}

func newParser(r io.Reader, opts *Options) *parser {
	p := &parser{
		opts:   opts.withDefaults(),
		src:    &source{r: r, h: sha256.New()},
		msg:    &model.Message{},
		bufp:   copyBufs.Get().(*[]byte),
		target: -1,
	}
	p.buf = *p.bufp
	p.wordDecoder = &mime.WordDecoder{CharsetReader: p.wordCharset}
	return p
}

func (p *parser) release() {
	copyBufs.Put(p.bufp)
	p.buf, p.bufp = nil, nil
}

func (p *parser) aborted() bool { return p.src.err != nil || p.src.stop != nil }

// warn records a parse problem. Warnings are bounded: a pathological
// message could otherwise produce one per part.
func (p *parser) warn(format string, args ...any) {
	if len(p.warnings) >= maxWarnings {
		p.moreWarnings++
		return
	}
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

func (p *parser) flushWarnings() {
	if p.moreWarnings > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d more warnings not shown", p.moreWarnings))
	}
	p.msg.Warnings = p.warnings
}

// recoverPanics is turned off by the tests, so that a bug fails them with
// its stack trace.
var recoverPanics = true

// run parses the header and walks the MIME tree. A panic (a bug, never
// expected) becomes a warning: one message must not stop the sync.
func (p *parser) run() {
	if recoverPanics {
		defer func() {
			if v := recover(); v != nil {
				p.warn("internal error, the rest of the message was not parsed: %v", v)
			}
		}()
	}
	br := rootReaders.Get().(*bufio.Reader)
	br.Reset(p.src)
	defer func() {
		br.Reset(nil)
		rootReaders.Put(br)
	}()
	rh, err := readHeaderBlock(br, int(p.opts.MaxHeaderBytes), nil)
	if rh.overflow {
		p.warn("header longer than %s; the rest of it skipped", size(p.opts.MaxHeaderBytes))
	}
	h := parseHeaderBlock(rh.block, p.warn)
	if p.target < 0 {
		p.envelope(&h)
	}
	if err != nil && err != io.EOF {
		return
	}
	p.walk(h, br, "", 0, false, "")
}

// envelope fills the message's header fields.
func (p *parser) envelope(h *textproto.Header) {
	m := p.msg
	if v := h.Get("Message-Id"); v != "" {
		if ids := msgIDs(p.fix8bit("Message-ID", v)); len(ids) > 0 {
			m.MessageID = ids[0]
		} else {
			p.warn("Message-ID %q unreadable; ignored", clip(v, 60))
		}
	}
	m.InReplyTo = msgIDs(p.fix8bit("In-Reply-To", strings.Join(h.Values("In-Reply-To"), " ")))
	m.References = msgIDs(p.fix8bit("References", strings.Join(h.Values("References"), " ")))
	m.Subject = p.headerText("Subject", h.Get("Subject"))
	if v := h.Get("Date"); v != "" {
		if t, ok := parseDate(p.fix8bit("Date", v)); ok {
			m.Date = t
		} else {
			p.warn("Date %q unparseable; left empty", clip(v, 60))
		}
	}
	addrs := func(field string) []model.Address {
		v := strings.Join(h.Values(field), ", ")
		return p.parseAddressList(field, p.fix8bit(field, v))
	}
	m.From = addrs("From")
	m.Sender = addrs("Sender")
	m.ReplyTo = addrs("Reply-To")
	m.To = addrs("To")
	m.Cc = addrs("Cc")
	m.Bcc = addrs("Bcc")
}

// fix8bit makes a raw header value valid UTF-8. RFC 5322 headers are
// US-ASCII and RFC 6532 allows UTF-8; other raw 8-bit bytes are a
// malformation, nearly always Latin-1 / Windows-1252.
func (p *parser) fix8bit(field, v string) string {
	if utf8.ValidString(v) {
		return v
	}
	s, note := fixUTF8([]byte(v), true)
	p.warn("%s: raw 8-bit bytes %s", field, note)
	return s
}

// headerText decodes an unstructured header value (RFC 2047 encoded
// words) into clean text.
func (p *parser) headerText(field, v string) string {
	if v == "" {
		return ""
	}
	return clipField(cleanHeaderText(p.decodeWords(field, p.fix8bit(field, v))))
}

// decodeWords decodes RFC 2047 encoded words, each in its own charset.
// Unknown charsets and malformed words are left as they are, with a
// warning, instead of failing the whole value as mime.WordDecoder does.
func (p *parser) decodeWords(field, v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	p.field = field
	out, err := p.wordDecoder.DecodeHeader(v)
	if err != nil {
		out = v
	}
	if i := strings.Index(out, "=?"); i >= 0 && strings.Contains(out[i:], "?") {
		p.warn("%s: malformed encoded word left as is", field)
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// wordCharset is the WordDecoder's charset reader: it never fails, so one
// unknown charset does not lose the rest of the header.
func (p *parser) wordCharset(cs string, in io.Reader) (io.Reader, error) {
	r, kind := charsetReader(cs, in)
	switch kind {
	case csUnknown:
		p.warn("%s: unknown charset %s in encoded word; shown undecoded", p.field, clip(cs, 40))
	case csConverted:
		// An encoded word is short: convert it now, so that the decoder's
		// io.Copy takes the WriterTo path instead of a 32 KiB buffer.
		if b, err := io.ReadAll(r); err == nil {
			return bytes.NewReader(b), nil
		}
	}
	return r, nil
}

// cleanHeaderText removes control characters (a NUL would not even be
// storable) and surrounding white space.
func cleanHeaderText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			switch {
			case r == 0:
				return -1
			case isControl(r):
				return ' '
			}
			return r
		}, s)
	}
	return strings.TrimSpace(s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func clipField(s string) string {
	if len(s) > maxField {
		return cutUTF8(s, maxField)
	}
	return s
}

// partLabel names a part in warnings by its IMAP section number (RFC 3501
// section 6.4.5), which is also how a UI would fetch it.
func partLabel(section string) string {
	if section == "" {
		return "part 1"
	}
	return "part " + section
}

func childSection(section string, i int) string {
	if section == "" {
		return strconv.Itoa(i)
	}
	return section + "." + strconv.Itoa(i)
}

// walk handles one entity: a multipart is split and its parts walked, a
// leaf becomes a body or an attachment. inAlt says an enclosing multipart
// is multipart/alternative, whose parts are versions of the same content.
func (p *parser) walk(h textproto.Header, body io.Reader, section string, depth int, inAlt bool, parent string) {
	label := partLabel(section)
	ct, params := "text/plain", map[string]string{} // RFC 2045 section 5.2 default
	if parent == "multipart/digest" {
		ct = "message/rfc822" // RFC 2046 section 5.1.5
	}
	if v := h.Get("Content-Type"); v != "" {
		t, ps, probs := parseMediaHeader(v)
		for _, pr := range probs {
			p.warn("%s: Content-Type: %s", label, pr)
		}
		if validMediaType(t) {
			ct, params = t, ps
		} else {
			// RFC 2045 section 5.2: an invalid Content-Type means text/plain.
			p.warn("%s: invalid Content-Type %q; read as text/plain", label, clip(t, 60))
			ct, params = "text/plain", ps
		}
	}
	if strings.HasPrefix(ct, "multipart/") {
		p.multipart(h, body, ct, params, section, depth, inAlt, false)
		return
	}
	p.leaf(h, body, label, ct, params, inAlt)
}

func validMediaType(t string) bool {
	i := strings.IndexByte(t, '/')
	if i <= 0 || i == len(t)-1 || strings.Count(t, "/") != 1 {
		return false
	}
	for _, c := range []byte(t) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// multipart walks the parts of a multipart entity (RFC 2046 section 5.1).
// recovering is set when the entity is a preamble being re-read with
// another boundary (see recoverPreamble).
func (p *parser) multipart(h textproto.Header, body io.Reader, ct string, params map[string]string, section string, depth int, inAlt, recovering bool) {
	label := "message body"
	if section != "" {
		label = partLabel(section)
	}
	boundary := params["boundary"]
	if boundary == "" {
		bb := bufio.NewReaderSize(body, 16<<10)
		body = bb
		pk, _ := bb.Peek(bb.Size())
		boundary = findBoundary(pk, "")
		if boundary == "" {
			p.warn("%s: %s without boundary; read as text/plain", label, ct)
			p.leaf(h, body, partLabel(section), "text/plain", nil, inAlt)
			return
		}
		p.warn("%s: %s without boundary; boundary guessed from the body", label, ct)
	}
	if len(boundary) > maxBoundaryLen {
		p.warn("%s: boundary longer than %d bytes; read as text/plain", label, maxBoundaryLen)
		p.leaf(h, body, partLabel(section), "text/plain", nil, inAlt)
		return
	}
	if depth >= maxDepth {
		p.warn("%s: MIME nesting deeper than %d levels; skipped", label, maxDepth)
		return
	}
	mr := newMultipartReader(body, boundary, int(p.opts.MaxHeaderBytes))
	defer mr.release()
	if !recovering {
		// A constant, not MaxTextBytes: what is recovered from the preamble
		// must not depend on options, or Attachment would number differently.
		mr.keepPreamble = maxPreamble
	}
	alt := inAlt || ct == "multipart/alternative"
	for i := 1; ; i++ {
		part, rh, err := mr.nextPart()
		if err != nil && err != io.EOF {
			return // a read error, which Parse reports
		}
		if pre := mr.preamble; pre != nil {
			mr.preamble, mr.keepPreamble = nil, 0
			p.recoverPreamble(pre, ct, boundary, section, label, depth, inAlt, err == io.EOF)
			if p.aborted() {
				return
			}
		}
		if err == io.EOF {
			break
		}
		child := childSection(section, i)
		clabel := partLabel(child)
		if rh.overflow {
			p.warn("%s: header longer than %s; the rest of it skipped", clabel, size(p.opts.MaxHeaderBytes))
		}
		ph := parseHeaderBlock(rh.block, func(f string, a ...any) { p.warn(clabel+": "+f, a...) })
		p.walk(ph, part, child, depth+1, alt, ct)
		if p.aborted() {
			return
		}
	}
	switch {
	case recovering:
	case mr.parts == 0:
		p.warn("%s: %s has no parts", label, ct)
	case !mr.closed:
		p.warn("%s: %s has no closing boundary (truncated message?)", label, ct)
	}
}

// recoverPreamble looks at the text before the first delimiter. Normally
// it is a line for non-MIME readers, ignored (RFC 2046 section 5.1.1).
// When a delimiter was mistyped (a boundary that differs from the
// Content-Type's) the preamble holds parts: they are parsed with the
// boundary found in it. When no delimiter came at all, the preamble is the
// whole body and is kept as text rather than lost.
func (p *parser) recoverPreamble(pre []byte, ct, boundary, section, label string, depth int, inAlt, noParts bool) {
	if b := findBoundary(pre, boundary); b != "" {
		p.warn("%s: delimiter %q does not match boundary %q; parts read with it", label, clip(b, 70), clip(boundary, 70))
		p.multipart(textproto.Header{}, bytes.NewReader(pre), ct, map[string]string{"boundary": b}, section, depth, inAlt, true)
		return
	}
	if noParts {
		p.warn("%s: no part found (boundary %q never seen); body kept as text", label, clip(boundary, 70))
		p.leaf(textproto.Header{}, bytes.NewReader(pre), partLabel(section), "text/plain", nil, inAlt)
	}
}

// findBoundary finds, in the start of a multipart body, a line that looks
// like a delimiter ("--" and a boundary other than skip, followed by a
// header line or an empty line) and returns its boundary.
func findBoundary(b []byte, skip string) string {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte("--")) {
			continue
		}
		bd := bytes.TrimRight(line[2:], " \t\r")
		if len(bd) == 0 || len(bd) > maxBoundaryLen || bytes.ContainsAny(bd, " \t") || string(bd) == skip {
			continue
		}
		next := b
		if i := bytes.IndexByte(next, '\n'); i >= 0 {
			next = next[:i]
		}
		next = bytes.TrimRight(next, "\r")
		if len(next) == 0 || bytes.IndexByte(next, ':') > 0 && next[0] != ' ' && next[0] != '\t' {
			return string(bd)
		}
	}
	return ""
}

// leaf handles a non-multipart entity.
func (p *parser) leaf(h textproto.Header, body io.Reader, label, ct string, params map[string]string, inAlt bool) {
	disp, dparams := "", map[string]string(nil)
	if v := h.Get("Content-Disposition"); v != "" {
		var probs []string
		disp, dparams, probs = parseMediaHeader(v)
		for _, pr := range probs {
			p.warn("%s: Content-Disposition: %s", label, pr)
		}
	}
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"] // RFC 2046 4.5.1, deprecated but common
	}
	if filename != "" {
		filename = cleanFilename(lastPathElem(p.headerText(label+" filename", filename)))
	}
	rfc822 := ct == "message/rfc822" || ct == "message/global"
	isBody := (ct == "text/plain" || ct == "text/html") && disp != "attachment" && filename == ""
	if isBody && p.target >= 0 {
		return // Attachment mode: bodies are skipped
	}

	dec, finish := p.transferDecoder(h, body, label)
	if isBody {
		p.bodyPart(dec, params["charset"], label, ct == "text/html", inAlt)
	} else {
		a := model.Attachment{
			Filename:    filename,
			ContentType: clipField(ct),
			ContentID:   clipField(strings.Trim(cleanHeaderText(h.Get("Content-Id")), "<> \t")),
		}
		a.Inline = disp == "inline" || disp == "" && a.ContentID != ""
		p.attachment(dec, a, rfc822 && filename == "", label)
	}
	if finish != nil {
		finish()
	}
}

// transferDecoder undoes the Content-Transfer-Encoding (RFC 2045 section
// 6). The returned func reports decoding problems once the body is read.
func (p *parser) transferDecoder(h textproto.Header, body io.Reader, label string) (io.Reader, func()) {
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if i := strings.IndexAny(cte, " \t;("); i >= 0 {
		cte = cte[:i]
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		d := newBase64Reader(body)
		return d, func() {
			defer d.release()
			if d.invalid > 0 {
				p.warn("%s: invalid base64, %d bytes skipped; kept what decoded", label, d.invalid)
			}
		}
	case "quoted-printable":
		d := newQPReader(body)
		return d, func() {
			defer d.release()
			if d.invalid > 0 {
				p.warn("%s: malformed quoted-printable, %d escapes kept as they are", label, d.invalid)
			}
		}
	}
	p.warn("%s: unknown Content-Transfer-Encoding %q; content kept undecoded", label, clip(cte, 40))
	return body, nil
}

// bodyPart collects a text/plain or text/html body. The first of each
// kind is the body; later ones outside multipart/alternative (a mailing
// list footer in multipart/mixed, say) are appended so nothing is lost,
// and further versions inside an alternative are skipped.
func (p *parser) bodyPart(r io.Reader, cs, label string, isHTML, inAlt bool) {
	dst, set, trunc, limit, what := &p.text, &p.textSet, &p.textTrunc, int(p.opts.MaxTextBytes), "text"
	if isHTML {
		dst, set, trunc, limit, what = &p.html, &p.htmlSet, &p.htmlTrunc, int(p.opts.MaxHTMLBytes), "HTML"
	}
	if *set && inAlt {
		return
	}
	rd, kind := charsetReader(cs, r)
	if kind == csUnknown {
		p.warn("%s: unknown charset %s; shown undecoded", label, clip(normCharset(cs), 40))
	}
	sep := 0
	if *set && len(*dst) > 0 {
		sep = 2
	}
	budget := limit - len(*dst) - sep
	if budget <= 0 {
		if n, _ := io.Copy(io.Discard, rd); n > 0 && !*trunc {
			*trunc = true
			p.warn("%s body cut at %s", what, size(int64(limit)))
		}
		return
	}
	var data bytes.Buffer
	_, err := data.ReadFrom(io.LimitReader(rd, int64(budget)))
	more := false
	if err == nil {
		var n int64
		n, err = io.Copy(io.Discard, rd)
		more = n > 0
	}
	if err != nil && !p.aborted() {
		p.warn("%s: %s could not be decoded past byte %d: %v", label, what, data.Len(), err)
	}
	b := data.Bytes()
	if more {
		b = trimPartialRune(b)
	}
	s, note := fixUTF8(b, kind == csUTF8)
	if note != "" && kind != csUnknown {
		p.warn("%s: %s %s", label, what, note)
	}
	s, nul := normalizeText(s)
	if nul > 0 {
		p.warn("%s: %d NUL bytes removed from the %s", label, nul, what)
	}
	if len(s) > budget {
		s, more = cutUTF8(s, budget), true
	}
	if sep > 0 {
		*dst = append(*dst, "\n\n"...)
	}
	*dst = append(*dst, s...)
	*set = true
	if more && !*trunc {
		*trunc = true
		p.warn("%s body cut at %s", what, size(int64(limit)))
	}
}

// finishBodies sanitizes the HTML and derives the text from it when the
// message has no text/plain body.
func (p *parser) finishBodies() {
	m := p.msg
	m.Text, m.TextTruncated = string(p.text), p.textTrunc
	if p.htmlSet {
		raw := string(p.html)
		var cut bool
		m.HTML, cut = sanitizeHTML(raw, int(p.opts.MaxHTMLBytes))
		m.HTMLTruncated = p.htmlTrunc || cut
		if strings.TrimSpace(m.Text) == "" { // no text/plain, or an empty one beside the HTML
			t := htmlToText(raw)
			m.Text = cutUTF8(t, int(p.opts.MaxTextBytes))
			m.TextTruncated = p.htmlTrunc || len(m.Text) < len(t)
		}
	}
}

// attachment streams one attachment: counts its decoded size, keeps it
// if small, writes it to Attachment's writer if it is the one asked for.
// withSubject: a message/rfc822 without a file name is named after its
// Subject, read from the start of its content.
func (p *parser) attachment(r io.Reader, a model.Attachment, withSubject bool, label string) {
	if p.nAttach >= maxAttachments {
		if p.nAttach == maxAttachments {
			p.warn("more than %d attachments; the rest not listed", maxAttachments)
			p.nAttach++
		}
		return
	}
	a.Index = p.nAttach
	p.nAttach++
	target := p.target >= 0 && a.Index == p.target
	if p.target >= 0 && !target {
		return
	}
	limit := p.opts.KeepAttachmentsUnder
	keep := p.target < 0 && limit > 0 && p.keptTotal < p.opts.MaxKeptBytes
	var kept []byte
	var head []byte
	headMax := int(min(p.opts.MaxHeaderBytes, 64<<10))
	for {
		n, err := r.Read(p.buf)
		if n > 0 {
			chunk := p.buf[:n]
			a.Size += int64(n)
			if keep {
				if a.Size < limit && p.keptTotal+a.Size <= p.opts.MaxKeptBytes {
					kept = append(kept, chunk...)
				} else {
					keep, kept = false, nil
				}
			}
			if target {
				if _, werr := p.w.Write(chunk); werr != nil {
					p.werr, p.src.stop = werr, werr
					return
				}
			}
			if withSubject && len(head) < headMax {
				head = append(head, chunk[:min(n, headMax-len(head))]...)
			}
		}
		if err != nil {
			if err != io.EOF && !p.aborted() {
				p.warn("%s: attachment could not be decoded past byte %d: %v", label, a.Size, err)
			}
			break
		}
	}
	if withSubject {
		a.Filename = embeddedName(head)
	}
	if target {
		if p.src.err == nil { // a read error is reported, not a partial attachment
			p.found, p.src.stop = &a, errFound
		}
		return
	}
	p.msg.Attachments = append(p.msg.Attachments, a)
	if keep {
		if kept == nil {
			kept = []byte{}
		}
		p.kept = append(p.kept, KeptAttachment{Index: a.Index, Data: kept})
		p.keptTotal += int64(len(kept))
	}
}

// embeddedName names an attached message after its Subject (RFC 2046
// section 5.2.1: message/rfc822 has no file name of its own).
func embeddedName(head []byte) string {
	rh, _ := readHeaderBlock(bufio.NewReader(bytes.NewReader(head)), len(head)+1, nil)
	h := parseHeaderBlock(rh.block, func(string, ...any) {})
	q := &parser{} // its warnings concern the embedded message, not this one
	q.wordDecoder = &mime.WordDecoder{CharsetReader: q.wordCharset}
	subj := q.headerText("Subject", h.Get("Subject"))
	name := cleanFilename(subj)
	if name == "" {
		name = "message"
	}
	return cutUTF8(name, 200) + ".eml"
}

// lastPathElem keeps the last element of a file name sent with its path
// (old Internet Explorer sent "C:\Users\me\report.pdf").
func lastPathElem(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}

// cleanFilename removes path separators (a name like "../../x" must not
// name a path) and control characters from a file name.
func cleanFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '_'
		case isControl(r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		s = "_"
	}
	return cutUTF8(s, 255)
}

// size formats a byte count for warnings: "1 MiB", "256 KiB".
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
