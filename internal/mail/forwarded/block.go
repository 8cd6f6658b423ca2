package forwarded

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// field is a line of a forwarded header block.
type field uint8

const (
	fNone field = iota
	fFrom
	fTo
	fCc
	fBcc
	fReplyTo
	fDate
	fSubject
	fOther // a known label that is not kept ("Importance:", "Attachments:")
	nFields
)

func (f field) isAddress() bool { return f >= fFrom && f <= fReplyTo }

// labels maps a lower-cased header label, as clients write it in the
// forwarded block, to its field. Gmail localizes only some labels (German
// Gmail writes "Von:" but "Date:", "Subject:", "To:"), so every label is
// accepted in every block.
var labels = map[string]field{
	// English (Gmail, Outlook, Apple Mail, Thunderbird)
	"from": fFrom, "to": fTo, "cc": fCc, "bcc": fBcc, "reply-to": fReplyTo,
	"date": fDate, "sent": fDate, "subject": fSubject,
	// French: Outlook "De :", "Envoyé :", "À :", "Objet :"; Thunderbird "Pour :", "Sujet :"
	"de": fFrom, "à": fTo, "a": fTo, "pour": fTo, "cci": fBcc, "copie": fCc, "copie à": fCc,
	"répondre à": fReplyTo, "envoyé": fDate, "envoyé le": fDate, "objet": fSubject, "sujet": fSubject,
	// German: Outlook "Von:", "Gesendet:", "An:", "Betreff:"; Apple/Thunderbird "Datum:"
	"von": fFrom, "an": fTo, "kopie": fCc, "kopie (cc)": fCc, "blindkopie": fBcc, "blindkopie (bcc)": fBcc, "antwort an": fReplyTo,
	"gesendet": fDate, "datum": fDate, "betreff": fSubject,
	// Spanish, Italian, Dutch, Portuguese (Outlook and Gmail)
	"para": fTo, "da": fFrom, "van": fFrom, "aan": fTo, "enviado": fDate, "fecha": fDate,
	"inviato": fDate, "data": fDate, "verzonden": fDate, "asunto": fSubject, "oggetto": fSubject,
	"onderwerp": fSubject, "assunto": fSubject,
	// Lines some clients add to the block, skipped.
	"importance": fOther, "wichtigkeit": fOther, "priority": fOther, "priorité": fOther,
	"attachments": fOther, "pièces jointes": fOther, "anlagen": fOther, "organization": fOther,
	"organisation": fOther, "newsgroups": fOther, "references": fOther,
	"références": fOther, "message-id": fOther,
}

// marker is the kind of separator line above a header block.
type marker uint8

const (
	noMarker marker = iota
	// ambiguousMarker: Outlook's separators, which it also writes above a
	// quoted reply.
	ambiguousMarker
	// forwardMarker: a separator only forwards have.
	forwardMarker
)

// markers are separator lines, lower-cased, without surrounding dashes,
// white space and trailing colon.
var markers = map[string]marker{
	// Gmail, Thunderbird
	"forwarded message": forwardMarker, "message transféré": forwardMarker,
	"weitergeleitete nachricht": forwardMarker, "mensaje reenviado": forwardMarker,
	"messaggio inoltrato": forwardMarker, "doorgestuurd bericht": forwardMarker,
	"mensagem encaminhada": forwardMarker,
	// Apple Mail
	"begin forwarded message": forwardMarker, "début du message réexpédié": forwardMarker,
	"anfang der weitergeleiteten nachricht": forwardMarker, "inicio del mensaje reenviado": forwardMarker,
	"inizio messaggio inoltrato": forwardMarker, "begin doorgestuurd bericht": forwardMarker,
	// Outlook, plain-text composition
	"original message": ambiguousMarker, "message d'origine": ambiguousMarker,
	"ursprüngliche nachricht": ambiguousMarker, "mensaje original": ambiguousMarker,
	"messaggio originale": ambiguousMarker, "oorspronkelijk bericht": ambiguousMarker,
}

const (
	maxBlockLines = 40   // lines of one header block
	maxLabel      = 32   // bytes before the colon of a header line
	maxValue      = 8192 // bytes kept of one header value
)

// line is one line of the scanned text.
type line struct {
	start, end int    // byte offsets in doc.text; end excludes the newline
	clean      string // without quote marks and surrounding white space
	depth      int    // number of leading ">" quote marks
	soft       bool   // ends with a space: a format=flowed soft break (RFC 3676)
}

// doc is the text searched for a forwarded header block.
type doc struct {
	text  string
	lines []line // of the first MaxScanBytes of text
}

func newDoc(text string, limit int) *doc {
	d := &doc{text: text}
	scan := text
	if len(scan) > limit {
		scan = scan[:limit]
		if i := strings.LastIndexByte(scan, '\n'); i >= 0 {
			scan = scan[:i]
		}
	}
	d.lines = make([]line, 0, strings.Count(scan, "\n")+1)
	for start := 0; start <= len(scan); {
		end := strings.IndexByte(scan[start:], '\n')
		if end < 0 {
			end = len(scan)
		} else {
			end += start
		}
		s := scan[start:end]
		c, depth := cleanLine(s)
		d.lines = append(d.lines, line{start: start, end: end, clean: c, depth: depth,
			soft: strings.HasSuffix(s, " ")})
		start = end + 1
	}
	return d
}

// cleanLine removes quote marks ("> ", RFC 3676 section 4.5 style and the
// indentation Apple Mail uses) and surrounding white space.
func cleanLine(s string) (string, int) {
	depth := 0
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if !strings.HasPrefix(s, ">") {
			break
		}
		depth++
		s = s[1:]
	}
	return strings.TrimRightFunc(s, unicode.IsSpace), depth
}

// labelOf splits a header line ("From: x", "*From:* x", "Objet : x") into
// its field and value.
func labelOf(s string) (field, string, bool) {
	s = strings.TrimLeft(s, "*_")
	head := s
	if len(head) > maxLabel+4 {
		head = head[:maxLabel+4]
	}
	i := strings.IndexByte(head, ':')
	if i <= 0 {
		return fNone, "", false
	}
	lab := strings.TrimFunc(s[:i], func(r rune) bool { return unicode.IsSpace(r) || r == '*' || r == '_' })
	if lab == "" || len(lab) > maxLabel {
		return fNone, "", false
	}
	f, ok := labels[strings.ToLower(lab)]
	if !ok {
		return fNone, "", false
	}
	v := strings.TrimLeft(s[i+1:], "*")
	v = strings.TrimFunc(v, unicode.IsSpace)
	if strings.HasPrefix(v, "//") { // "data://", "a://": a URL, not a label
		return fNone, "", false
	}
	return f, v, true
}

// markerOf recognises a separator line.
func markerOf(s string) marker {
	if len(s) >= 10 && strings.Trim(s, "_") == "" {
		return ambiguousMarker // Outlook's line of 32 underscores
	}
	if len(s) > 80 {
		return noMarker
	}
	t := strings.Trim(s, "-_*= \t\u00a0")
	t = strings.TrimRightFunc(t, unicode.IsSpace)
	t = strings.TrimSuffix(t, ":")
	t = strings.TrimRightFunc(t, unicode.IsSpace)
	t = strings.ToLower(strings.ReplaceAll(t, "\u2019", "'"))
	return markers[t]
}

// block is a forwarded header block.
type block struct {
	start, end int // line indexes: its marker (or first header line), and the line after its last
	marker     marker
	depth      int // quote depth of its first header line
	seen       [nFields]bool
	values     [nFields]string
}

func (b *block) has(f field) bool      { return b.seen[f] }
func (b *block) value(f field) string  { return b.values[f] }
func (b *block) any() bool             { return b.seen != [nFields]bool{} }
func (b *block) set(f field, v string) { b.seen[f], b.values[f] = true, clipValue(v) }
func (b *block) add(f field, v string) { b.values[f] = clipValue(b.values[f] + " " + v) }
func clipValue(v string) string {
	if len(v) <= maxValue {
		return v
	}
	n := maxValue
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}

// valid says whether the lines read make a forwarded header: a sender and,
// depending on how sure the separator makes us, more.
func (b *block) valid() bool {
	if strings.TrimSpace(b.values[fFrom]) == "" {
		return false
	}
	switch b.marker {
	case forwardMarker:
		return b.seen[fDate] || b.seen[fSubject] || b.seen[fTo]
	case ambiguousMarker:
		return b.seen[fDate] || b.seen[fSubject]
	}
	// No separator (Outlook's HTML and its text rendering): Outlook always
	// writes From, Sent, To and Subject.
	return b.seen[fDate] && (b.seen[fTo] || b.seen[fSubject])
}

// parseBlock reads header lines from line i on.
func (d *doc) parseBlock(i int, m marker) (block, bool) {
	b := block{start: i, marker: m, depth: d.lines[i].depth}
	last := fNone
	for j := i; j < len(d.lines) && j-i < maxBlockLines; j++ {
		ln := &d.lines[j]
		if ln.clean == "" {
			// A blank line ends the block, unless the next line is a header
			// line not seen yet (clients that make each line a paragraph).
			if b.any() && j+1 < len(d.lines) {
				if f, _, ok := labelOf(d.lines[j+1].clean); ok && f != fOther && !b.seen[f] {
					continue
				}
			}
			break
		}
		if f, v, ok := labelOf(ln.clean); ok {
			if f != fOther && b.seen[f] {
				break // a second From: another block begins
			}
			if f != fOther {
				b.set(f, v)
			}
			last, b.end = f, j+1
			continue
		}
		if !b.any() || last == fNone || last == fOther {
			break
		}
		// A continuation: a long recipient list wrapped onto the next line,
		// or a value cut by a format=flowed soft break.
		prev := d.lines[j-1]
		v := b.values[last]
		wrapped := last.isAddress() && (strings.HasSuffix(v, ",") || strings.HasSuffix(v, ";") || looksLikeAddresses(ln.clean))
		if !wrapped && !(prev.soft && prev.clean != "") {
			break
		}
		b.add(last, ln.clean)
		b.end = j + 1
	}
	if b.end == 0 || !b.valid() {
		return block{}, false
	}
	return b, true
}

// nextBlock finds the first forwarded header block at or after line from.
func (d *doc) nextBlock(from int) (block, bool) {
	for i := from; i < len(d.lines); i++ {
		c := d.lines[i].clean
		if c == "" {
			continue
		}
		if m := markerOf(c); m != noMarker {
			j := i + 1
			for k := 0; k < 2 && j < len(d.lines) && d.lines[j].clean == ""; k++ {
				j++ // Apple Mail leaves an empty line after its marker
			}
			if j < len(d.lines) {
				if b, ok := d.parseBlock(j, m); ok {
					b.start = i
					return b, true
				}
			}
			continue
		}
		if f, _, ok := labelOf(c); ok && f == fFrom {
			if b, ok := d.parseBlock(i, noMarker); ok {
				return b, true
			}
		}
	}
	return block{}, false
}

// forwardChain returns the forwarded header blocks from the outermost to
// the original's. subject is the dropbox message's.
func (d *doc) forwardChain(subject string) []*block {
	var chain []*block
	pos := 0
	for len(chain) < maxNesting {
		b, ok := d.nextBlock(pos)
		if !ok {
			break
		}
		switch subjectKind(subject) {
		case replySubject:
			return chain // a reply: what is below is its quoted history
		case plainSubject:
			// Outlook's separators are also above quoted replies. For the
			// outermost block, accept them: the user forwarded and removed
			// "FW:" (a BCC copy is recognised by Options.Dropbox). Below
			// it, only a sure forward marker goes deeper.
			if len(chain) > 0 && b.marker != forwardMarker {
				return chain
			}
		}
		chain = append(chain, &b)
		subject, pos = b.value(fSubject), b.end
		if !b.seen[fSubject] {
			subject = ""
		}
	}
	return chain
}

// body is the original's text: the lines after block b, with b's quote
// marks removed.
func (d *doc) body(b *block) string {
	start := len(d.text)
	if b.end < len(d.lines) {
		start = d.lines[b.end].start
	} else if last := d.lines[len(d.lines)-1]; last.end < len(d.text) {
		start = last.end + 1
	}
	s := d.text[start:]
	if b.depth > 0 {
		var out strings.Builder
		out.Grow(len(s))
		for len(s) > 0 {
			ln := s
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				ln, s = s[:i+1], s[i+1:]
			} else {
				s = ""
			}
			out.WriteString(unquote(ln, b.depth))
		}
		s = out.String()
	}
	return strings.TrimRightFunc(trimBlankLines(s), unicode.IsSpace)
}

// note is the text above block b.
func (d *doc) note(b *block) string {
	return strings.TrimSpace(d.text[:d.lines[b.start].start])
}

// unquote removes up to depth quote marks ("> ") from the start of s.
func unquote(s string, depth int) string {
	t := s
	for n := 0; n < depth; n++ {
		u := strings.TrimLeft(t, " \t")
		if !strings.HasPrefix(u, ">") {
			break
		}
		t = strings.TrimPrefix(u[1:], " ")
	}
	return t
}

// trimBlankLines removes the empty lines at the start of s, keeping the
// indentation of its first line.
func trimBlankLines(s string) string {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 || strings.TrimSpace(s[:i]) != "" {
			return s
		}
		s = s[i+1:]
	}
}
