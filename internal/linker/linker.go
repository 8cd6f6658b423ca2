// Package linker holds the rules that tie an email to CRM records (DESIGN
// §6): which of its addresses count, which domains may name a company, and
// how an address's domain meets a company's (subdomains included). The
// store applies these rules in set-based queries, so that adding one
// contact or one company domain links its past emails in one statement
// rather than one per message.
package linker

import (
	"slices"
	"strings"
)

// Kinds of address that link an email: the people it is from, to, copied
// to, or asked to reply to. Sender (on behalf of) and Bcc do not: a Bcc
// copy links through its visible recipients.
var Kinds = []string{"from", "to", "cc", "reply_to"}

// Domain returns the domain of an address, lower-cased; "" if none.
func Domain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 || at == len(email)-1 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(email[at+1:], "."))
}

// Reverse writes a domain's labels backwards ("mail.globex.com" →
// "com.globex.mail"): a company domain and all its subdomains then share a
// prefix, which an index can find (a suffix match cannot use one).
func Reverse(domain string) string {
	labels := strings.Split(domain, ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

// Rules are an organisation's linking exclusions.
type Rules struct {
	freemail map[string]bool
	own      map[string]bool
}

// NewRules returns the rules for an organisation: the built-in free-mail
// list plus extra, and the organisation's own domains (mail between
// colleagues must not link their own company).
func NewRules(extraFreemail, own []string) *Rules {
	r := &Rules{freemail: map[string]bool{}, own: map[string]bool{}}
	for _, d := range FreemailDomains {
		r.freemail[d] = true
	}
	for _, d := range extraFreemail {
		r.freemail[strings.ToLower(d)] = true
	}
	for _, d := range own {
		r.own[strings.ToLower(d)] = true
	}
	return r
}

// CompanyDomain reports whether an address domain may link a company: not
// a free-mail provider (any of its parent domains either: "eu.gmx.net"),
// not the organisation's own.
func (r *Rules) CompanyDomain(domain string) bool {
	if domain == "" {
		return false
	}
	for d := domain; ; {
		if r.freemail[d] || r.own[d] {
			return false
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return true
		}
		d = d[i+1:]
	}
}

// IsFreemail reports whether domain (or a parent) is a free-mail provider.
func (r *Rules) IsFreemail(domain string) bool {
	for d := domain; ; {
		if r.freemail[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

// IsOwn reports whether domain (or a parent) is the organisation's.
func (r *Rules) IsOwn(domain string) bool {
	for d := domain; ; {
		if r.own[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}
