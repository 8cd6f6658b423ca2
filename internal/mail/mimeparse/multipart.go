package mimeparse

import (
	"bufio"
	"bytes"
	"io"
)

// The multipart splitter follows the algorithm of go-message's textproto
// (itself the standard library's mime/multipart): the part body is
// returned up to the next "\n--boundary" found in a bufio.Reader's buffer,
// holding back only what could be the start of a delimiter. So memory per
// nesting level is one buffer, whatever the size of the parts. It differs
// in being lenient where those stop for good:
//
//   - part headers are read with a size limit (go-message has none for
//     parts) and malformed header lines are dropped, not fatal;
//   - a delimiter may end in CRLF or LF, mixed in one message;
//   - junk between a part's end and the next delimiter is skipped;
//   - a missing close delimiter (a truncated message) ends the last part
//     at the end of the data and is reported as truncated.
//
// RFC 2046 section 5.1.1: a delimiter is CRLF "--" boundary, optional
// white space and CRLF; the close delimiter adds "--" after the boundary.

// mpBufSize is the read buffer of one multipart level. It must exceed the
// longest delimiter we accept (maxBoundaryLen + 4).
const (
	mpBufSize      = 8192
	maxBoundaryLen = 1000 // RFC 2046 says 70; be generous, but bounded
)

type multipartReader struct {
	br      *bufio.Reader
	dashB   []byte // "--" boundary
	nlDashB []byte // "\n--" boundary
	cur     *mpPart
	parts   int
	closed  bool // the close delimiter was seen
	done    bool
	ioErr   error // a read error other than io.EOF
	maxHead int

	// keepPreamble > 0 keeps up to that many bytes of the preamble until
	// the first delimiter: if none comes (a boundary that does not match),
	// the caller shows it as text rather than lose the whole body.
	keepPreamble int
	preamble     []byte
}

// newMultipartReader splits r; release returns its pooled buffer.
func newMultipartReader(r io.Reader, boundary string, maxHeader int) *multipartReader {
	b := []byte("\n--" + boundary)
	br := partReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return &multipartReader{
		br:      br,
		dashB:   b[1:],
		nlDashB: b,
		maxHead: maxHeader,
	}
}

func (m *multipartReader) release() {
	m.br.Reset(nil)
	partReaders.Put(m.br)
	m.br, m.cur = nil, nil
}

// delimiter kinds
const (
	notDelim = iota
	partDelim
	closeDelim
)

// classify says whether line (the start of a line) is a delimiter. The
// boundary must be followed by white space, a line end, "-" or the end of
// the data: "--foobar" is not a delimiter of boundary "foo" (RFC 2046
// requires that no boundary be a prefix of another's delimiter line, and
// real mail nests boundaries that way).
func (m *multipartReader) classify(line []byte) int {
	if !bytes.HasPrefix(line, m.dashB) {
		return notDelim
	}
	rest := line[len(m.dashB):]
	if len(rest) == 0 {
		return partDelim
	}
	switch rest[0] {
	case '-':
		if len(rest) >= 2 && rest[1] == '-' {
			return closeDelim
		}
		return partDelim
	case ' ', '\t', '\r', '\n':
		return partDelim
	}
	return notDelim
}

// nextPart skips to the next delimiter and returns the part after it with
// its raw header block. At the end (close delimiter or end of data) it
// returns io.EOF; closed then tells whether the close delimiter was seen.
// Any other error is a read error of the underlying data.
func (m *multipartReader) nextPart() (*mpPart, rawHeader, error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil {
			m.ioErr = err
		}
		m.cur = nil
	}
	if m.ioErr != nil {
		return nil, rawHeader{}, m.ioErr
	}
	if m.done {
		return nil, rawHeader{}, io.EOF
	}
	for {
		line, err := m.br.ReadSlice('\n')
		kind := m.classify(line)
		if kind == notDelim {
			m.capture(line)
		}
		for err == bufio.ErrBufferFull { // an over-long line: skip the rest of it
			line, err = m.br.ReadSlice('\n')
			if kind == notDelim {
				m.capture(line)
			}
		}
		if kind == closeDelim {
			m.closed, m.done = true, true
			return nil, rawHeader{}, io.EOF
		}
		if kind == partDelim {
			m.parts++
			m.keepPreamble = 0
			h, herr := readHeaderBlock(m.br, m.maxHead, m.atDelimiter)
			if herr != nil && herr != io.EOF {
				m.ioErr = herr
				return nil, h, herr
			}
			m.cur = &mpPart{m: m}
			return m.cur, h, nil
		}
		if err != nil {
			m.done = true
			if err != io.EOF {
				m.ioErr = err
				return nil, rawHeader{}, err
			}
			return nil, rawHeader{}, io.EOF
		}
		// A preamble line (RFC 2046: to be ignored), or junk after a part.
	}
}

func (m *multipartReader) capture(line []byte) {
	if m.parts == 0 && len(m.preamble) < m.keepPreamble {
		m.preamble = append(m.preamble, line[:min(len(line), m.keepPreamble-len(m.preamble))]...)
	}
}

// atDelimiter reports whether the next line is a delimiter: a part whose
// header runs into the next delimiter without an empty line.
func (m *multipartReader) atDelimiter(br *bufio.Reader) bool {
	pk, _ := br.Peek(len(m.dashB) + 2)
	return m.classify(pk) != notDelim
}

// mpPart reads one part's body, raw (transfer-encoded).
type mpPart struct {
	m         *multipartReader
	total     int64 // bytes returned so far
	n         int   // bytes known to be body data, waiting in the buffer
	eof       bool  // the underlying data ended
	ended     bool  // no more body data after n
	truncated bool  // ended by the end of the data, not a delimiter
	ioErr     error
}

func (p *mpPart) Read(d []byte) (int, error) {
	br := p.m.br
	for p.n == 0 && !p.ended {
		peek, _ := br.Peek(br.Buffered())
		n, found := scanBody(peek, p.m.dashB, p.m.nlDashB, p.total == 0, p.eof)
		switch {
		case found:
			p.n, p.ended = n, true
		case n > 0:
			p.n = n
		case p.eof:
			// Only part of a delimiter is left at the end of the data.
			p.ended, p.truncated = true, true
			if len(peek) > 0 {
				br.Discard(len(peek))
			}
		default:
			if _, err := br.Peek(len(peek) + 1); err != nil {
				if err == bufio.ErrBufferFull { // cannot happen with bounded boundaries; never spin
					p.n = len(peek)
				} else {
					p.eof = true
					if err != io.EOF {
						p.ioErr = err
					}
				}
			}
		}
	}
	if p.n == 0 {
		if p.ioErr != nil {
			return 0, p.ioErr
		}
		return 0, io.EOF
	}
	if len(d) > p.n {
		d = d[:p.n]
	}
	n, _ := br.Read(d)
	p.total += int64(n)
	p.n -= n
	return n, nil
}

// scanBody returns how many bytes at the start of buf are certainly part
// body, and whether a delimiter follows them. A CR before the delimiter's
// LF belongs to the delimiter (RFC 2046: "the CRLF preceding the boundary
// delimiter line is conceptually attached to the boundary"). At the start
// of a body the delimiter may come without a line end: an empty body.
// eof says no more data will come after buf.
func scanBody(buf, dashB, nlDashB []byte, atStart, eof bool) (int, bool) {
	if atStart {
		if bytes.HasPrefix(buf, dashB) {
			switch matchAfter(buf, len(dashB), eof) {
			case +1:
				return 0, true
			case 0:
				return 0, false
			}
		} else if !eof && bytes.HasPrefix(dashB, buf) {
			return 0, false
		}
	}
	for off := 0; ; {
		i := bytes.Index(buf[off:], nlDashB)
		if i < 0 {
			break
		}
		i += off
		switch matchAfter(buf[i:], len(nlDashB), eof) {
		case +1:
			return trimCR(buf, i), true
		case 0:
			return trimCR(buf, i), false
		}
		off = i + 1
	}
	if eof {
		return len(buf), false
	}
	// Hold back what may be the start of a delimiter.
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 && bytes.HasPrefix(nlDashB, buf[i:]) {
		return trimCR(buf, i), false
	}
	if len(buf) > 0 && buf[len(buf)-1] == '\r' {
		return len(buf) - 1, false
	}
	return len(buf), false
}

func trimCR(buf []byte, i int) int {
	if i > 0 && buf[i-1] == '\r' {
		return i - 1
	}
	return i
}

// matchAfter decides whether buf, which starts with a delimiter prefix of
// length n, is a delimiter: +1 yes, -1 no, 0 need more data.
func matchAfter(buf []byte, n int, eof bool) int {
	if len(buf) == n {
		if eof {
			return +1
		}
		return 0
	}
	switch buf[n] {
	case ' ', '\t', '\r', '\n', '-':
		return +1
	}
	return -1
}
