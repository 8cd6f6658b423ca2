package accounts

import (
	"net"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
)

// ServerSettingsRequest is an IMAP or SMTP server as a user gives it:
// security defaults to tls, the port to the one of the security, the
// username to the account's address.
type ServerSettingsRequest struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	Username string `json:"username"`
	// Password is an SMTP server's own password, when it is not the
	// mailbox's (see SMTPPassword); an IMAP server logs in with the
	// mailbox's password.
	Password string `json:"password,omitempty"`
}

// Default ports by security.
var (
	imapPorts = map[string]int{"tls": 993, "starttls": 143, "none": 143}
	smtpPorts = map[string]int{"tls": 465, "starttls": 587, "none": 25}
)

// IMAPSettings validates an IMAP server given for field ("imap"), with
// defUser as the username when none is given. A nil r is nil.
func IMAPSettings(field string, r *ServerSettingsRequest, defUser string) (*crm.ServerSettings, error) {
	if r != nil && r.Password != "" {
		return nil, invalid(field+".password", "%s.password is not used: the IMAP server logs in with the mailbox's password, given in password.", field)
	}
	return serverSettings(field, r, defUser, imapPorts)
}

// SMTPSettings validates an SMTP server, as IMAPSettings. An SMTP server
// given with a password of its own is marked so (OwnPassword); the
// password itself is the caller's to seal (SMTPPassword).
func SMTPSettings(field string, r *ServerSettingsRequest, defUser string) (*crm.ServerSettings, error) {
	s, err := serverSettings(field, r, defUser, smtpPorts)
	if s != nil {
		s.OwnPassword = r.Password != ""
	}
	return s, err
}

// SMTPPassword is the SMTP server's own password in r, "" when it logs in
// with the mailbox's.
func SMTPPassword(r *ServerSettingsRequest) string {
	if r == nil {
		return ""
	}
	return r.Password
}

func serverSettings(field string, r *ServerSettingsRequest, defUser string, defPorts map[string]int) (*crm.ServerSettings, error) {
	if r == nil {
		return nil, nil
	}
	host := strings.ToLower(strings.TrimSpace(r.Host))
	if host == "" {
		return nil, required(field+".host", "%s.host is required: the server's name, like imap.example.com.", field)
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil {
		host = ip.String() // an IPv6 literal, with or without brackets: its colons are not a port
	} else if len(host) > 253 || strings.ContainsAny(host, " /:@[]") {
		return nil, invalid(field+".host", "%s.host must be a host name or IP address, like imap.example.com.", field)
	}
	sec := strings.ToLower(strings.TrimSpace(r.Security))
	if sec == "" {
		sec = "tls"
	}
	if sec != "tls" && sec != "starttls" && sec != "none" {
		return nil, invalid(field+".security", "%s.security must be one of tls, starttls, none.", field)
	}
	port := r.Port
	if port == 0 {
		port = defPorts[sec]
	}
	if port < 1 || port > 65535 {
		return nil, invalid(field+".port", "%s.port must be a TCP port from 1 to 65535.", field)
	}
	user := strings.TrimSpace(r.Username)
	if user == "" {
		user = defUser
	}
	return &crm.ServerSettings{Host: host, Port: port, Security: sec, Username: user}, nil
}

// expandUsername fills the placeholders an admin may use in the
// organisation's mail service (the Mozilla autoconfig ones).
func expandUsername(tmpl, email string) string {
	if tmpl == "" {
		return email
	}
	local, domain, _ := strings.Cut(email, "@")
	return strings.NewReplacer("%EMAILADDRESS%", email, "%EMAILLOCALPART%", local, "%EMAILDOMAIN%", domain).Replace(tmpl)
}

// WithUser is an organisation's server for one address: its username
// template filled in.
func WithUser(s *crm.ServerSettings, email string) *crm.ServerSettings {
	if s == nil {
		return nil
	}
	c := *s
	c.Username = expandUsername(c.Username, email)
	return &c
}

// isLoopback reports whether host is this machine, where a plain-text
// login crosses no network.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckPlaintext refuses settings that would send the password
// unencrypted to another machine, unless an admin allowed it.
func CheckPlaintext(st crm.MailSettings) error {
	if st.AllowPlaintext {
		return nil
	}
	for _, x := range []struct {
		field string
		s     *crm.ServerSettings
	}{{"imap", st.IMAP}, {"smtp", st.SMTP}} {
		if x.s != nil && x.s.Security == "none" && !isLoopback(x.s.Host) {
			return &FieldError{Code: CodePlaintextRefused, Field: x.field + ".security",
				Message: "The password would cross the network unencrypted. Use security tls or starttls; an admin may allow plain-text login (allow_plaintext) for a trusted network."}
		}
	}
	return nil
}
