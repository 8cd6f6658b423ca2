// Package mailgen generates deterministic, realistic RFC 5322 messages for
// tests: message i of a seed is always the same bytes (for one Go release),
// so a test can generate 10,000 messages, load them into a server, and later
// regenerate any one of them to compare.
//
// The mail is what a CRM user's mailbox holds: correspondents from a few
// dozen companies, names with accents and in other scripts (RFC 2047
// encoded-words), threads (In-Reply-To, References, "Re:" subjects, quoted
// text), text/plain, multipart/alternative with HTML, multipart/mixed with
// small PDF and PNG attachments (some with RFC 2231 non-ASCII file names),
// dates spread over 2025 in several time zones, and a configurable fraction
// of deliberately malformed messages. Line ends are CRLF.
//
// The larger Python generator in the shared peers kit
// (/work/shared/peers/gen_mailbox.py) covers more exotic cases; this one
// stays small enough to read.
package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// DefaultMalformedRate is the fraction of malformed messages made by the
// package-level Generate and Message.
const DefaultMalformedRate = 0.01

// Kinds of deliberate damage, as returned by Generator.Malformation.
const (
	HeaderNoColon      = "header-no-colon"     // a header line without a colon
	BrokenCharset      = "broken-charset"      // unknown charset label, Latin-1 bytes
	TruncatedMultipart = "truncated-multipart" // cut inside an attachment, no closing boundary
)

var malformations = []string{HeaderNoColon, BrokenCharset, TruncatedMultipart}

// Generator makes the messages of one seed.
type Generator struct {
	Seed int64
	// MalformedRate is the fraction (0 to 1) of messages damaged on purpose.
	// Changing it changes only which messages are damaged.
	MalformedRate float64
	// Owner receives the mail; zero means "Alex Morgan <alex.morgan@crmsync.test>".
	Owner *mail.Address
}

// Generate returns messages 0..n-1 of seed with DefaultMalformedRate.
func Generate(seed int64, n int) [][]byte {
	return (&Generator{Seed: seed, MalformedRate: DefaultMalformedRate}).Generate(n)
}

// Message returns message i of seed with DefaultMalformedRate.
func Message(seed int64, i int) []byte {
	return (&Generator{Seed: seed, MalformedRate: DefaultMalformedRate}).Message(i)
}

// Generate returns messages 0..n-1.
func (g *Generator) Generate(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Message(i)
	}
	return out
}

// Independent random streams per message, so that a message's envelope can
// be recomputed (for the replies that quote it) without its body.
const (
	streamMeta = iota
	streamText
	streamMIME
	streamDamage
)

func (g *Generator) rng(i, stream int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.Seed), uint64(i)<<2|uint64(stream)))
}

// Malformation tells which damage message i carries, "" for none.
func (g *Generator) Malformation(i int) string {
	r := g.rng(i, streamDamage)
	if r.Float64() >= g.MalformedRate {
		return ""
	}
	return malformations[r.IntN(len(malformations))]
}

// MessageID returns the Message-ID of message i, with angle brackets.
func (g *Generator) MessageID(i int) string { return g.meta(i).messageID }

// meta is a message's envelope.
type meta struct {
	from, cc    person
	subject     string // without "Re: "
	date        time.Time
	messageID   string
	parent      int      // index of the message replied to, or -1
	references  []string // ancestors' Message-IDs, oldest first
	parentFrom  person
	parentDate  time.Time
	parentQuote string
}

// year is the span the dates fall in.
var year = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (g *Generator) meta(i int) meta {
	r := g.rng(i, streamMeta)
	m := meta{parent: -1}
	m.from = pick(r, people)
	m.cc = pick(r, people)
	if i > 0 && r.IntN(10) < 4 {
		// A reply to one of the 30 messages before it.
		m.parent = i - 1 - r.IntN(min(i, 30))
		p := g.meta(m.parent)
		m.subject = p.subject
		m.references = append(append([]string(nil), p.references...), p.messageID)
		if len(m.references) > 10 { // RFC 5322 3.6.4 allows trimming the middle
			m.references = append(m.references[:1], m.references[len(m.references)-9:]...)
		}
		m.date = p.date.Add(time.Duration(10+r.IntN(3*24*60)) * time.Minute)
		m.parentFrom, m.parentDate = p.from, p.date
		m.parentQuote = sentence(g.rng(m.parent, streamText))
	} else {
		m.subject = subject(r)
		m.date = year.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
	}
	m.date = m.date.Truncate(time.Second).In(pick(r, zones))
	m.messageID = fmt.Sprintf("<%d.%08x.%d@mail.%s>", m.date.Unix(), r.Uint32(), i, m.from.domain)
	return m
}

// Message returns message i.
func (g *Generator) Message(i int) []byte {
	m := g.meta(i)
	damage := g.Malformation(i)
	owner := g.Owner
	if owner == nil {
		owner = &mail.Address{Name: "Alex Morgan", Address: "alex.morgan@crmsync.test"}
	}
	text := body(g.rng(i, streamText), m, owner)
	r := g.rng(i, streamMIME)

	var b msgWriter
	b.header("Return-Path", "<"+m.from.addr.Address+">")
	b.header("Received", fmt.Sprintf("from mail.%s (mail.%s [192.0.2.%d]) by mx.crmsync.test with ESMTPS id %08X; %s",
		m.from.domain, m.from.domain, 1+i%250, r.Uint32(), m.date.Add(time.Duration(1+r.IntN(90))*time.Second).Format(time.RFC1123Z)))
	b.header("Date", m.date.Format(time.RFC1123Z))
	b.header("From", m.from.addr.String()) // encodes non-ASCII names (RFC 2047)
	b.header("To", owner.String())
	if r.IntN(4) == 0 && m.cc.addr.Address != m.from.addr.Address {
		b.header("Cc", m.cc.addr.String())
	}
	subj := m.subject
	if m.parent >= 0 {
		subj = "Re: " + subj
	}
	if damage == BrokenCharset {
		// An encoded-word in a charset nobody knows (holding Latin-1).
		b.header("Subject", "=?x-unknown-42?B?"+base64.StdEncoding.EncodeToString([]byte(latin1(subj)))+"?=")
	} else {
		b.header("Subject", mime.QEncoding.Encode("utf-8", subj))
	}
	if damage == HeaderNoColon {
		b.line("This line belongs to no header field")
	}
	b.header("Message-ID", m.messageID)
	if m.parent >= 0 {
		b.header("In-Reply-To", m.references[len(m.references)-1])
		b.header("References", strings.Join(m.references, " "))
	}
	b.header("X-Mailgen", fmt.Sprintf("seed=%d i=%d", g.Seed, i))
	b.header("MIME-Version", "1.0")

	switch {
	case damage == BrokenCharset:
		b.header("Content-Type", `text/plain; charset="x-unknown-42"`)
		b.header("Content-Transfer-Encoding", "8bit")
		b.line("")
		b.line(latin1(text))
	case damage == TruncatedMultipart || r.IntN(5) == 0:
		g.mixed(&b, r, i, text, damage == TruncatedMultipart)
	case r.IntN(9) < 5:
		alternative(&b, r, i, text)
	default:
		textPart(&b, text)
	}
	return b.Bytes()
}

// mixed writes multipart/mixed: the text, then one or two attachments. A
// truncated message stops inside its first attachment.
func (g *Generator) mixed(b *msgWriter, r *rand.Rand, i int, text string, truncate bool) {
	boundary := fmt.Sprintf("=_mixed_%d_%08x", i, r.Uint32())
	b.header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	b.line("")
	b.line("This is a multi-part message in MIME format.")
	b.line("--" + boundary)
	if r.IntN(2) == 0 {
		alternative(b, r, i, text)
	} else {
		textPart(b, text)
	}
	for n := 1 + r.IntN(2); n > 0; n-- {
		b.line("--" + boundary)
		name, ctype, data := attachment(r)
		b.header("Content-Type", mime.FormatMediaType(ctype, map[string]string{"name": name}))
		b.header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		b.header("Content-Transfer-Encoding", "base64")
		b.line("")
		enc := base64.StdEncoding.EncodeToString(data)
		if truncate {
			b.line(enc[:min(len(enc), 76*3+40)])
			return
		}
		for len(enc) > 76 {
			b.line(enc[:76])
			enc = enc[76:]
		}
		b.line(enc)
	}
	b.line("--" + boundary + "--")
}

func alternative(b *msgWriter, r *rand.Rand, i int, text string) {
	boundary := fmt.Sprintf("=_alt_%d_%08x", i, r.Uint32())
	b.header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
	b.line("")
	b.line("--" + boundary)
	textPart(b, text)
	b.line("--" + boundary)
	b.header("Content-Type", `text/html; charset="utf-8"`)
	b.header("Content-Transfer-Encoding", "quoted-printable")
	b.line("")
	b.qp(toHTML(text))
	b.line("--" + boundary + "--")
}

func textPart(b *msgWriter, text string) {
	b.header("Content-Type", `text/plain; charset="utf-8"`)
	b.header("Content-Transfer-Encoding", "quoted-printable")
	b.line("")
	b.qp(text)
}

// msgWriter builds a message with CRLF line ends.
type msgWriter struct{ bytes.Buffer }

func (b *msgWriter) line(s string) {
	b.WriteString(s)
	b.WriteString("\r\n")
}

func (b *msgWriter) header(name, value string) { b.line(name + ": " + value) }

// qp writes text quoted-printable (RFC 2045 6.7), lines ending in CRLF.
func (b *msgWriter) qp(text string) {
	w := quotedprintable.NewWriter(&b.Buffer)
	w.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	w.Close()
	b.WriteString("\r\n")
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// latin1 re-encodes text as ISO-8859-1 bytes ('?' where impossible), for
// a body whose charset label lies.
func latin1(s string) string {
	out := make([]byte, 0, len(s))
	for _, c := range s {
		switch {
		case c == '\n':
			out = append(out, '\r', '\n')
		case c < 0x100:
			out = append(out, byte(c))
		default:
			out = append(out, '?')
		}
	}
	return string(out)
}
