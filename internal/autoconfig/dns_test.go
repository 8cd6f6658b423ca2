package autoconfig

import (
	"context"
	"net"
	"testing"
)

func TestFromSRV(t *testing.T) {
	t.Parallel()
	type recs = map[string][]*net.SRV
	tests := []struct {
		name string
		srv  recs
		imap string // "host:port security", "" for nothing found
		smtp string
	}{
		{
			name: "implicit TLS services",
			srv: recs{
				"_imaps._tcp.example.com":       {{Target: "mail.example.net.", Port: 993}},
				"_submissions._tcp.example.com": {{Target: "mail.example.net.", Port: 465}},
			},
			imap: "mail.example.net:993 tls", smtp: "mail.example.net:465 tls",
		},
		{
			name: "STARTTLS services",
			srv: recs{
				"_imap._tcp.example.com":       {{Target: "Mail.Example.NET.", Port: 143}},
				"_submission._tcp.example.com": {{Target: "mail.example.net.", Port: 587}},
			},
			imap: "mail.example.net:143 starttls", smtp: "mail.example.net:587 starttls",
		},
		{
			name: "equal priority: implicit TLS preferred",
			srv: recs{
				"_imap._tcp.example.com":        {{Target: "starttls.example.net.", Port: 143, Priority: 5}},
				"_imaps._tcp.example.com":       {{Target: "tls.example.net.", Port: 993, Priority: 5}},
				"_submission._tcp.example.com":  {{Target: "starttls.example.net.", Port: 587, Priority: 5}},
				"_submissions._tcp.example.com": {{Target: "tls.example.net.", Port: 465, Priority: 5}},
			},
			imap: "tls.example.net:993 tls", smtp: "tls.example.net:465 tls",
		},
		{
			name: "priority compares across services",
			srv: recs{
				"_imap._tcp.example.com":  {{Target: "starttls.example.net.", Port: 143, Priority: 0}},
				"_imaps._tcp.example.com": {{Target: "tls.example.net.", Port: 993, Priority: 10}},
			},
			imap: "starttls.example.net:143 starttls",
		},
		{
			name: "lowest priority within a service",
			srv: recs{
				"_imaps._tcp.example.com": {
					{Target: "backup.example.net.", Port: 993, Priority: 20},
					{Target: "primary.example.net.", Port: 993, Priority: 10},
				},
			},
			imap: "primary.example.net:993 tls",
		},
		{
			name: "weight decides among equals; zero weight loses to any other",
			srv: recs{
				"_imaps._tcp.example.com": {
					{Target: "light.example.net.", Port: 993, Priority: 1, Weight: 0},
					{Target: "heavy.example.net.", Port: 993, Priority: 1, Weight: 10},
				},
			},
			imap: "heavy.example.net:993 tls",
		},
		{
			name: "target . means not offered",
			srv: recs{
				"_imaps._tcp.example.com":       {{Target: ".", Port: 0}},
				"_imap._tcp.example.com":        {{Target: "imap.example.net.", Port: 143}},
				"_submissions._tcp.example.com": {{Target: ".", Port: 0}},
			},
			imap: "imap.example.net:143 starttls",
		},
		{
			name: "port 465 under _submission is implicit TLS",
			srv: recs{
				"_imaps._tcp.example.com":      {{Target: "ssl0.example.net.", Port: 993}},
				"_submission._tcp.example.com": {{Target: "ssl0.example.net.", Port: 465}},
			},
			imap: "ssl0.example.net:993 tls", smtp: "ssl0.example.net:465 tls",
		},
		{
			name: "nothing offered",
			srv: recs{
				"_imaps._tcp.example.com": {{Target: ".", Port: 0}},
				"_imap._tcp.example.com":  {{Target: ".", Port: 0}},
			},
		},
		{
			name: "submission only is not enough",
			srv:  recs{"_submission._tcp.example.com": {{Target: "smtp.example.net.", Port: 587}}},
		},
		{
			name: "bad targets are skipped",
			srv: recs{
				"_imaps._tcp.example.com": {
					{Target: "bad_name.example.net.", Port: 993},
					{Target: "imap.example.net.", Port: 0},
					{Target: "imap.example.net.", Port: 993, Priority: 9},
				},
			},
			imap: "imap.example.net:993 tls",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 20 { // the weights involve chance
				o := fromSRV(context.Background(), &fakeResolver{srv: tt.srv}, testAddr)
				if tt.imap == "" {
					if o.ok {
						t.Fatalf("fromSRV = %+v; want nothing", o.res)
					}
					if len(o.tried) == 0 {
						t.Error("no notes on what was tried")
					}
					return
				}
				if !o.ok {
					t.Fatalf("fromSRV found nothing: %q", o.tried)
				}
				str := func(s *Server) string {
					if s == nil {
						return ""
					}
					return s.Host + ":" + itoa(s.Port) + " " + string(s.Security)
				}
				if str(o.res.IMAP) != tt.imap || str(o.res.SMTP) != tt.smtp {
					t.Fatalf("IMAP %q, SMTP %q; want %q, %q", str(o.res.IMAP), str(o.res.SMTP), tt.imap, tt.smtp)
				}
				if o.res.Source != SourceSRV || o.res.IMAP.UsernameForm != UsernameEmail || o.res.IMAP.Username != testAddr.email {
					t.Fatalf("result %+v, IMAP %+v", o.res, o.res.IMAP)
				}
			}
		})
	}
}

func TestFromMX(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mx       []*net.MX
		provider string // "" for nothing found
		imap     string
		smtp     string
		form     UsernameForm
	}{
		{"Google Workspace", []*net.MX{{Host: "ASPMX.L.GOOGLE.COM.", Pref: 1}, {Host: "alt1.aspmx.l.google.com.", Pref: 5}}, "gmail", "imap.gmail.com", "smtp.gmail.com", UsernameEmail},
		{"Google Workspace, single MX", []*net.MX{{Host: "smtp.google.com.", Pref: 1}}, "gmail", "imap.gmail.com", "smtp.gmail.com", UsernameEmail},
		{"Google, old secondary", []*net.MX{{Host: "aspmx2.googlemail.com.", Pref: 10}}, "gmail", "imap.gmail.com", "smtp.gmail.com", UsernameEmail},
		{"Microsoft 365", []*net.MX{{Host: "contoso-com.mail.protection.outlook.com.", Pref: 0}}, "office365", "outlook.office365.com", "smtp.office365.com", UsernameEmail},
		{"Microsoft 365, mx.microsoft", []*net.MX{{Host: "contoso-com.o-v1.mx.microsoft.", Pref: 0}}, "office365", "outlook.office365.com", "smtp.office365.com", UsernameEmail},
		{"Outlook.com", []*net.MX{{Host: "eur.olc.protection.outlook.com.", Pref: 0}}, "outlook", "outlook.office365.com", "smtp-mail.outlook.com", UsernameEmail},
		{"GMX through its own domain", []*net.MX{{Host: "mx00.gmx.net.", Pref: 10}}, "gmx", "imap.gmx.net", "mail.gmx.net", UsernameEmail},
		{"Zoho EU hosted domain", []*net.MX{{Host: "mx.zoho.eu.", Pref: 10}}, "zoho", "imappro.zoho.eu", "smtppro.zoho.eu", UsernameEmail},
		{"Zoho hosted domain", []*net.MX{{Host: "mx2.zoho.com.", Pref: 20}}, "zoho", "imappro.zoho.com", "smtppro.zoho.com", UsernameEmail},
		{"Fastmail hosted domain", []*net.MX{{Host: "in1-smtp.messagingengine.com.", Pref: 10}}, "fastmail", "imap.fastmail.com", "smtp.fastmail.com", UsernameEmail},
		{"iCloud custom domain", []*net.MX{{Host: "mx01.mail.icloud.com.", Pref: 10}}, "icloud", "imap.mail.me.com", "smtp.mail.me.com", UsernameOther},
		{"Yandex 360", []*net.MX{{Host: "mx.yandex.net.", Pref: 10}}, "yandex", "imap.yandex.com", "smtp.yandex.com", UsernameEmail},
		{
			"preference order, unknown hosts skipped",
			[]*net.MX{{Host: "aspmx.l.google.com.", Pref: 20}, {Host: "gateway.example.net.", Pref: 5}, {Host: "x.mail.protection.outlook.com.", Pref: 30}},
			"gmail", "imap.gmail.com", "smtp.gmail.com", UsernameEmail,
		},
		{"unknown host", []*net.MX{{Host: "mx.example.com.", Pref: 10}}, "", "", "", ""},
		{"look-alike is not Google", []*net.MX{{Host: "google.com.evil.example.", Pref: 10}}, "", "", "", ""},
		{"null MX", []*net.MX{{Host: ".", Pref: 0}}, "", "", "", ""},
		{"no MX", nil, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dns := &fakeResolver{mx: map[string][]*net.MX{}}
			if tt.mx != nil {
				dns.mx["example.com"] = tt.mx
			}
			o := fromMX(context.Background(), dns, testAddr)
			if tt.provider == "" {
				if o.ok {
					t.Fatalf("fromMX = %+v; want nothing", o.res)
				}
				if len(o.tried) == 0 {
					t.Error("no note on what was tried")
				}
				return
			}
			if !o.ok {
				t.Fatalf("fromMX found nothing: %q", o.tried)
			}
			r := o.res
			if r.Source != SourceMX || r.Provider != tt.provider || r.IMAP.Host != tt.imap || r.SMTP.Host != tt.smtp || r.IMAP.UsernameForm != tt.form {
				t.Errorf("got %s %s IMAP %+v SMTP %+v; want %s %s %s %s", r.Source, r.Provider, r.IMAP, r.SMTP, tt.provider, tt.imap, tt.smtp, tt.form)
			}
		})
	}
}
