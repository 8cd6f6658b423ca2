package crm

import (
	"errors"
	"net/mail"
	"strings"
)

// isIPAddress reports whether a domain is an IP address written as one:
// dotted numbers ("1.2.3.4", "127.1") or a bracketed literal. No
// top-level domain is all digits (RFC 3696 §2), so such a name is never a
// domain people mail or a company owns.
func isIPAddress(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if strings.HasPrefix(d, "[") {
		return true
	}
	tld := d[strings.LastIndexByte(d, '.')+1:]
	if tld == "" {
		return false
	}
	for _, c := range tld {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// NormalizeEmail trims and lower-cases an address and checks it is a bare
// address (no display name). Emails are compared case-insensitively
// everywhere in crmsync: in practice no provider treats the local part as
// case-sensitive, and linking must not miss "John.Doe@" for "john.doe@".
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("must not be empty")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errors.New("must be a plain email address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", errors.New("must be a plain email address like name@example.com")
	}
	if d := s[at+1:]; strings.HasPrefix(d, "[") || isIPAddress(d) {
		return "", errors.New("must be on a domain name, not an IP address, like name@example.com")
	}
	if _, err := NormalizeDomain(s[at+1:]); err != nil {
		return "", errors.New("has an invalid domain after the @")
	}
	return strings.ToLower(s), nil
}

// NormalizeDomain lower-cases a domain, drops a leading "@" or "www." and a
// trailing dot, and checks its shape. "https://Example.com/" is accepted as
// "example.com": that is how people paste a company's web site.
func NormalizeDomain(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "https://")
	s = strings.TrimPrefix(s, "http://")
	s = strings.TrimSuffix(s, "/")
	s = strings.TrimPrefix(s, "@")
	s = strings.TrimPrefix(s, "www.")
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") || isIPAddress(s) {
		return "", errors.New("must be a domain name like example.com")
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("must be a domain name like example.com")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c > 127) {
				return "", errors.New("must be a domain name like example.com")
			}
		}
	}
	return s, nil
}
