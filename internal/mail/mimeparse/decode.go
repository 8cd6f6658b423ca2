package mimeparse

import (
	"encoding/base64"
	"io"
	"slices"
)

// base64Reader decodes a base64 body (RFC 2045 section 6.8) leniently:
// line breaks and other white space are skipped, as the RFC requires, and so
// are characters outside the alphabet ("Any characters outside of the
// base64 alphabet are to be ignored in base64-encoded data"), which the
// standard decoder rejects, stopping the whole body. Padding ends a
// quantum, so concatenated base64 chunks decode too. invalid counts the
// skipped non-whitespace bytes so the caller can warn.
type base64Reader struct {
	src     io.Reader
	in      [4096]byte
	clean   []byte // alphabet characters waiting to form whole quanta
	out     []byte // decoded bytes not yet returned
	outBuf  []byte
	invalid int64
	err     error
}

// newBase64Reader returns a pooled decoder; release returns it.
func newBase64Reader(src io.Reader) *base64Reader {
	r := b64Readers.Get().(*base64Reader)
	if r.clean == nil {
		r.clean, r.outBuf = make([]byte, 0, 4096+4), make([]byte, 0, 3*(4096+4)/4+3)
	}
	r.src, r.clean, r.out, r.outBuf, r.invalid, r.err = src, r.clean[:0], nil, r.outBuf[:0], 0, nil
	return r
}

func (r *base64Reader) release() {
	r.src, r.out = nil, nil
	b64Readers.Put(r)
}

var b64Alphabet = func() (t [256]byte) {
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range a {
		t[a[i]] = 1
	}
	t['='] = 2
	for _, c := range []byte(" \t\r\n\f\v") {
		t[c] = 3
	}
	return t
}()

func (r *base64Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.src.Read(r.in[:])
		r.outBuf = r.outBuf[:0]
		clean := r.clean // a local: the hot loop must not store to r
		for _, c := range r.in[:n] {
			t := b64Alphabet[c]
			if t == 1 {
				clean = append(clean, c)
				continue
			}
			switch t {
			case 2: // padding: the quantum ends here (RFC 2045 6.8)
				r.clean = clean
				r.flush(true)
				clean = r.clean
			case 3:
			default:
				r.invalid++
			}
		}
		r.clean = clean
		if err != nil {
			r.flush(true)
			r.err = err
		} else {
			r.flush(false)
		}
		r.out = r.outBuf
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// flush decodes the whole quanta in clean, or everything when final (a
// padding character or the end of the data). A lone trailing character
// cannot encode a byte: it is dropped and counted as invalid.
func (r *base64Reader) flush(final bool) {
	k := len(r.clean)
	if !final {
		k -= k % 4
	} else if k%4 == 1 {
		r.invalid++
		k--
	}
	if k > 0 {
		need := base64.RawStdEncoding.DecodedLen(k)
		r.outBuf = slices.Grow(r.outBuf, need)
		dst := r.outBuf[len(r.outBuf) : len(r.outBuf)+need]
		// Only alphabet characters are in clean and k%4 != 1, so this
		// cannot fail; non-zero trailing bits are accepted (not Strict).
		n, _ := base64.RawStdEncoding.Decode(dst, r.clean[:k])
		r.outBuf = r.outBuf[:len(r.outBuf)+n]
	}
	rest := copy(r.clean, r.clean[k:])
	if final {
		rest = 0
	}
	r.clean = r.clean[:rest]
}

// qpReader decodes quoted-printable (RFC 2045 section 6.7) leniently: "="
// not followed by two hex digits is kept literally (rule 1 is often broken
// by senders that forget to encode "="), lines may be of any length, a
// soft line break may end in LF alone, and trailing white space at the end
// of a line is removed as rule 3 requires. The standard decoder instead
// fails on control bytes and on lines longer than its buffer. invalid
// counts the literal "=" kept.
type qpReader struct {
	src     io.Reader
	in      [4096]byte
	out     []byte
	outBuf  []byte
	ws      []byte // pending white space: dropped if the line ends here
	state   int
	hex     byte // value of the first hex digit of an escape
	hexc    byte // and the digit as written
	eqWS    int  // white space seen after "=" (a soft break with trailing space)
	invalid int64
	err     error
}

const (
	qpNormal = iota
	qpCR     // saw CR, waiting for LF
	qpEq     // saw "="
	qpEqHex  // saw "=" and one hex digit
	qpEqWS   // saw "=" then white space
	qpEqCR   // saw "=" (white space) CR
)

const qpMaxPendingWS = 1024

// newQPReader returns a pooled decoder; release returns it.
func newQPReader(src io.Reader) *qpReader {
	r := qpReaders.Get().(*qpReader)
	if r.outBuf == nil {
		r.outBuf = make([]byte, 0, 4096+qpMaxPendingWS+8)
	}
	r.src, r.out, r.outBuf, r.ws, r.state, r.eqWS, r.invalid, r.err = src, nil, r.outBuf[:0], r.ws[:0], qpNormal, 0, 0, nil
	return r
}

func (r *qpReader) release() {
	r.src, r.out = nil, nil
	qpReaders.Put(r)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f': // lower case is not allowed by RFC 2045 but common
		return c - 'a' + 10, true
	}
	return 0, false
}

func (r *qpReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.src.Read(r.in[:])
		r.outBuf = r.outBuf[:0]
		for _, c := range r.in[:n] {
			r.step(c)
		}
		if err != nil {
			r.end()
			r.err = err
		}
		r.out = r.outBuf
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *qpReader) flushWS() {
	r.outBuf = append(r.outBuf, r.ws...)
	r.ws = r.ws[:0]
}

func (r *qpReader) step(c byte) {
	for {
		switch r.state {
		case qpNormal:
			switch c {
			case '=':
				r.flushWS() // white space before a soft break is content
				r.state = qpEq
			case ' ', '\t':
				if len(r.ws) >= qpMaxPendingWS {
					r.flushWS()
				}
				r.ws = append(r.ws, c)
			case '\r':
				r.state = qpCR
			case '\n':
				r.ws = r.ws[:0] // rule 3: trailing white space is not content
				r.outBuf = append(r.outBuf, '\n')
			default:
				r.flushWS()
				r.outBuf = append(r.outBuf, c)
			}
			return
		case qpCR:
			r.state = qpNormal
			if c == '\n' {
				r.ws = r.ws[:0]
				r.outBuf = append(r.outBuf, '\r', '\n')
				return
			}
			r.flushWS()
			r.outBuf = append(r.outBuf, '\r') // a bare CR passes through
			continue
		case qpEq:
			if h, ok := unhex(c); ok {
				r.hex, r.hexc, r.state = h, c, qpEqHex
				return
			}
			switch c {
			case ' ', '\t':
				r.state, r.eqWS = qpEqWS, 1
				return
			case '\r':
				r.state = qpEqCR
				return
			case '\n': // soft line break
				r.state = qpNormal
				return
			}
			r.invalid++
			r.outBuf = append(r.outBuf, '=')
			r.state = qpNormal
			continue
		case qpEqHex:
			r.state = qpNormal
			if h, ok := unhex(c); ok {
				r.outBuf = append(r.outBuf, r.hex<<4|h)
				return
			}
			r.invalid++
			r.outBuf = append(r.outBuf, '=', r.hexc)
			continue
		case qpEqWS:
			switch c {
			case ' ', '\t':
				r.eqWS++
				if r.eqWS > qpMaxPendingWS { // not a soft break after all
					r.invalid++
					r.outBuf = append(r.outBuf, '=')
					r.state = qpNormal
					for ; r.eqWS > 0; r.eqWS-- {
						r.outBuf = append(r.outBuf, ' ')
					}
				}
				return
			case '\r':
				r.state = qpEqCR
				return
			case '\n':
				r.state = qpNormal
				return
			}
			r.invalid++
			r.outBuf = append(r.outBuf, '=')
			for ; r.eqWS > 0; r.eqWS-- {
				r.outBuf = append(r.outBuf, ' ')
			}
			r.state = qpNormal
			continue
		case qpEqCR:
			r.state = qpNormal
			if c == '\n' {
				return
			}
			continue // "=" CR without LF: treat as a soft break too
		}
	}
}

// end finishes the data: a trailing "=" is a soft break at the end of the
// body (as the standard library also accepts), trailing white space is
// dropped.
func (r *qpReader) end() {
	switch r.state {
	case qpCR:
		r.outBuf = append(r.outBuf, '\r')
	case qpEqHex:
		r.invalid++
		r.outBuf = append(r.outBuf, '=', r.hexc)
	}
	r.state = qpNormal
	r.ws = r.ws[:0]
}
