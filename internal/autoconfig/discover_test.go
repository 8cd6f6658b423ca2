package autoconfig

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

const (
	autoconfigURL = "https://autoconfig.example.com/mail/config-v1.1.xml"
	wellKnownURL  = "https://example.com/.well-known/autoconfig/mail/config-v1.1.xml"
	plainURL      = "http://autoconfig.example.com/mail/config-v1.1.xml"
)

// Every source at once, each pointing to its own hosts, so that the result
// tells which source won.
func (b *bundle) everything() {
	b.site.files[autoconfigURL] = configXML("imap.xml.example", 993, "SSL", "smtp.xml.example", 465, "SSL", "%EMAILADDRESS%")
	b.dns.srv["_imaps._tcp.example.com"] = []*net.SRV{{Target: "imap.srv.example.", Port: 993, Priority: 0, Weight: 1}}
	b.dns.srv["_submissions._tcp.example.com"] = []*net.SRV{{Target: "smtp.srv.example.", Port: 465}}
	b.dns.mx["example.com"] = []*net.MX{{Host: "aspmx.l.google.com.", Pref: 1}}
	b.probe.ok["imap imap.example.com:993 tls"] = true
	b.probe.ok["smtp smtp.example.com:465 tls"] = true
}

func TestDiscoverOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		email    string
		arrange  func(b *bundle)
		source   Source
		provider string
		imapHost string
		smtpHost string // "" for no SMTP server
	}{
		{
			name: "built-in domain", email: "bob@gmail.com",
			arrange: func(b *bundle) {
				b.everything()
				b.dns.mx["gmail.com"] = []*net.MX{{Host: "mx.example.net.", Pref: 1}}
			},
			source: SourceBuiltin, provider: "gmail", imapHost: "imap.gmail.com", smtpHost: "smtp.gmail.com",
		},
		{
			name: "built-in subdomain", email: "bob@contoso.onmicrosoft.com",
			arrange: func(b *bundle) {},
			source:  SourceBuiltin, provider: "office365", imapHost: "outlook.office365.com", smtpHost: "smtp.office365.com",
		},
		{
			name: "xml beats srv, mx and guesses", email: "bob@example.com",
			arrange: func(b *bundle) { b.everything() },
			source:  SourceXML, imapHost: "imap.xml.example", smtpHost: "smtp.xml.example",
		},
		{
			name: "well-known file when autoconfig host has none", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				delete(b.site.files, autoconfigURL)
				b.site.files[wellKnownURL] = configXML("imap.wk.example", 993, "SSL", "smtp.wk.example", 465, "SSL", "")
			},
			source: SourceXML, imapHost: "imap.wk.example", smtpHost: "smtp.wk.example",
		},
		{
			name: "autoconfig over https beats well-known", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				b.site.files[wellKnownURL] = configXML("imap.wk.example", 993, "SSL", "smtp.wk.example", 465, "SSL", "")
			},
			source: SourceXML, imapHost: "imap.xml.example", smtpHost: "smtp.xml.example",
		},
		{
			name: "http fallback for autoconfig host", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				delete(b.site.files, autoconfigURL)
				b.site.files[plainURL] = configXML("imap.http.example", 993, "SSL", "smtp.http.example", 465, "SSL", "")
			},
			source: SourceXML, imapHost: "imap.http.example", smtpHost: "smtp.http.example",
		},
		{
			name: "srv beats mx and guesses", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				delete(b.site.files, autoconfigURL)
			},
			source: SourceSRV, imapHost: "imap.srv.example", smtpHost: "smtp.srv.example",
		},
		{
			name: "mx beats guesses", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				delete(b.site.files, autoconfigURL)
				clear(b.dns.srv)
			},
			source: SourceMX, provider: "gmail", imapHost: "imap.gmail.com", smtpHost: "smtp.gmail.com",
		},
		{
			name: "guesses last", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				delete(b.site.files, autoconfigURL)
				clear(b.dns.srv)
				b.dns.mx["example.com"] = []*net.MX{{Host: "mx.example.com.", Pref: 1}}
			},
			source: SourceGuess, imapHost: "imap.example.com", smtpHost: "smtp.example.com",
		},
		{
			name: "a file without IMAP does not count", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				b.site.files[autoconfigURL] = strings.ReplaceAll(b.site.files[autoconfigURL], `type="imap"`, `type="pop3"`)
			},
			source: SourceSRV, imapHost: "imap.srv.example", smtpHost: "smtp.srv.example",
		},
		{
			name: "an HTML page does not count", email: "bob@example.com",
			arrange: func(b *bundle) {
				b.everything()
				b.site.files[autoconfigURL] = "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>"
			},
			source: SourceSRV, imapHost: "imap.srv.example", smtpHost: "smtp.srv.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tt.arrange(b)
			res, err := b.d.Discover(context.Background(), tt.email)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if res.Source != tt.source || res.Provider != tt.provider {
				t.Errorf("source, provider = %q, %q; want %q, %q", res.Source, res.Provider, tt.source, tt.provider)
			}
			if res.IMAP == nil || res.IMAP.Host != tt.imapHost {
				t.Errorf("IMAP = %+v; want host %s", res.IMAP, tt.imapHost)
			}
			if got := ""; res.SMTP != nil {
				got = res.SMTP.Host
				if got != tt.smtpHost {
					t.Errorf("SMTP host = %q; want %q", got, tt.smtpHost)
				}
			} else if tt.smtpHost != "" {
				t.Errorf("SMTP = nil; want host %s", tt.smtpHost)
			}
			if res.Detail == "" || res.Auth == "" {
				t.Errorf("Detail %q, Auth %q: want both set", res.Detail, res.Auth)
			}
			if tt.source == SourceBuiltin {
				if c := b.dns.Calls(); len(c) > 0 {
					t.Errorf("built-in domain made DNS queries: %v", c)
				}
				if r := b.site.Requests(); len(r) > 0 {
					t.Errorf("built-in domain made HTTP requests: %v", r)
				}
			}
			if tt.source != SourceGuess {
				if c := b.probe.Calls(); len(c) > 0 {
					t.Errorf("probes without need: %v", c)
				}
			}
		})
	}
}

func TestDiscoverXMLRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, err := b.d.Discover(context.Background(), "Bob.Smith@Example.COM")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Discover = %+v, %v; want ErrNotFound", res, err)
	}
	got := b.site.Requests()
	want := map[string]bool{
		autoconfigURL + "?emailaddress=Bob.Smith%40example.com": true, // the address, over https only
		wellKnownURL: true,
		plainURL:     true,
	}
	if len(got) != len(want) {
		t.Errorf("requests %q; want %d", got, len(want))
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected request %q", r)
		}
	}
}

func TestDiscoverNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.dns.mx["example.com"] = []*net.MX{{Host: "mx1.example.com.", Pref: 10}}
	b.probe.ok["smtp smtp.example.com:465 tls"] = true // SMTP alone is not enough
	_, err := b.d.Discover(context.Background(), "bob@example.com")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v; want ErrNotFound", err)
	}
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Domain != "example.com" {
		t.Fatalf("err = %#v; want *NotFoundError for example.com", err)
	}
	if want := "autoconfig: no settings found for example.com; enter the server settings by hand"; err.Error() != want {
		t.Errorf("message %q; want %q", err, want)
	}
	joined := strings.Join(nf.Tried, "\n")
	for _, s := range []string{autoconfigURL, "_imaps._tcp.example.com", "mx1.example.com", "imap.example.com:993"} {
		if !strings.Contains(joined, s) {
			t.Errorf("Tried does not mention %s:\n%s", s, joined)
		}
	}
}

func TestDiscoverInvalidAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, in := range []string{
		"", "   ", "bob", "bob@", "@example.com", "bob@localhost", "bob@127.0.0.1", "bob@[127.0.0.1]",
		"bob@exa mple.com", "bob@-example.com", "bob@example-.com", "bob@example..com",
		"bob@" + strings.Repeat("a", 64) + ".com", "bob@example.123",
		strings.Repeat("a", 600) + "@example.com", "bob@example.com\x00",
	} {
		if _, err := b.d.Discover(context.Background(), in); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("Discover(%q) err = %v; want ErrInvalidAddress", in, err)
		}
	}
	if c := b.dns.Calls(); len(c) > 0 {
		t.Errorf("invalid addresses made DNS queries: %v", c)
	}
}

func TestDiscoverUsernames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		email    string
		file     string // autoconfig file username template; "" for no file
		imapUser string
		imapForm UsernameForm
		smtpUser string
		smtpForm UsernameForm
	}{
		{"gmail: address", "Bob@gmail.com", "", "Bob@gmail.com", UsernameEmail, "Bob@gmail.com", UsernameEmail},
		{"icloud: local part for IMAP", "bob@icloud.com", "", "bob", UsernameLocalPart, "bob@icloud.com", UsernameEmail},
		{"free: local part", "bob@free.fr", "", "bob", UsernameLocalPart, "bob", UsernameLocalPart},
		{"xml: address", "bob@example.com", "%EMAILADDRESS%", "bob@example.com", UsernameEmail, "bob@example.com", UsernameEmail},
		{"xml: local part", "bob@example.com", "%EMAILLOCALPART%", "bob", UsernameLocalPart, "bob", UsernameLocalPart},
		{"xml: built from parts", "bob@example.com", "%EMAILLOCALPART%@%EMAILDOMAIN%", "bob@example.com", UsernameEmail, "bob@example.com", UsernameEmail},
		{"xml: other", "bob@example.com", "%EMAILLOCALPART%.%EMAILDOMAIN%", "bob.example.com", UsernameOther, "bob.example.com", UsernameOther},
		{"xml: fixed", "bob@example.com", "u67578", "u67578", UsernameOther, "u67578", UsernameOther},
		{"xml: unknown placeholder", "bob@example.com", "%REALNAME%", "", UsernameOther, "", UsernameOther},
		{"xml: absent", "bob@example.com", "", "bob@example.com", UsernameEmail, "bob@example.com", UsernameEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if strings.HasSuffix(tt.email, "@example.com") {
				b.site.files[autoconfigURL] = configXML("imap.example.com", 993, "SSL", "smtp.example.com", 465, "SSL", tt.file)
			}
			res, err := b.d.Discover(context.Background(), tt.email)
			if err != nil {
				t.Fatal(err)
			}
			if res.IMAP.Username != tt.imapUser || res.IMAP.UsernameForm != tt.imapForm {
				t.Errorf("IMAP username %q (%s); want %q (%s)", res.IMAP.Username, res.IMAP.UsernameForm, tt.imapUser, tt.imapForm)
			}
			if res.SMTP.Username != tt.smtpUser || res.SMTP.UsernameForm != tt.smtpForm {
				t.Errorf("SMTP username %q (%s); want %q (%s)", res.SMTP.Username, res.SMTP.UsernameForm, tt.smtpUser, tt.smtpForm)
			}
		})
	}
}

func TestDiscoverGuessPreference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ok       []string
		imap     string // host:port sec
		smtp     string // "" for none
		notFound bool
	}{
		{
			name: "implicit TLS beats STARTTLS",
			ok:   []string{"imap imap.example.com:143 starttls", "imap mail.example.com:993 tls", "smtp smtp.example.com:587 starttls", "smtp mail.example.com:465 tls"},
			imap: "mail.example.com:993 tls", smtp: "mail.example.com:465 tls",
		},
		{
			name: "imap. beats mail.",
			ok:   []string{"imap mail.example.com:993 tls", "imap imap.example.com:993 tls"},
			imap: "imap.example.com:993 tls",
		},
		{
			name: "STARTTLS when that is all",
			ok:   []string{"imap mail.example.com:143 starttls", "smtp smtp.example.com:587 starttls"},
			imap: "mail.example.com:143 starttls", smtp: "smtp.example.com:587 starttls",
		},
		{
			name: "no IMAP, no result", ok: []string{"smtp smtp.example.com:465 tls"}, notFound: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for _, k := range tt.ok {
				b.probe.ok[k] = true
			}
			res, err := b.d.Discover(context.Background(), "bob@example.com")
			if tt.notFound {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Discover = %+v, %v; want ErrNotFound", res, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			str := func(s *Server) string {
				if s == nil {
					return ""
				}
				return s.Host + ":" + itoa(s.Port) + " " + string(s.Security)
			}
			if str(res.IMAP) != tt.imap || str(res.SMTP) != tt.smtp {
				t.Errorf("IMAP %q, SMTP %q; want %q, %q", str(res.IMAP), str(res.SMTP), tt.imap, tt.smtp)
			}
			if res.Source != SourceGuess || res.Hint == "" {
				t.Errorf("source %q, hint %q", res.Source, res.Hint)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// slowResolver answers nothing until the context ends.
type slowResolver struct{ fakeResolver }

func (s *slowResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestDiscoverTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.d.Resolver = &slowResolver{}
	b.d.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := b.d.Discover(context.Background(), "bob@example.com")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v; want ErrNotFound when the timeout runs out", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Discover took %v with a 300ms timeout", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	b.d.Timeout = 0
	if _, err := b.d.Discover(ctx, "bob@example.com"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled when the caller cancels", err)
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	res, err := (&Discoverer{}).Discover(context.Background(), "bob@gmail.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"imap", "smtp", "source", "detail", "provider", "auth", "hint"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	imap := m["imap"].(map[string]any)
	for _, k := range []string{"host", "port", "security", "username", "username_form"} {
		if _, ok := imap[k]; !ok {
			t.Errorf("JSON imap %v lacks %q", imap, k)
		}
	}
	if m["source"] != "builtin" || imap["security"] != "tls" || m["auth"] != "app_password" {
		t.Errorf("JSON %s", b)
	}
}

// Gmail addresses and domains whose mail Google hosts are offered Google's
// sign-in, with IMAP and an app password kept as the other way; Microsoft's
// are offered Microsoft's; others none.
func TestDiscoverSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		email, mx, signIn string
		auth              Auth
	}{
		{"bob@gmail.com", "", "google", AuthAppPassword},
		{"bob@googlemail.com", "", "google", AuthAppPassword},
		{"bob@corp.example", "aspmx.l.google.com.", "google", AuthAppPassword},
		{"bob@outlook.com", "", "microsoft", AuthOAuth},
		{"bob@contoso.example", "contoso-example.mail.protection.outlook.com.", "microsoft", AuthOAuth},
		{"bob@gmx.example", "mx00.gmx.net.", "", AuthPassword},
	}
	for _, tt := range tests {
		b := setup(t)
		_, domain, _ := strings.Cut(tt.email, "@")
		if tt.mx != "" {
			b.dns.mx[domain] = []*net.MX{{Host: tt.mx, Pref: 1}}
		}
		res, err := b.d.Discover(context.Background(), tt.email)
		if err != nil {
			t.Fatalf("%s: %v", tt.email, err)
		}
		if res.SignIn != tt.signIn || res.Auth != tt.auth || res.IMAP == nil {
			t.Errorf("%s: sign_in %q, auth %q, IMAP %+v; want %q, %q and IMAP kept", tt.email, res.SignIn, res.Auth, res.IMAP, tt.signIn, tt.auth)
		}
		if tt.signIn == "google" && (!strings.Contains(res.Hint, "sign in with Google") || !strings.Contains(res.Hint, "app password")) {
			t.Errorf("%s: hint %q does not name both ways", tt.email, res.Hint)
		}
	}
}
