package autoconfig

import "testing"

func TestParseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                   string
		email, local, domain string
	}{
		{"bob@example.com", "bob@example.com", "bob", "example.com"},
		{"  Bob.Smith@Example.COM ", "Bob.Smith@example.com", "Bob.Smith", "example.com"},
		{"Bob Smith <bob@example.com>", "bob@example.com", "bob", "example.com"},
		{"bob+crm@mail.example.co.uk", "bob+crm@mail.example.co.uk", "bob+crm", "mail.example.co.uk"},
		{"bob@bücher.de", "bob@xn--bcher-kva.de", "bob", "xn--bcher-kva.de"},
		{"bob@MÜNCHEN.de", "bob@xn--mnchen-3ya.de", "bob", "xn--mnchen-3ya.de"},
		{"bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de", "bob", "xn--bcher-kva.de"},
	}
	for _, tt := range tests {
		a, err := parseAddress(tt.in)
		if err != nil {
			t.Errorf("parseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.email != tt.email || a.local != tt.local || a.domain != tt.domain {
			t.Errorf("parseAddress(%q) = %+v; want %q %q %q", tt.in, a, tt.email, tt.local, tt.domain)
		}
	}
}

func TestPunycode(t *testing.T) {
	t.Parallel()
	// RFC 3492 §7.1 (B) and well-known names.
	tests := map[string]string{
		"bücher":    "bcher-kva",
		"münchen":   "mnchen-3ya",
		"他们为什么不说中文": "ihqwcrb4cv8a8dqg056pqjye",
		"ü":         "tda",
		"ñandú":     "and-6ma2c", // checked with Python's punycode codec
	}
	for in, want := range tests {
		got, err := punycodeEncode(in)
		if err != nil || got != want {
			t.Errorf("punycodeEncode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
