package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
)

// TestWrongPortOrSSL: the everyday mistakes in manual settings — SSL off
// against an SSL port, SSL on against a plain one, the SMTP port typed for
// IMAP and the reverse, a web server — answer 422 with words that say
// which setting to change (issue 13 point 5), against a real Dovecot
// where one is involved. The ones the bytes tell come from the first
// bytes the server sends (package portcheck), not from a timeout.
func TestWrongPortOrSSL(t *testing.T) {
	t.Parallel()
	dc := dovecot.Start(t, &dovecot.Options{Users: 1})
	user, pass := dc.User(1)
	smtpLike := scriptedIMAP(t, nil) // greets like SMTP
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	webPort, _ := strconv.Atoi(web.URL[strings.LastIndex(web.URL, ":")+1:])

	imapAt := func(port int, security string) map[string]any {
		return map[string]any{"host": "127.0.0.1", "port": port, "security": security, "username": user}
	}
	for _, tc := range []struct {
		name       string
		imap, smtp map[string]any
		code       string
		words      string
	}{
		{"SSL off against the IMAP SSL port", imapAt(dc.TLSPort, "none"), nil,
			"tls_error", fmt.Sprintf("Port %d of 127.0.0.1 expects SSL: turn SSL on (usually port 993 for IMAP, 465 for SMTP).", dc.TLSPort)},
		{"SSL on against the plain IMAP port", imapAt(dc.Port, "tls"), nil,
			"tls_error", fmt.Sprintf("Port %d of 127.0.0.1 does not use SSL: turn SSL off (or choose STARTTLS), or use port 993.", dc.Port)},
		{"an SMTP server on the IMAP setting", imapAt(smtpLike.Port, "none"), nil,
			"protocol", "is an SMTP server, not an IMAP server: check the IMAP port (usually 993 with SSL)."},
		{"a web server on the IMAP setting", imapAt(webPort, "none"), nil,
			"protocol", "is a web server, not an IMAP server: check the IMAP port"},
		{"a web server on the IMAP setting, with SSL", imapAt(webPort, "tls"), nil,
			"protocol", "is a web server, not an IMAP server"},
		{"the IMAP port on the SMTP setting", imapAt(dc.Port, "none"), imapAt(dc.Port, "none"),
			"protocol", fmt.Sprintf("Sending (SMTP): The server on port %d of 127.0.0.1 is an IMAP server, not an SMTP server: check the SMTP port (usually 465 with SSL).", dc.Port)},
		{"the IMAP port on the SMTP setting, with SSL", imapAt(dc.Port, "none"), imapAt(dc.Port, "tls"),
			"protocol", "is an IMAP server, not an SMTP server: check the SMTP port"},
		{"SSL off against the SMTP setting's SSL port", imapAt(dc.Port, "none"), imapAt(dc.TLSPort, "none"),
			"tls_error", "expects SSL: turn SSL on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := setupWired(t, testPeers) // its own login limits
			body := map[string]any{"email": "ann@acme.test", "password": pass, "imap": tc.imap}
			if tc.smtp != nil {
				body["smtp"] = tc.smtp
			}
			r := p.call("POST", "/api/v1/mail-accounts", p.annToken, body)
			code, _, msg := r.Err()
			if r.Status != 422 || code != tc.code || !strings.Contains(msg, tc.words) {
				t.Fatalf("%d %s %q; want 422 %s saying %q\n%s", r.Status, code, msg, tc.code, tc.words, r.Raw)
			}
			if strings.Contains(msg, "greeting") || strings.Contains(msg, "will try again") {
				t.Errorf("the message blames the greeting or promises a retry: %s", msg)
			}
		})
	}
}
