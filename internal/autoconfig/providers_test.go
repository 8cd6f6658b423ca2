package autoconfig

import (
	"strings"
	"testing"
)

// The table is data: check that every entry could be served as it is.
func TestProviderTable(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		if p.id == "" || p.name == "" {
			t.Errorf("entry %+v lacks an id or a name", p)
		}
		if len(p.domains)+len(p.subdomains)+len(p.mx) == 0 {
			t.Errorf("%s: matches nothing", p.name)
		}
		for _, d := range append(append(append([]string{}, p.domains...), p.subdomains...), p.mx...) {
			if !isDomainName(d) {
				t.Errorf("%s: %q is not a lower-case domain name", p.name, d)
			}
		}
		for _, e := range []endpoint{p.imap, p.smtp} {
			if cleanHost(e.host) != e.host || e.port < 1 || e.port > 65535 {
				t.Errorf("%s: bad endpoint %+v", p.name, e)
			}
			switch e.sec {
			case TLS, StartTLS:
			default:
				t.Errorf("%s: security %q: the table lists no unencrypted server", p.name, e.sec)
			}
			switch e.user {
			case UsernameEmail, UsernameLocalPart, UsernameOther:
			default:
				t.Errorf("%s: username form %q", p.name, e.user)
			}
		}
		switch p.auth {
		case AuthPassword, AuthAppPassword, AuthOAuth:
		default:
			t.Errorf("%s: auth %q", p.name, p.auth)
		}
		if p.auth != AuthPassword && p.hint == "" {
			t.Errorf("%s: needs %s but gives no hint", p.name, p.auth)
		}
		if p.hint != "" && !strings.HasSuffix(p.hint, ".") {
			t.Errorf("%s: hint is not a sentence: %q", p.name, p.hint)
		}
	}
}

func TestProviderByDomain(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"gmail.com":                    "imap.gmail.com",
		"googlemail.com":               "imap.gmail.com",
		"hotmail.co.uk":                "outlook.office365.com",
		"live.fr":                      "outlook.office365.com",
		"msn.com":                      "outlook.office365.com",
		"contoso.onmicrosoft.com":      "outlook.office365.com",
		"contoso.mail.onmicrosoft.com": "outlook.office365.com",
		"yahoo.fr":                     "imap.mail.yahoo.com",
		"ymail.com":                    "imap.mail.yahoo.com",
		"me.com":                       "imap.mail.me.com",
		"gmx.de":                       "imap.gmx.net",
		"gmx.fr":                       "imap.gmx.com",
		"web.de":                       "imap.web.de",
		"wanadoo.fr":                   "imap.orange.fr",
		"free.fr":                      "imap.free.fr",
		"libero.it":                    "imapmail.libero.it",
		"telia.com":                    "imap.telia.com",
		"aol.com":                      "imap.aol.com",
		"zoho.com":                     "imap.zoho.com",
		"fastmail.com":                 "imap.fastmail.com",
		"proton.me":                    "127.0.0.1",
		"bk.ru":                        "imap.mail.ru",
		"ya.ru":                        "imap.yandex.com",
		"example.com":                  "",
		"onmicrosoft.com":              "",
		"notgmail.com":                 "",
		"mail.gmail.com":               "",
	}
	for domain, want := range tests {
		got := ""
		if p := providerByDomain(domain); p != nil {
			got = p.imap.host
		}
		if got != want {
			t.Errorf("providerByDomain(%s) IMAP host %q; want %q", domain, got, want)
		}
	}
}
