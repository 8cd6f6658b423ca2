package web

import (
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
)

// The routes register without conflicts and the templates parse (New
// panics otherwise).
func TestMailRoutesRegister(t *testing.T) {
	New(Config{})
}

// A server field's values survive the round trip through the form, and
// SSL off means STARTTLS, never an unencrypted login.
func TestServerForm(t *testing.T) {
	f := formOf(&crm.ServerSettings{Host: "imap.example.com", Port: 993, Security: "tls", Username: "ann"})
	if f.key() != "imap.example.com|993|true|ann" {
		t.Errorf("key %q", f.key())
	}
	r := serverForm{Host: "h", Port: "143", SSL: false}.request()
	if r.Security != "starttls" || r.Port != 143 {
		t.Errorf("request %+v", r)
	}
	if r := (serverForm{Host: "h", Port: "x"}).request(); r.Port != -1 {
		t.Errorf("a port that is not a number must be refused, not defaulted: %+v", r)
	}
	if (serverForm{}).request() != nil {
		t.Error("no host, no server")
	}
}

// Every connector code has words in every language (the banners).
func TestMailCodesTranslated(t *testing.T) {
	for _, code := range []string{"auth_failed", "provider_blocked", "unreachable", "tls_error", "throttled", "protocol", "gone",
		"cursor_invalid", "quota_exceeded", "destination_not_allowed"} {
		for _, lang := range i18n.Langs {
			if got := i18n.For(lang).Coded(code, "FALLBACK"); got == "FALLBACK" || got == "" {
				t.Errorf("%s: code.%s has no words", lang, code)
			}
		}
	}
}
