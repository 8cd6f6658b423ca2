package api_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
)

// TestMailServiceProbed: PUT /api/v1/org/mail-service checks the servers it
// names against a real Dovecot and SMTP server before saving: reachable
// ones with the right security are saved; a closed port or the wrong
// security is refused with the connector's words and nothing is saved.
func TestMailServiceProbed(t *testing.T) {
	t.Parallel()
	dv := dovecot.Start(t, nil)
	sm := smtptest.Start(t, nil)
	closed := closedPort(t)
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		m := setupMail(t, o)
		m.srv = api.New(api.Config{Store: m.st, Logger: slog.New(slog.NewJSONHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo})), Now: m.clock.Now,
			Mail: wiredMail{m.fake, &mailconn.Connector{Guard: testPeers, TLSConfig: dv.TLSConfig()}}})
		service := func(imapPort int, imapSec string, smtpPort int, smtpSec string) map[string]any {
			return map[string]any{"kind": "imap", "allow_plaintext": true,
				"imap": map[string]any{"host": dv.Host, "port": imapPort, "security": imapSec},
				"smtp": map[string]any{"host": sm.Host, "port": smtpPort, "security": smtpSec}}
		}
		r := m.mustCall(200, "PUT", "/api/v1/org/mail-service", m.token, service(dv.TLSPort, "tls", sm.Port, "none"))
		if num(obj(r.Body["imap"])["port"]) != int64(dv.TLSPort) {
			t.Fatalf("saved %s", r.Raw)
		}
		m.mustCall(200, "PUT", "/api/v1/org/mail-service", m.token, service(dv.Port, "starttls", sm.Port, "none"))

		for _, c := range []struct {
			name string
			body map[string]any
			code string
			says string
		}{
			{"closed IMAP port", service(closed, "tls", sm.Port, "none"), "unreachable", ""},
			{"TLS on the plain IMAP port", service(dv.Port, "tls", sm.Port, "none"), "", ""},
			{"closed SMTP port", service(dv.TLSPort, "tls", closed, "none"), "unreachable", "Sending (SMTP)"},
			{"TLS on the plain SMTP port", service(dv.TLSPort, "tls", sm.Port, "tls"), "", "Sending (SMTP)"},
			{"an IMAP server as SMTP", service(dv.TLSPort, "tls", dv.Port, "none"), "", "Sending (SMTP)"},
		} {
			r := m.call("PUT", "/api/v1/org/mail-service", m.token, c.body)
			code, _, msg := r.Err()
			if r.Status != 422 || (c.code != "" && code != c.code) || code == "" || !strings.Contains(msg, c.says) {
				t.Errorf("%s: %d %s", c.name, r.Status, r.Raw)
			}
		}
		// What was saved last still stands.
		if g := m.mustCall(200, "GET", "/api/v1/org/mail-service", m.token, nil); num(obj(g.Body["imap"])["port"]) != int64(dv.Port) {
			t.Errorf("a refused service was saved: %s", g.Raw)
		}
	})
}

// TestMailServiceProbeFails: a server the connector cannot reach is
// refused with its kind as the code (the fake connector).
func TestMailServiceProbeFails(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		m := setupMail(t, o)
		r := m.call("PUT", "/api/v1/org/mail-service", m.token, map[string]any{"kind": "imap", "imap": map[string]any{"host": "down.example", "security": "tls"}})
		if code, _, msg := r.Err(); r.Status != 422 || code != "unreachable" || !strings.Contains(msg, "down.example") {
			t.Errorf("down: %d %s", r.Status, r.Raw)
		}
		m.wantErr(m.call("GET", "/api/v1/org/mail-service", m.token, nil), 404, "not_found", "")
	})
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
