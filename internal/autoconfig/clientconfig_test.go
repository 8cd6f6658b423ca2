package autoconfig

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var testAddr = address{email: "bob@example.com", local: "bob", domain: "example.com"}

func TestParseClientConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		xml       string
		imap      string // "host:port security", "" for an error
		smtp      string
		auth      Auth
		hintHas   string
		hintLacks string
	}{
		{
			name: "SSL beats STARTTLS beats plain, whatever the order",
			xml: `<clientConfig version="1.1"><emailProvider id="x">
				<incomingServer type="imap"><hostname>plain.example.com</hostname><port>143</port><socketType>plain</socketType></incomingServer>
				<incomingServer type="imap"><hostname>starttls.example.com</hostname><port>143</port><socketType>STARTTLS</socketType></incomingServer>
				<incomingServer type="imap"><hostname>ssl.example.com</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
				<incomingServer type="imap"><hostname>ssl2.example.com</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
				<outgoingServer type="smtp"><hostname>sub.example.com</hostname><port>587</port><socketType>STARTTLS</socketType></outgoingServer>
				<outgoingServer type="smtp"><hostname>subs.example.com</hostname><port>465</port><socketType>SSL</socketType></outgoingServer>
			</emailProvider></clientConfig>`,
			imap: "ssl.example.com:993 tls", smtp: "subs.example.com:465 tls", auth: AuthPassword,
		},
		{
			name: "POP3 servers are ignored",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="pop3"><hostname>pop.example.com</hostname><port>995</port><socketType>SSL</socketType></incomingServer>
				<incomingServer type="IMAP"><hostname>imap.example.com</hostname><port>143</port><socketType>starttls</socketType></incomingServer>
			</emailProvider></clientConfig>`,
			imap: "imap.example.com:143 starttls", auth: AuthPassword,
		},
		{
			name: "placeholders in host names",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname> mail.%EMAILDOMAIN% </hostname><port> 993 </port><socketType>SSL</socketType></incomingServer>
				<outgoingServer type="smtp"><hostname>MAIL.%EMAILDOMAIN%.</hostname><port>465</port><socketType>SSL</socketType></outgoingServer>
			</emailProvider></clientConfig>`,
			imap: "mail.example.com:993 tls", smtp: "mail.example.com:465 tls", auth: AuthPassword,
		},
		{
			name: "bad servers are skipped, not the file",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname>bad host</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>99999</port><socketType>SSL</socketType></incomingServer>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>x</port><socketType>SSL</socketType></incomingServer>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>quantum</socketType></incomingServer>
				<incomingServer type="imap"><hostname>good.example.com</hostname><port>143</port><socketType>STARTTLS</socketType></incomingServer>
			</emailProvider></clientConfig>`,
			imap: "good.example.com:143 starttls", auth: AuthPassword,
		},
		{
			name: "OAuth2 only",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType>
				<authentication>OAuth2</authentication></incomingServer>
			</emailProvider></clientConfig>`,
			imap: "imap.example.com:993 tls", auth: AuthOAuth,
		},
		{
			name: "OAuth2 or password",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType>
				<authentication>OAuth2</authentication><authentication>password-cleartext</authentication></incomingServer>
			</emailProvider></clientConfig>`,
			imap: "imap.example.com:993 tls", auth: AuthPassword,
		},
		{
			name: "plain only warns",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>143</port><socketType>plain</socketType></incomingServer>
			</emailProvider></clientConfig>`,
			imap: "imap.example.com:143 none", auth: AuthPassword, hintHas: "does not encrypt",
		},
		{
			name: "enable instruction becomes the hint; GMX's &amP; is forgiven",
			xml: `<?xml version="1.0" encoding="UTF-8"?><clientConfig version="1.1"><emailProvider id="gmx.net">
				<incomingServer type="imap"><hostname>imap.gmx.net</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
				<enable visiturl="https://hilfe.gmx.net/pop-imap/einschalten.html">
				  <instruction>You must allow access via POP3 &amP; IMAP
				     once in the e-mail settings of your account!</instruction>
				  <instruction lang="de">Sie müssen einmalig den Zugriff erlauben!</instruction>
				</enable>
			</emailProvider></clientConfig>`,
			imap: "imap.gmx.net:993 tls", auth: AuthPassword,
			hintHas: "You must allow access via POP3 &amP; IMAP once in the e-mail settings of your account! (https://hilfe.gmx.net/pop-imap/einschalten.html)",
		},
		{
			name: "top-level enable, English preferred, script URL dropped",
			xml: `<clientConfig><emailProvider>
				<incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
				</emailProvider>
				<enable visiturl="javascript:alert(1)"><instruction lang="de">Bitte IMAP einschalten</instruction><instruction lang="en">Turn IMAP on</instruction></enable>
			</clientConfig>`,
			imap: "imap.example.com:993 tls", auth: AuthPassword, hintHas: "Turn IMAP on", hintLacks: "javascript",
		},
		{
			name: "Latin-1",
			xml: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><clientConfig><emailProvider>" +
				"<incomingServer type=\"imap\"><hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType></incomingServer>" +
				"<enable><instruction>Activez l'acc\xe8s IMAP</instruction></enable></emailProvider></clientConfig>",
			imap: "imap.example.com:993 tls", auth: AuthPassword, hintHas: "Activez l'accès IMAP",
		},
		{name: "no IMAP", xml: `<clientConfig><emailProvider><incomingServer type="pop3"><hostname>pop.example.com</hostname><port>995</port><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>`},
		{name: "HTML", xml: `<!DOCTYPE html><html><head><title>404</title></head><body><p>Not here</body></html>`},
		{name: "JSON", xml: `{"imap": "imap.example.com"}`},
		{name: "empty", xml: ``},
		{name: "other root", xml: `<config><incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType></incomingServer></config>`},
		{name: "unknown charset", xml: `<?xml version="1.0" encoding="EBCDIC"?><clientConfig/>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseClientConfig([]byte(tt.xml), testAddr)
			if tt.imap == "" {
				if err == nil {
					t.Fatalf("parseClientConfig = %+v; want an error", res)
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
			if res.Auth != tt.auth {
				t.Errorf("Auth %q; want %q", res.Auth, tt.auth)
			}
			if !strings.Contains(res.Hint, tt.hintHas) {
				t.Errorf("Hint %q; want it to contain %q", res.Hint, tt.hintHas)
			}
			if tt.hintLacks != "" && strings.Contains(res.Hint, tt.hintLacks) {
				t.Errorf("Hint %q contains %q", res.Hint, tt.hintLacks)
			}
		})
	}
}

func FuzzParseClientConfig(f *testing.F) {
	f.Add([]byte(configXML("imap.example.com", 993, "SSL", "smtp.example.com", 465, "SSL", "%EMAILADDRESS%")))
	f.Add([]byte(configXML("mail.%EMAILDOMAIN%", 143, "STARTTLS", "mail.%EMAILDOMAIN%", 587, "plain", "%EMAILLOCALPART%")))
	f.Add([]byte(`<clientConfig><emailProvider><incomingServer type="imap"><hostname>a.b</hostname><port>1</port><socketType>SSL</socketType><authentication>OAuth2</authentication></incomingServer><enable visiturl="https://x.y/"><instruction>on</instruction></enable></emailProvider></clientConfig>`))
	f.Add([]byte("<?xml version=\"1.0\" encoding=\"latin1\"?><clientConfig>\xff</clientConfig>"))
	f.Add([]byte(`<html><body>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parseClientConfig(data, testAddr)
		if err != nil {
			return
		}
		for _, s := range []*Server{res.IMAP, res.SMTP} {
			if s == nil {
				continue
			}
			if s.Host == "" || cleanHost(s.Host) != s.Host {
				t.Errorf("host %q is not clean", s.Host)
			}
			if s.Port < 1 || s.Port > 65535 {
				t.Errorf("port %d", s.Port)
			}
			switch s.Security {
			case TLS, StartTLS, None:
			default:
				t.Errorf("security %q", s.Security)
			}
			switch s.UsernameForm {
			case UsernameEmail:
				if s.Username != testAddr.email {
					t.Errorf("username %q for form email", s.Username)
				}
			case UsernameLocalPart:
				if s.Username != testAddr.local {
					t.Errorf("username %q for form localpart", s.Username)
				}
			case UsernameOther:
				if len(s.Username) > 256 || !utf8.ValidString(s.Username) || !printable(s.Username) {
					t.Errorf("username %q", s.Username)
				}
			default:
				t.Errorf("username form %q", s.UsernameForm)
			}
		}
		if res.IMAP == nil {
			t.Error("no error and no IMAP server")
		}
		if res.Auth != AuthPassword && res.Auth != AuthOAuth {
			t.Errorf("auth %q", res.Auth)
		}
		if utf8.RuneCountInString(res.Hint) > 2*maxHintLen+200 || !utf8.ValidString(res.Hint) {
			t.Errorf("hint of %d runes: %q", utf8.RuneCountInString(res.Hint), res.Hint)
		}
	})
}
