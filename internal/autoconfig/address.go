package autoconfig

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// address is a parsed email address. domain is lower-case ASCII (an
// internationalised domain in its xn-- form), without a final dot; email is
// local@domain.
type address struct {
	email, local, domain string
}

// maxAddressLen is RFC 5321's limit on a path (256) with some room for a
// display name around it.
const maxAddressLen = 512

// parseAddress accepts "user@example.com" and also "Name <user@example.com>",
// since people paste either.
func parseAddress(s string) (address, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxAddressLen {
		return address{}, fmt.Errorf("%w: %q", ErrInvalidAddress, s)
	}
	m, err := mail.ParseAddress(s)
	if err != nil {
		return address{}, fmt.Errorf("%w: %q", ErrInvalidAddress, s)
	}
	at := strings.LastIndexByte(m.Address, '@')
	if at <= 0 {
		return address{}, fmt.Errorf("%w: %q", ErrInvalidAddress, s)
	}
	local := m.Address[:at]
	domain, err := asciiDomain(m.Address[at+1:])
	if err != nil {
		return address{}, fmt.Errorf("%w: %q: %v", ErrInvalidAddress, s, err)
	}
	return address{email: local + "@" + domain, local: local, domain: domain}, nil
}

// asciiDomain lower-cases name, converts its non-ASCII labels to their
// Punycode (xn--) form, and checks that the result is a host name with at
// least two labels whose last is not numeric (so not an IP address). It does
// not apply the full IDNA2008 mapping (that needs Unicode tables the standard
// library does not have): names typed in their usual, lower-case, NFC form
// convert correctly, which covers what people type.
func asciiDomain(name string) (string, error) {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if name == "" {
		return "", errors.New("empty domain")
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		if !utf8.ValidString(l) {
			return "", errors.New("domain is not valid UTF-8")
		}
		p, err := punycodeEncode(l)
		if err != nil {
			return "", err
		}
		labels[i] = "xn--" + p
	}
	name = strings.Join(labels, ".")
	if !isDomainName(name) {
		return "", errors.New("not a domain name")
	}
	return name, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isDomainName reports whether name (lower-case, no final dot) is a
// host name of at least two letter-digit-hyphen labels (RFC 1123 §2.1) whose
// last label is not all digits.
func isDomainName(name string) bool {
	if len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// cleanHost normalises a server host name taken from a file or a DNS record:
// lower case, no final dot. It returns "" unless the result is a domain name
// or an IP address.
func cleanHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if isDomainName(h) {
		return h
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() == "" {
		return ip.String()
	}
	return ""
}

// fqdn adds the final dot that keeps a resolver from trying search domains:
// "imap.example.com" must not become "imap.example.com.corp.internal".
func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// punycodeEncode encodes one label with Punycode, RFC 3492 §6.3 (the
// caller adds the xn-- prefix).
func punycodeEncode(label string) (string, error) {
	const (
		base        = 36
		tmin        = 1
		tmax        = 26
		initialBias = 72
		initialN    = 128
		maxInt      = 1<<31 - 1
	)
	runes := []rune(label)
	var out []byte
	for _, r := range runes {
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	digit := func(d int) byte {
		if d < 26 {
			return byte('a' + d)
		}
		return byte('0' + d - 26)
	}
	n, delta, bias := initialN, 0, initialBias
	for h < len(runes) {
		m := maxInt
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m - n) > (maxInt-delta)/(h+1) {
			return "", errors.New("punycode: overflow")
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
				if delta > maxInt-1 {
					return "", errors.New("punycode: overflow")
				}
			}
			if int(r) != n {
				continue
			}
			q := delta
			for k := base; ; k += base {
				t := k - bias
				if t < tmin {
					t = tmin
				} else if t > tmax {
					t = tmax
				}
				if q < t {
					break
				}
				out = append(out, digit(t+(q-t)%(base-t)))
				q = (q - t) / (base - t)
			}
			out = append(out, digit(q))
			bias = punycodeAdapt(delta, h+1, h == b)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return string(out), nil
}

// punycodeAdapt is the bias adaptation of RFC 3492 §6.1.
func punycodeAdapt(delta, numPoints int, first bool) int {
	const (
		base = 36
		tmin = 1
		tmax = 26
		skew = 38
		damp = 700
	)
	if first {
		delta /= damp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((base-tmin)*tmax)/2 {
		delta /= base - tmin
		k += base
	}
	return k + (base-tmin+1)*delta/(delta+skew)
}
