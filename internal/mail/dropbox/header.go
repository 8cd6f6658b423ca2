package dropbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"
)

// readHeader reads the header block from br, up to and including the empty
// line that ends it (RFC 5322 §2.1), or the whole message if it has no
// body. Lines may end in CRLF or a bare LF. The rest of the message stays
// in br. A header block over max bytes is errHeaderTooLarge.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	lineStart := 0
	for {
		chunk, err := br.ReadSlice('\n')
		hdr = append(hdr, chunk...)
		if len(hdr) > max {
			return nil, errHeaderTooLarge
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue // a long line: keep reading it
		case errors.Is(err, io.EOF):
			return hdr, nil
		case err != nil:
			return nil, err
		}
		if line := hdr[lineStart:]; bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
			return hdr, nil
		}
		lineStart = len(hdr)
	}
}

// addressParser decodes encoded words (RFC 2047) in any charset without
// converting them: only the addresses matter here.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// parseHeaderFrom returns the lower-cased addresses of the header block's
// From field (RFC 5322 §3.6.2). A message must have exactly one From field
// with at least one address: several From fields, one that does not parse
// or that names nobody are errors, since the sender could not be checked.
// Its messages are shown to the client.
func parseHeaderFrom(hdr []byte) ([]string, error) {
	var values []string
	inFrom := false
	for len(hdr) > 0 {
		var line []byte
		line, hdr, _ = bytes.Cut(hdr, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header block
		}
		if line[0] == ' ' || line[0] == '\t' {
			if inFrom { // folded (RFC 5322 §2.2.3): unfold
				values[len(values)-1] += string(line)
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		inFrom = ok && strings.EqualFold(strings.TrimRight(string(name), " \t"), "From")
		if inFrom {
			values = append(values, string(value))
		}
	}
	switch len(values) {
	case 0:
		return nil, errors.New("the message has no From header field")
	case 1:
	default:
		return nil, errors.New("the message has more than one From header field")
	}
	list, err := addressParser.ParseList(values[0])
	if err != nil {
		return nil, errors.New("the From header field cannot be read")
	}
	if len(list) == 0 {
		return nil, errors.New("the From header field names no address")
	}
	addrs := make([]string, len(list))
	for i, a := range list {
		addrs[i] = strings.ToLower(a.Address)
	}
	return addrs, nil
}

// receivedField is the trace field prepended to every delivered message
// (RFC 5321 §4.4), ending in CRLF:
//
//	Received: from client.example ([192.0.2.1])
//		by in.crm.example with ESMTPS
//		for <token@in.crm.example>; Mon, 2 Jan 2006 15:04:05 -0700
//
// The client's EHLO name is unverified; one that is not a plain domain
// name is left out, leaving the address literal. "for" is given only when
// a single address of the box was a recipient.
func receivedField(env Envelope, domain string, tlsOn bool) string {
	lit := addressLiteral(env.RemoteAddr)
	from := lit
	if helo := env.HeloName; isDomain(helo) {
		from = helo + " (" + lit + ")"
	}
	with := "ESMTP"
	if tlsOn {
		with = "ESMTPS" // RFC 3848
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s\r\n\tby %s with %s", from, domain, with)
	if len(env.Recipients) == 1 && isPrintable(env.Recipients[0]) {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", env.Recipients[0])
	}
	fmt.Fprintf(&b, "; %s\r\n", env.ReceivedAt.Format(time.RFC1123Z))
	return b.String()
}

// addressLiteral is RFC 5321 §4.1.3's form of the client's IP address:
// [192.0.2.1] or [IPv6:2001:db8::1].
func addressLiteral(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "[unknown]"
	case ip.To4() != nil:
		return "[" + ip.To4().String() + "]"
	default:
		return "[IPv6:" + ip.String() + "]"
	}
}

// isDomain reports whether s is a syntactically plain domain name (letters,
// digits, hyphens, dots; underscores tolerated), safe to copy into a header.
func isDomain(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// isPrintable reports whether s is printable ASCII without spaces or angle
// brackets, safe inside <...> in a header.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return s != ""
}
