package autoconfig

import "strings"

// The built-in table: mailbox providers big enough that most users of
// crmsync will have one of them, or whose settings a generic lookup gets
// wrong or cannot explain.
//
// Sources: each provider's own help page on mail-app settings, checked
// against the Thunderbird ISPDB (github.com/thunderbird/autoconfig, the
// ispdb/ folder), which also gave most of the domain lists. Where the two
// differ we follow the provider: Outlook.com's SMTP host is
// smtp-mail.outlook.com, Libero's is smtp.libero.it, gmx.fr and the other
// international GMX domains use the gmx.com servers, not gmx.net's. When a
// provider offers submission both on 465 (implicit TLS) and 587 (STARTTLS),
// the table says 465: RFC 8314 prefers implicit TLS to STARTTLS.
//
// An entry matches an address by its domain (domains), by being a subdomain
// of one of subdomains (tenant.onmicrosoft.com), or, for domains hosted at
// the provider, by the domain's MX host ending in one of mx (see mx.go). A
// provider may have several entries when hosted domains use other servers or
// other advice than the provider's own addresses.
//
// Keep the hints short and written for the person connecting a mailbox.
var providers = []provider{
	{
		id: "gmail", name: "Gmail",
		domains: []string{"gmail.com", "googlemail.com"},
		imap:    endpoint{"imap.gmail.com", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.gmail.com", 465, TLS, UsernameEmail},
		auth:    AuthAppPassword,
		signIn:  "google",
		hint: "Google does not accept your usual password from mail apps: sign in with Google, " +
			"or use IMAP with an app password (2-Step Verification must be on), created at " +
			"https://myaccount.google.com/apppasswords.",
	},
	{
		id: "gmail", name: "Google Workspace",
		mx:     []string{"google.com", "googlemail.com"}, // aspmx.l.google.com, smtp.google.com, aspmx2.googlemail.com
		imap:   endpoint{"imap.gmail.com", 993, TLS, UsernameEmail},
		smtp:   endpoint{"smtp.gmail.com", 465, TLS, UsernameEmail},
		auth:   AuthAppPassword,
		signIn: "google",
		hint: "Your mail is hosted by Google Workspace, which does not accept your usual password from " +
			"mail apps: sign in with Google, or use IMAP with an app password (2-Step Verification " +
			"must be on); your administrator may have to allow IMAP access.",
	},
	{
		id: "outlook", name: "Outlook.com",
		domains: []string{
			"outlook.com", "hotmail.com", "live.com", "msn.com", "windowslive.com",
			"outlook.at", "outlook.be", "outlook.cl", "outlook.cz", "outlook.de", "outlook.dk",
			"outlook.es", "outlook.fr", "outlook.hu", "outlook.ie", "outlook.in", "outlook.it",
			"outlook.jp", "outlook.kr", "outlook.lv", "outlook.my", "outlook.ph", "outlook.pt",
			"outlook.sa", "outlook.sg", "outlook.sk", "outlook.co.id", "outlook.co.il",
			"outlook.co.th", "outlook.com.ar", "outlook.com.au", "outlook.com.br", "outlook.com.gr",
			"outlook.com.tr", "outlook.com.vn",
			"hotmail.be", "hotmail.ca", "hotmail.cl", "hotmail.cz", "hotmail.de", "hotmail.dk",
			"hotmail.es", "hotmail.fi", "hotmail.fr", "hotmail.gr", "hotmail.hu", "hotmail.it",
			"hotmail.lt", "hotmail.lv", "hotmail.my", "hotmail.nl", "hotmail.no", "hotmail.ph",
			"hotmail.rs", "hotmail.se", "hotmail.sg", "hotmail.sk", "hotmail.co.id", "hotmail.co.il",
			"hotmail.co.in", "hotmail.co.jp", "hotmail.co.kr", "hotmail.co.th", "hotmail.co.uk",
			"hotmail.co.za", "hotmail.com.ar", "hotmail.com.au", "hotmail.com.br", "hotmail.com.hk",
			"hotmail.com.tr", "hotmail.com.tw", "hotmail.com.vn",
			"live.at", "live.be", "live.ca", "live.cl", "live.cn", "live.de", "live.dk", "live.fi",
			"live.fr", "live.hk", "live.ie", "live.in", "live.it", "live.jp", "live.nl", "live.no",
			"live.ru", "live.se", "live.co.jp", "live.co.kr", "live.co.uk", "live.co.za",
			"live.com.ar", "live.com.au", "live.com.mx", "live.com.my", "live.com.ph", "live.com.pt",
			"live.com.sg", "livemail.tw",
		},
		mx:     []string{"olc.protection.outlook.com"}, // consumer mailboxes under other names
		imap:   endpoint{"outlook.office365.com", 993, TLS, UsernameEmail},
		smtp:   endpoint{"smtp-mail.outlook.com", 587, StartTLS, UsernameEmail},
		auth:   AuthOAuth,
		signIn: "microsoft",
		hint: "Microsoft no longer accepts passwords from mail apps for Outlook.com accounts: " +
			"connect this mailbox with Microsoft sign-in (OAuth) instead.",
	},
	{
		id: "office365", name: "Microsoft 365",
		subdomains: []string{"onmicrosoft.com"},
		// contoso-com.mail.protection.outlook.com, the newer DNSSEC-signed
		// contoso-com.o-v1.mx.microsoft, and the older contoso-com.mail.eo.outlook.com.
		mx:     []string{"mail.protection.outlook.com", "mx.microsoft", "mail.eo.outlook.com"},
		imap:   endpoint{"outlook.office365.com", 993, TLS, UsernameEmail},
		smtp:   endpoint{"smtp.office365.com", 587, StartTLS, UsernameEmail},
		auth:   AuthOAuth,
		signIn: "microsoft",
		hint: "Your mail is hosted by Microsoft 365, which no longer accepts passwords for IMAP: " +
			"connect this mailbox with Microsoft sign-in (OAuth). Your administrator may have to " +
			"allow IMAP and SMTP for your mailbox.",
	},
	{
		id: "yahoo", name: "Yahoo Mail",
		domains: []string{
			"yahoo.com", "yahoo.de", "yahoo.it", "yahoo.fr", "yahoo.es", "yahoo.se", "yahoo.co.in",
			"yahoo.co.uk", "yahoo.co.nz", "yahoo.com.au", "yahoo.com.ar", "yahoo.com.br",
			"yahoo.com.mx", "ymail.com", "myyahoo.com", "rocketmail.com",
		},
		imap: endpoint{"imap.mail.yahoo.com", 993, TLS, UsernameEmail},
		smtp: endpoint{"smtp.mail.yahoo.com", 465, TLS, UsernameEmail},
		auth: AuthAppPassword,
		hint: "Yahoo requires an app password for mail apps: create one in your Yahoo account " +
			"(Account security, Generate app password) and use it instead of your Yahoo password.",
	},
	{
		id: "aol", name: "AOL Mail",
		domains: []string{
			"aol.com", "aim.com", "netscape.net", "compuserve.com", "cs.com", "wmconnect.com",
			"aol.de", "aol.it", "aol.fr", "aol.es", "aol.se", "aol.co.uk", "aol.co.nz",
			"aol.com.au", "aol.com.ar", "aol.com.br", "aol.com.mx",
		},
		imap: endpoint{"imap.aol.com", 993, TLS, UsernameEmail},
		smtp: endpoint{"smtp.aol.com", 465, TLS, UsernameEmail},
		auth: AuthAppPassword,
		hint: "AOL requires an app password for mail apps: create one in your AOL account " +
			"(Account security, Generate app password) and use it instead of your AOL password.",
	},
	{
		id: "icloud", name: "iCloud Mail",
		domains: []string{"icloud.com", "me.com", "mac.com"},
		// Apple: the IMAP username is the name part of the address; SMTP
		// takes the full address.
		imap: endpoint{"imap.mail.me.com", 993, TLS, UsernameLocalPart},
		smtp: endpoint{"smtp.mail.me.com", 587, StartTLS, UsernameEmail},
		auth: AuthAppPassword,
		hint: "Apple requires an app-specific password for mail apps: create one at " +
			"https://account.apple.com (Sign-In and Security, App-Specific Passwords). " +
			"If signing in to IMAP fails, try your full address as the username.",
	},
	{
		id: "icloud", name: "iCloud Mail (custom domain)",
		mx:   []string{"mail.icloud.com"}, // mx01.mail.icloud.com
		imap: endpoint{"imap.mail.me.com", 993, TLS, UsernameOther},
		smtp: endpoint{"smtp.mail.me.com", 587, StartTLS, UsernameOther},
		auth: AuthAppPassword,
		hint: "Your domain's mail is hosted by iCloud+: sign in with your Apple Account's iCloud " +
			"Mail address (…@icloud.com), not this address, and an app-specific password created " +
			"at https://account.apple.com.",
	},
	{
		id: "gmx", name: "GMX",
		domains: []string{
			"gmx.net", "gmx.de", "gmx.at", "gmx.ch", "gmx.eu", "gmx.biz", "gmx.org", "gmx.info",
			"mein.gmx", "mail.gmx", "email.gmx",
		},
		imap: endpoint{"imap.gmx.net", 993, TLS, UsernameEmail},
		smtp: endpoint{"mail.gmx.net", 465, TLS, UsernameEmail},
		auth: AuthPassword,
		hint: "GMX allows mail apps only once you switch on \"POP3 & IMAP\" access in your GMX mail settings.",
	},
	{
		id: "gmx", name: "GMX",
		domains: []string{
			"gmx.com", "gmx.us", "gmx.co.uk", "gmx.fr", "gmx.es", "gmx.it", "gmx.ca", "gmx.ie",
			"gmx.pt", "gmx.se", "gmx.tm", "gmx.li", "gmx.com.br", "gmx.com.tr",
		},
		imap: endpoint{"imap.gmx.com", 993, TLS, UsernameEmail},
		smtp: endpoint{"mail.gmx.com", 465, TLS, UsernameEmail},
		auth: AuthPassword,
		hint: "GMX allows mail apps only once you switch on \"POP3 & IMAP\" access in your GMX mail settings.",
	},
	{
		id: "webde", name: "WEB.DE",
		domains: []string{"web.de"},
		imap:    endpoint{"imap.web.de", 993, TLS, UsernameLocalPart},
		smtp:    endpoint{"smtp.web.de", 465, TLS, UsernameLocalPart},
		auth:    AuthPassword,
		hint:    "WEB.DE allows mail apps only once you switch on \"POP3 & IMAP\" access in your WEB.DE mail settings.",
	},
	{
		id: "t-online", name: "Telekom Mail (t-online.de)",
		domains: []string{"t-online.de", "magenta.de"},
		imap:    endpoint{"secureimap.t-online.de", 993, TLS, UsernameEmail},
		smtp:    endpoint{"securesmtp.t-online.de", 465, TLS, UsernameEmail},
		auth:    AuthAppPassword,
		hint: "Telekom mail apps need the separate e-mail password (E-Mail-Passwort) set in your " +
			"Telekom account; the password of the website does not work.",
	},
	{
		id: "orange", name: "Orange",
		domains: []string{"orange.fr", "wanadoo.fr"},
		imap:    endpoint{"imap.orange.fr", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.orange.fr", 465, TLS, UsernameEmail},
		auth:    AuthPassword,
	},
	{
		id: "free", name: "Free",
		domains: []string{"free.fr"},
		imap:    endpoint{"imap.free.fr", 993, TLS, UsernameLocalPart},
		smtp:    endpoint{"smtp.free.fr", 465, TLS, UsernameLocalPart},
		auth:    AuthPassword,
	},
	{
		id: "libero", name: "Libero Mail",
		domains: []string{"libero.it", "iol.it", "blu.it", "inwind.it", "giallo.it"},
		imap:    endpoint{"imapmail.libero.it", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.libero.it", 465, TLS, UsernameEmail},
		auth:    AuthPassword,
	},
	{
		id: "telia", name: "Telia",
		domains: []string{"telia.com"},
		imap:    endpoint{"imap.telia.com", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.telia.com", 465, TLS, UsernameEmail},
		auth:    AuthPassword,
	},
	{
		id: "zoho", name: "Zoho Mail",
		domains: []string{"zoho.com", "zohomail.com"},
		imap:    endpoint{"imap.zoho.com", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.zoho.com", 465, TLS, UsernameEmail},
		auth:    AuthPassword,
		hint: "Switch on IMAP access in Zoho Mail's settings first; with two-factor authentication " +
			"on, use an app-specific password.",
	},
	// Zoho serves organisations' own domains from imappro/smtppro hosts, in
	// the data centre of the organisation (zoho.com, zoho.eu, zoho.in).
	{
		id: "zoho", name: "Zoho Mail",
		mx:   []string{"zoho.com"},
		imap: endpoint{"imappro.zoho.com", 993, TLS, UsernameEmail},
		smtp: endpoint{"smtppro.zoho.com", 465, TLS, UsernameEmail},
		auth: AuthPassword,
		hint: "Your domain's mail is hosted by Zoho. Switch on IMAP access in Zoho Mail's settings " +
			"first; with two-factor authentication on, use an app-specific password.",
	},
	{
		id: "zoho", name: "Zoho Mail (EU)",
		mx:   []string{"zoho.eu"},
		imap: endpoint{"imappro.zoho.eu", 993, TLS, UsernameEmail},
		smtp: endpoint{"smtppro.zoho.eu", 465, TLS, UsernameEmail},
		auth: AuthPassword,
		hint: "Your domain's mail is hosted by Zoho. Switch on IMAP access in Zoho Mail's settings " +
			"first; with two-factor authentication on, use an app-specific password.",
	},
	{
		id: "zoho", name: "Zoho Mail (India)",
		mx:   []string{"zoho.in"},
		imap: endpoint{"imappro.zoho.in", 993, TLS, UsernameEmail},
		smtp: endpoint{"smtppro.zoho.in", 465, TLS, UsernameEmail},
		auth: AuthPassword,
		hint: "Your domain's mail is hosted by Zoho. Switch on IMAP access in Zoho Mail's settings " +
			"first; with two-factor authentication on, use an app-specific password.",
	},
	{
		id: "fastmail", name: "Fastmail",
		domains: []string{"fastmail.com", "fastmail.fm"},
		mx:      []string{"messagingengine.com"}, // in1-smtp.messagingengine.com: domains hosted at Fastmail
		imap:    endpoint{"imap.fastmail.com", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.fastmail.com", 465, TLS, UsernameEmail},
		auth:    AuthAppPassword,
		hint:    "Fastmail requires an app password for mail apps: create one in Fastmail's settings (Privacy & Security, App passwords).",
	},
	{
		// Proton stores mail end-to-end encrypted and speaks IMAP and SMTP
		// only through Proton Mail Bridge, a program the user runs; these
		// are Bridge's default ports on the machine it runs on.
		id: "proton", name: "Proton Mail",
		domains: []string{"proton.me", "protonmail.com", "protonmail.ch", "pm.me"},
		mx:      []string{"protonmail.ch"}, // mail.protonmail.ch, mailsec.protonmail.ch
		imap:    endpoint{"127.0.0.1", 1143, StartTLS, UsernameEmail},
		smtp:    endpoint{"127.0.0.1", 1025, StartTLS, UsernameEmail},
		auth:    AuthAppPassword,
		hint: "Proton Mail works with other mail apps only through Proton Mail Bridge, which must run " +
			"on a machine crmsync can reach. Use the host, ports, username and password that Bridge " +
			"shows; the settings here assume Bridge runs on the crmsync server itself.",
	},
	{
		id: "mailru", name: "Mail.ru",
		domains: []string{"mail.ru", "inbox.ru", "list.ru", "bk.ru"},
		imap:    endpoint{"imap.mail.ru", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.mail.ru", 465, TLS, UsernameEmail},
		auth:    AuthAppPassword,
		hint:    "Mail.ru requires a password for external apps: create one in your Mail.ru account's security settings.",
	},
	{
		id: "yandex", name: "Yandex Mail",
		domains: []string{"yandex.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua", "ya.ru", "narod.ru"},
		mx:      []string{"yandex.net"}, // mx.yandex.net: Yandex 360 for domains
		imap:    endpoint{"imap.yandex.com", 993, TLS, UsernameEmail},
		smtp:    endpoint{"smtp.yandex.com", 465, TLS, UsernameEmail},
		auth:    AuthAppPassword,
		hint: "Allow access by mail clients (IMAP) in Yandex Mail's settings, and use an app " +
			"password created in your Yandex ID.",
	},
}

// provider is one entry of the built-in table.
type provider struct {
	id, name   string
	domains    []string // address domains
	subdomains []string // every subdomain of these is the provider's too
	mx         []string // MX host suffixes of domains hosted at the provider
	imap, smtp endpoint
	auth       Auth
	// signIn is the provider (as crmsync's sign-in names it) whose
	// sign-in connects these mailboxes through their own API.
	signIn string
	hint   string
}

// endpoint is a Server before it is resolved for an address.
type endpoint struct {
	host string
	port int
	sec  Security
	user UsernameForm
}

func (p *provider) result(a address, src Source, detail string) Result {
	res := Result{
		IMAP:     serverFor(a, p.imap.host, p.imap.port, p.imap.sec, p.imap.user),
		Source:   src,
		Detail:   detail,
		Provider: p.id,
		Auth:     p.auth,
		SignIn:   p.signIn,
		Hint:     p.hint,
	}
	if p.smtp.host != "" {
		res.SMTP = serverFor(a, p.smtp.host, p.smtp.port, p.smtp.sec, p.smtp.user)
	}
	return res
}

var (
	byDomain    = map[string]*provider{}
	bySubdomain = map[string]*provider{}
	byMX        = map[string]*provider{}
)

func init() {
	add := func(m map[string]*provider, key string, p *provider) {
		if _, dup := m[key]; dup {
			panic("autoconfig: " + key + " twice in the provider table")
		}
		m[key] = p
	}
	for i := range providers {
		p := &providers[i]
		for _, d := range p.domains {
			add(byDomain, d, p)
		}
		for _, d := range p.subdomains {
			add(bySubdomain, d, p)
		}
		for _, d := range p.mx {
			add(byMX, d, p)
		}
	}
}

// providerByDomain returns the table entry for an address domain, or nil.
func providerByDomain(domain string) *provider {
	if p := byDomain[domain]; p != nil {
		return p
	}
	for d := parentDomain(domain); d != ""; d = parentDomain(d) {
		if p := bySubdomain[d]; p != nil {
			return p
		}
	}
	return nil
}

// providerByMX returns the entry whose hosted domains have their mail
// delivered to host, or nil. It walks host's parent domains from the longest
// and, at each, prefers an explicit MX suffix over an address domain:
// aspmx.l.google.com matches "google.com" of Google Workspace, and the
// generic case mx00.gmx.net matches GMX through its own domain gmx.net.
func providerByMX(host string) *provider {
	for d := host; strings.Contains(d, "."); d = parentDomain(d) {
		if p := byMX[d]; p != nil {
			return p
		}
		if p := byDomain[d]; p != nil {
			return p
		}
	}
	return nil
}

// parentDomain drops the first label: "a.b.c" → "b.c"; "" for a single label.
func parentDomain(d string) string {
	_, rest, ok := strings.Cut(d, ".")
	if !ok {
		return ""
	}
	return rest
}
