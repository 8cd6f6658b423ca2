package linker

import "testing"

func TestRules(t *testing.T) {
	r := NewRules([]string{"Local-ISP.example"}, []string{"acme.example"})
	for _, tc := range []struct {
		domain string
		ok     bool
	}{
		{"globex.com", true},
		{"eu.globex.com", true},
		{"gmail.com", false},
		{"googlemail.com", false},
		{"mail.yahoo.fr", false}, // a subdomain of a provider is the provider
		{"local-isp.example", false},
		{"sub.local-isp.example", false},
		{"acme.example", false},
		{"sales.acme.example", false},
		{"", false},
	} {
		if got := r.CompanyDomain(tc.domain); got != tc.ok {
			t.Errorf("CompanyDomain(%q) = %v, want %v", tc.domain, got, tc.ok)
		}
	}
	if Domain("Hank@EU.Globex.com") != "eu.globex.com" || Domain("nobody") != "" || Domain("x@") != "" {
		t.Fatal("Domain")
	}
	if Reverse("mail.globex.com") != "com.globex.mail" {
		t.Fatal("Reverse")
	}
	seen := map[string]bool{}
	for _, d := range FreemailDomains {
		if seen[d] {
			t.Fatalf("%s listed twice", d)
		}
		seen[d] = true
	}
}
