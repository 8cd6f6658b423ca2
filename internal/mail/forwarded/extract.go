package forwarded

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
)

// Kind says how the original message was found.
type Kind string

const (
	// KindNone: not a forward (a BCC copy, or a message the user wrote);
	// Original is the dropbox message itself.
	KindNone Kind = "none"
	// KindInline: a forwarded header block in the body.
	KindInline Kind = "inline"
	// KindAttached: an attached message/rfc822 (or .eml file).
	KindAttached Kind = "attached"
)

// Options steer Extract. A nil *Options is equivalent to a zero value.
type Options struct {
	// Dropbox lists the dropbox addresses the message was delivered to
	// (compared case-insensitively). When set and none of them appears in
	// the To or Cc header, the message reached the dropbox as a BCC: it is
	// a BCC copy, KindNone, whatever its body holds.
	Dropbox []string
	// Parse is given to mimeparse.Parse for an attached message, and for
	// the dropbox message itself when Extract is called without it.
	Parse *mimeparse.Options
	// MaxScanBytes bounds the text searched for a forwarded header block
	// (default 256 KiB). The original's text after the block is kept whole.
	MaxScanBytes int
	// Location is the user's time zone, in which Gmail and Outlook write
	// the forwarded header's date without naming it. Default: the zone of
	// the dropbox message's Date header, which is usually the same, but
	// not from Exchange Online, which writes Date in UTC.
	Location *time.Location
}

const (
	defaultMaxScan = 256 << 10
	maxNesting     = 20 // forwards of forwards followed
	maxWarnings    = 50
)

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.MaxScanBytes <= 0 {
		out.MaxScanBytes = defaultMaxScan
	}
	return out
}

// Result is what Extract found.
type Result struct {
	Kind Kind
	// Original is the message to store and link, never nil:
	//   - KindAttached: the attached message as mimeparse.Parse reads it
	//     (Message-ID, participants, date, bodies, attachments). Its Size,
	//     Hash and attachment indexes refer to Raw.
	//   - KindInline: From, To, Cc, Bcc, Reply-To, Date and Subject from the
	//     forwarded header block; Text is the original's text (below the
	//     block); HTML is the dropbox message's, the whole forward as sent
	//     (it has no reliable inner boundary); Attachments, Size and Hash
	//     are the dropbox message's (clients attach the original's
	//     attachments to the forward); MessageID, InReplyTo and References
	//     are empty.
	//   - KindNone: a copy of the dropbox message.
	// Its Warnings hold the parse warnings of the message it was read from,
	// followed by Extract's own.
	Original *mail.Message
	// Note is what the forwarder wrote above the original: for KindInline
	// the text above the original's header block (for a forward of a
	// forward, this includes the intermediate forwards as they appear), for
	// KindAttached the dropbox message's text. Empty for KindNone.
	Note string
	// Attachment is, for KindAttached, the dropbox message's attachment
	// that holds the original (its Index names it for mimeparse.Attachment).
	Attachment *mail.Attachment
	// Raw is, for KindAttached, the attached message as bytes.
	Raw []byte
	// Kept is the content of Original's attachments smaller than
	// Options.Parse.KeepAttachmentsUnder when Extract parsed the message
	// that holds them: always for KindAttached, and for the other kinds
	// when Extract was called without the parsed dropbox message.
	Kept []mimeparse.KeptAttachment
	// Warnings are Extract's findings that a user may need to know (a
	// sender without address, a date that could not be read...), also
	// appended to Original.Warnings.
	Warnings []string
}

// Extract finds the original message in a message delivered to a dropbox.
// raw is the message as delivered; outer is it as parsed by
// mimeparse.Parse (with the default MaxHeaderBytes, so that attachment
// indexes match mimeparse.Attachment's), or nil to have Extract parse raw
// with opts.Parse.
//
// Extract holds raw in memory: the dropbox bounds a message by its SMTP
// size limit. It never fails; what it cannot read is said in
// Result.Warnings, and at worst the message is returned as KindNone.
func Extract(raw []byte, outer *mail.Message, opts *Options) (res Result) {
	o := opts.withDefaults()
	var outerKept []mimeparse.KeptAttachment
	if outer == nil {
		// A bytes.Reader never fails to read, so neither does Parse.
		outer, outerKept, _ = mimeparse.Parse(bytes.NewReader(raw), o.Parse)
	}
	x := &extractor{outer: outer, opts: o}
	if recoverPanics {
		defer func() {
			if v := recover(); v != nil {
				x.warnings = nil
				x.warn("internal error while looking for a forwarded message; stored as received: %v", v)
				res = x.none(outerKept)
			}
		}()
	}
	if x.bccCopy() {
		return x.none(outerKept)
	}
	if r, ok := x.attached(raw); ok {
		return r
	}
	if r, ok := x.inline(); ok {
		r.Kept = outerKept
		return r
	}
	if subjectKind(outer.Subject) == forwardSubject {
		x.warn("the subject says forward, but no forwarded header or attached message was recognised; stored with the forward's own participants")
	}
	return x.none(outerKept)
}

// recoverPanics is turned off by the tests, so that a bug fails them with
// its stack trace.
var recoverPanics = true

type extractor struct {
	outer        *mail.Message
	opts         Options
	warnings     []string
	moreWarnings int
}

func (x *extractor) warn(format string, args ...any) {
	if len(x.warnings) >= maxWarnings {
		x.moreWarnings++
		return
	}
	x.warnings = append(x.warnings, fmt.Sprintf(format, args...))
}

// finish returns the warnings and appends them to m's.
func (x *extractor) finish(m *mail.Message) []string {
	w := x.warnings
	if x.moreWarnings > 0 {
		w = append(w, fmt.Sprintf("%d more forwarding warnings not shown", x.moreWarnings))
	}
	m.Warnings = append(slices.Clip(m.Warnings), w...)
	return w
}

func (x *extractor) none(kept []mimeparse.KeptAttachment) Result {
	m := *x.outer
	m.Warnings = slices.Clone(x.outer.Warnings)
	return Result{Kind: KindNone, Original: &m, Kept: kept, Warnings: x.finish(&m)}
}

// bccCopy reports whether the message reached the dropbox without naming
// it in To or Cc.
func (x *extractor) bccCopy() bool {
	if len(x.opts.Dropbox) == 0 {
		return false
	}
	for _, list := range [][]mail.Address{x.outer.To, x.outer.Cc} {
		for _, a := range list {
			for _, d := range x.opts.Dropbox {
				if strings.EqualFold(strings.TrimSpace(d), a.Email) {
					return false
				}
			}
		}
	}
	return true
}

// attached looks for an attached message (RFC 2046 section 5.2.1) and
// parses the first readable one.
func (x *extractor) attached(raw []byte) (Result, bool) {
	var res Result
	found, more := false, 0
	for i := range x.outer.Attachments {
		a := &x.outer.Attachments[i]
		name := strings.ToLower(a.Filename)
		if a.ContentType == "application/vnd.ms-outlook" || strings.HasSuffix(name, ".msg") {
			x.warn("attachment %q is an Outlook .msg file, which cannot be read; forward as an attachment in .eml format, or inline", a.Filename)
			continue
		}
		if a.ContentType != "message/rfc822" && a.ContentType != "message/global" && !strings.HasSuffix(name, ".eml") {
			continue
		}
		if found {
			more++
			continue
		}
		var buf bytes.Buffer
		if _, err := mimeparse.Attachment(bytes.NewReader(raw), a.Index, &buf); err != nil {
			x.warn("attached message %q could not be read: %v", a.Filename, err)
			continue
		}
		m, kept, _ := mimeparse.Parse(bytes.NewReader(buf.Bytes()), x.opts.Parse)
		if len(m.From) == 0 && len(m.To) == 0 && m.Date.IsZero() && m.Subject == "" && m.MessageID == "" {
			x.warn("attachment %q is not a message (no From, To, Date or Subject); ignored", a.Filename)
			continue
		}
		found = true
		res = Result{Kind: KindAttached, Original: m, Attachment: a, Raw: buf.Bytes(), Kept: kept,
			Note: strings.TrimSpace(x.outer.Text)}
		if m.Date.IsZero() {
			m.Date = x.outer.Date
			x.warn("the attached message has no readable date; the forward's date is used")
		}
		if len(m.From) == 0 {
			x.warn("the attached message has no sender")
		}
	}
	if !found {
		return Result{}, false
	}
	if more > 0 {
		x.warn("%d more attached messages not used: only the first is stored as the original", more)
	}
	res.Warnings = x.finish(res.Original)
	return res, true
}

// inline looks for a forwarded header block in the text body, then in the
// text derived from the HTML body.
func (x *extractor) inline() (Result, bool) {
	text := normalizeNewlines(x.outer.Text)
	d := newDoc(text, x.opts.MaxScanBytes)
	chain := d.forwardChain(x.outer.Subject)
	if len(chain) == 0 && x.outer.HTML != "" {
		if t := normalizeNewlines(htmlText(x.outer.HTML)); t != text && strings.TrimSpace(t) != "" {
			d = newDoc(t, x.opts.MaxScanBytes)
			chain = d.forwardChain(x.outer.Subject)
		}
	}
	if len(chain) == 0 {
		return Result{}, false
	}
	b := chain[len(chain)-1]
	out := x.outer
	m := &mail.Message{
		Subject:       b.value(fSubject),
		HTML:          out.HTML,
		HTMLTruncated: out.HTMLTruncated,
		TextTruncated: out.TextTruncated,
		Attachments:   out.Attachments,
		Size:          out.Size,
		Hash:          out.Hash,
		Warnings:      slices.Clone(out.Warnings),
	}
	m.Text = d.body(b)
	note := d.note(b)
	if !b.has(fSubject) {
		m.Subject = stripForwardPrefixes(out.Subject)
		x.warn("the forwarded header has no subject; the forward's subject is used")
	}
	m.From = x.addresses("From", b.value(fFrom))
	m.To = x.addresses("To", b.value(fTo))
	m.Cc = x.addresses("Cc", b.value(fCc))
	m.Bcc = x.addresses("Bcc", b.value(fBcc))
	m.ReplyTo = x.addresses("Reply-To", b.value(fReplyTo))
	if len(m.From) == 0 {
		x.warn("the forwarded header names no sender")
	}
	m.Date = x.date(b)
	return Result{Kind: KindInline, Original: m, Note: note, Warnings: x.finish(m)}, true
}

// addresses parses an address line of the forwarded header and warns about
// entries without an address.
func (x *extractor) addresses(field, v string) []mail.Address {
	list, dropped := parseAddressList(v)
	var names []string
	for _, a := range list {
		if a.Email == "" {
			names = append(names, a.Name)
		}
	}
	if len(names) > 0 {
		x.warn("forwarded header: %s %s has no email address (Outlook shows only the name of people in its address book); kept the name, which cannot be linked",
			field, quoteList(names))
	}
	if dropped > 0 {
		x.warn("forwarded header: %s lists more than %d addresses; the rest skipped", field, maxAddresses)
	}
	return list
}

func quoteList(names []string) string {
	if len(names) > 3 {
		return fmt.Sprintf("%q and %d more", names[:3], len(names)-3)
	}
	qs := make([]string, len(names))
	for i, n := range names {
		qs[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(qs, ", ")
}

// date reads the Date/Sent line of the block, in the dropbox message's
// zone when it names none.
func (x *extractor) date(b *block) time.Time {
	fallback := x.outer.Date
	loc, zone := time.UTC, "UTC"
	switch {
	case x.opts.Location != nil:
		loc, zone = x.opts.Location, x.opts.Location.String()
	case !fallback.IsZero():
		loc, zone = fallback.Location(), fallback.Format("-0700")
	}
	v := b.value(fDate)
	if !b.has(fDate) || strings.TrimSpace(v) == "" {
		x.warn("the forwarded header has no date; the forward's date is used")
		return fallback
	}
	pd, ok := parseDate(v, loc)
	if !ok {
		x.warn("forwarded header: date %q not understood; the forward's date is used", clip(v, 80))
		return fallback
	}
	if !pd.zone {
		x.warn("forwarded header: date %q has no time zone; read in %s", clip(v, 80), zone)
	}
	if pd.ambiguous {
		x.warn("forwarded header: date %q could be day/month or month/day; read as %s", clip(v, 80), pd.t.Format("2 January 2006"))
	}
	if !pd.clock {
		x.warn("forwarded header: date %q has no time of day; midnight assumed", clip(v, 80))
	}
	return pd.t
}

// htmlText derives text from an HTML body with mimeparse's converter: the
// same text an HTML-only message gets.
func htmlText(h string) string {
	var b bytes.Buffer
	b.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n")
	b.WriteString(h)
	m, _, _ := mimeparse.Parse(&b, nil)
	return m.Text
}

func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// clip shortens s for a warning, on a rune boundary, with plain spaces
// (%q would show macOS's U+202F as an escape).
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
