package api_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func TestMailConnect(t *testing.T) {
	t.Parallel()
	m := setupMail(t)

	r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": " Ann@Acme.test ", "password": goodPassword, "mode": "sync"})
	id := r.ID()
	if got := r.Header.Get("Location"); got != fmt.Sprintf("/api/v1/mail-accounts/%d", id) {
		t.Errorf("Location = %q", got)
	}
	settings := obj(r.Body["settings"])
	imap, smtp := obj(settings["imap"]), obj(settings["smtp"])
	if r.Str("state") != "connecting" || r.Str("email") != "ann@acme.test" || num(r.Body["user_id"]) != m.ann || r.Str("mode") != "sync" ||
		settings["source"] != "autoconfig-xml" || imap["host"] != "imap.acme.test" || num(imap["port"]) != 993 || imap["username"] != "ann@acme.test" ||
		smtp["host"] != "smtp.acme.test" || r.Body["can_send"] != true {
		t.Errorf("created %s", r.Raw)
	}
	if h, _ := r.Body["history"].([]any); len(h) != 1 || obj(h[0])["kind"] != "connected" {
		t.Errorf("history = %v", r.Body["history"])
	}
	if f, ok := r.Body["folders"].([]any); !ok || len(f) != 0 {
		t.Errorf("folders = %v, want []", r.Body["folders"])
	}
	for _, k := range []string{"password", "credential_id", "progress", "error"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s in the answer: %s", k, r.Raw)
		}
	}
	// The server logged in with the settings it saved, before saving.
	v := m.fake.LastVerify(t)
	if v.Password != goodPassword || v.Settings.IMAP.Host != "imap.acme.test" || v.Settings.SMTP == nil {
		t.Errorf("verified %+v", v)
	}

	// The password is stored sealed, bound to the account's credential.
	a := m.account(id)
	cred, err := m.st.GetCredential(m.ctx, m.orgID, a.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(cred.Ciphertext, []byte(goodPassword)) || bytes.Contains(cred.Ciphertext, []byte(goodPassword)) {
		t.Errorf("credential stored in clear: %q", cred.Ciphertext)
	}
	if got := unseal(t, a.CredentialID, cred.Ciphertext); got != goodPassword {
		t.Errorf("sealed %q", got)
	}

	// Ann, the admin and the list see it; none of it shows the password.
	m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, nil)
	m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.token, nil)
	l := m.mustCall(200, "GET", "/api/v1/mail-accounts", m.annToken, nil)
	if fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{id}) {
		t.Errorf("list: %s", l.Raw)
	}
	l = m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts?user_id=%d&q=acme", m.ann), m.token, nil)
	if len(l.List) != 1 {
		t.Errorf("admin's filtered list: %s", l.Raw)
	}
	l = m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts?user_id=%d", m.bob), m.token, nil)
	if len(l.List) != 0 {
		t.Errorf("bob's mailboxes: %s", l.Raw)
	}
	m.wantErr(m.call("GET", "/api/v1/mail-accounts?cursor=nope", m.token, nil), 400, "invalid_cursor", "cursor")
	m.wantErr(m.call("GET", "/api/v1/mail-accounts?owner_id=1", m.token, nil), 400, "invalid_parameter", "owner_id")

	// The same address again is a conflict, and leaves no orphan credential.
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword}), 409, "conflict", "email")
	if n := len(m.credentials()); n != 1 {
		t.Errorf("%d credentials after the conflict, want 1", n)
	}
}

func TestMailConnectRefusals(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	post := func(token string, body map[string]any) *resp {
		t.Helper()
		return m.call("POST", "/api/v1/mail-accounts", token, body)
	}

	// Wrong password: the connector's words, and nothing stored.
	r := post(m.annToken, map[string]any{"email": "ann@acme.test", "password": "hunter2"})
	m.wantErr(r, 422, "auth_failed", "")
	if _, _, msg := r.Err(); msg != "The server says the password for ann@acme.test is incorrect." {
		t.Errorf("message = %q", msg)
	}
	if len(m.credentials()) != 0 || len(m.mustCall(200, "GET", "/api/v1/mail-accounts", m.token, nil).List) != 0 {
		t.Error("something was stored after a failed login")
	}

	// Each way a login fails has its code and the connector's message.
	for host, code := range map[string]string{
		"blocked.example": "provider_blocked", "badcert.example": "tls_error", "down.example": "unreachable",
		"busy.example": "throttled", "odd.example": "protocol",
	} {
		r := post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": host}})
		m.wantErr(r, 422, code, "")
		if _, _, msg := r.Err(); msg != m.fake.FailHost[host].Message {
			t.Errorf("%s: message %q", host, msg)
		}
	}
	if len(m.credentials()) != 0 {
		t.Error("credentials stored after failed logins")
	}

	// Nothing found: the client asks for manual settings.
	before := m.fake.VerifyCount()
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@nowhere.test", "password": goodPassword}), 422, "settings_not_found", "imap")
	if m.fake.VerifyCount() != before {
		t.Error("Verify called without settings")
	}

	// Validation.
	m.wantErr(post(m.annToken, map[string]any{"password": goodPassword}), 422, "required", "email")
	m.wantErr(post(m.annToken, map[string]any{"email": "not an address", "password": goodPassword}), 422, "invalid_value", "email")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test"}), 422, "required", "password")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "mode": "forward"}), 422, "forwarding_disabled", "mode")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "mode": "push"}), 422, "invalid_value", "mode")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"port": 993}}), 422, "required", "imap.host")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test", "security": "ssl"}}), 422, "invalid_value", "imap.security")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test", "port": 70000}}), 422, "invalid_value", "imap.port")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "http://imap.acme.test"}}), 422, "invalid_value", "imap.host")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test:993"}}), 422, "invalid_value", "imap.host")
	wantCode(t, post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test", "tls": true}}), 400, "unknown_field")
	wantCode(t, post(m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test", "port": "993"}}), 400, "invalid_type")
	m.wantErr(post(m.annToken, map[string]any{"email": "ann@acme.test", "pasword": goodPassword}), 400, "unknown_field", "pasword")
	if len(m.credentials()) != 0 {
		t.Error("credentials stored after refusals")
	}
}

func TestMailConnectManualSettings(t *testing.T) {
	t.Parallel()
	m := setupMail(t)

	// Defaults: security tls, port from security, username the address.
	r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{
		"email": "ann@nowhere.test", "password": goodPassword, "imap": map[string]any{"host": "IMAP.Nowhere.test"}})
	s := obj(r.Body["settings"])
	imap := obj(s["imap"])
	if s["source"] != "manual" || imap["host"] != "imap.nowhere.test" || num(imap["port"]) != 993 || imap["security"] != "tls" || imap["username"] != "ann@nowhere.test" {
		t.Errorf("settings %v", s)
	}
	// Without SMTP (given or found) the mailbox syncs but cannot send, and says so.
	if _, ok := s["smtp"]; ok || r.Body["can_send"] != false || !strings.Contains(r.Str("send_status"), "SMTP") {
		t.Errorf("no SMTP: %s", r.Raw)
	}
	if m.fake.Discovered() != nil {
		t.Errorf("Discover called with manual settings: %v", m.fake.Discovered())
	}

	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{
		"email": "ann2@nowhere.test", "password": goodPassword,
		"imap": map[string]any{"host": "mail.nowhere.test", "security": "starttls", "username": "ann2"},
		"smtp": map[string]any{"host": "mail.nowhere.test", "security": "starttls"}})
	s = obj(r.Body["settings"])
	imap, smtp := obj(s["imap"]), obj(s["smtp"])
	if num(imap["port"]) != 143 || imap["username"] != "ann2" || num(smtp["port"]) != 587 || smtp["username"] != "ann2@nowhere.test" || r.Body["can_send"] != true {
		t.Errorf("starttls settings %v", s)
	}

	// Found IMAP, given SMTP: the SMTP given wins.
	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{
		"email": "ann@nosmtp.test", "password": goodPassword, "smtp": map[string]any{"host": "relay.nosmtp.test", "port": 2525, "security": "starttls"}})
	s = obj(r.Body["settings"])
	if s["source"] != "srv" || obj(s["imap"])["host"] != "imap.nosmtp.test" || obj(s["smtp"])["host"] != "relay.nosmtp.test" || num(obj(s["smtp"])["port"]) != 2525 {
		t.Errorf("found IMAP, given SMTP: %v", s)
	}
	// Found IMAP only: syncs, cannot send.
	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "bob@nosmtp.test", "password": goodPassword})
	if r.Body["can_send"] != false {
		t.Errorf("IMAP only: %s", r.Raw)
	}
}

func TestMailPlaintext(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	plain := func(host string) map[string]any {
		return map[string]any{"email": "ann@" + strings.Trim(host, "[]:") + ".test", "password": goodPassword, "imap": map[string]any{"host": host, "security": "none"}}
	}

	// Plain text across the network is refused, even for an admin who
	// does not say so.
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, plain("imap.acme.test")), 422, "plaintext_refused", "imap.security")
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.token, plain("imap.acme.test")), 422, "plaintext_refused", "imap.security")
	body := map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test"}, "smtp": map[string]any{"host": "smtp.acme.test", "security": "none"}}
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, body), 422, "plaintext_refused", "smtp.security")
	if m.fake.VerifyCount() != 0 {
		t.Error("a plain-text login was attempted")
	}

	// To this machine it crosses no network.
	for _, host := range []string{"127.0.0.1", "localhost", "::1", "[::1]"} {
		b := plain(host)
		b["email"] = "ann-" + strings.NewReplacer(".", "-", ":", "x", "[", "b", "]", "b").Replace(host) + "@local.test"
		r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, b)
		if imap := obj(obj(r.Body["settings"])["imap"]); num(imap["port"]) != 143 || imap["security"] != "none" || imap["host"] != strings.Trim(host, "[]") {
			t.Errorf("%s: %s", host, r.Raw)
		}
	}

	// Only an admin may allow it.
	b := plain("imap.acme.test")
	b["allow_plaintext"] = true
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, b), 403, "forbidden", "")
	b["user_id"] = m.ann
	r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.token, b)
	if obj(r.Body["settings"])["allow_plaintext"] != true || num(r.Body["user_id"]) != m.ann {
		t.Errorf("allowed by an admin: %s", r.Raw)
	}
	// And Ann may not lift it on her other mailboxes.
	id := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword}).ID()
	m.wantErr(m.call("PATCH", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, map[string]any{"allow_plaintext": true}), 403, "forbidden", "")
	m.wantErr(m.call("PATCH", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, map[string]any{
		"password": goodPassword, "imap": map[string]any{"host": "imap.acme.test", "security": "none"}}), 422, "plaintext_refused", "imap.security")
}

func TestMailOrgService(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	svc := map[string]any{"kind": "imap",
		"imap": map[string]any{"host": "mail.corp.test", "security": "starttls", "username": "%EMAILLOCALPART%"},
		"smtp": map[string]any{"host": "mail.corp.test", "security": "starttls"}}

	m.wantErr(m.call("GET", "/api/v1/org/mail-service", m.annToken, nil), 404, "not_found", "")
	m.wantErr(m.call("PUT", "/api/v1/org/mail-service", m.annToken, svc), 403, "forbidden", "")
	m.wantErr(m.call("DELETE", "/api/v1/org/mail-service", m.annToken, nil), 403, "forbidden", "")
	m.wantErr(m.call("PUT", "/api/v1/org/mail-service", m.token, map[string]any{"imap": svc["imap"]}), 422, "required", "kind")
	m.wantErr(m.call("PUT", "/api/v1/org/mail-service", m.token, map[string]any{"kind": "gmail", "imap": svc["imap"]}), 422, "invalid_value", "kind")
	m.wantErr(m.call("PUT", "/api/v1/org/mail-service", m.token, map[string]any{"kind": "imap"}), 422, "required", "imap")
	m.wantErr(m.call("PUT", "/api/v1/org/mail-service", m.token, map[string]any{"kind": "imap", "imap": map[string]any{"host": "mail.corp.test", "security": "none"}}),
		422, "plaintext_refused", "imap.security")

	r := m.mustCall(200, "PUT", "/api/v1/org/mail-service", m.token, svc)
	imap, smtp := obj(r.Body["imap"]), obj(r.Body["smtp"])
	if r.Str("kind") != "imap" || num(imap["port"]) != 143 || imap["username"] != "%EMAILLOCALPART%" || num(smtp["port"]) != 587 || smtp["username"] != "%EMAILADDRESS%" {
		t.Errorf("service %s", r.Raw)
	}
	r = m.mustCall(200, "GET", "/api/v1/org/mail-service", m.annToken, nil)
	if obj(r.Body["imap"])["host"] != "mail.corp.test" {
		t.Errorf("get service %s", r.Raw)
	}

	// Autoconfig now answers with the organisation's settings, expanded.
	r = m.mustCall(200, "GET", "/api/v1/autoconfig?email=Ann@Corp.test", m.annToken, nil)
	if r.Str("source") != "org" || obj(r.Body["imap"])["username"] != "ann" || obj(r.Body["smtp"])["username"] != "ann@corp.test" {
		t.Errorf("autoconfig with an org service: %s", r.Raw)
	}

	// A user connects with only an address and a password.
	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@corp.test", "password": goodPassword})
	s := obj(r.Body["settings"])
	if s["source"] != "org" || obj(s["imap"])["username"] != "ann" || obj(s["imap"])["host"] != "mail.corp.test" || obj(s["smtp"])["username"] != "ann@corp.test" {
		t.Errorf("connected with the org service: %s", r.Raw)
	}
	if v := m.fake.LastVerify(t); v.Settings.IMAP.Username != "ann" || v.Settings.SMTP.Username != "ann@corp.test" || v.Settings.Source != "org" {
		t.Errorf("verified with %+v %+v", v.Settings.IMAP, v.Settings.SMTP)
	}
	if len(m.fake.Discovered()) != 0 {
		t.Errorf("Discover called despite the org service: %v", m.fake.Discovered())
	}
	// Manual settings still win over the organisation's.
	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword, "imap": map[string]any{"host": "imap.acme.test"}})
	if obj(r.Body["settings"])["source"] != "manual" {
		t.Errorf("manual over org: %s", r.Raw)
	}

	// Another organisation is not affected.
	_, _, other := m.newOrg("Other", "admin@other.test")
	r = m.mustCall(200, "GET", "/api/v1/autoconfig?email=carl@acme.test", other, nil)
	if r.Str("source") != "autoconfig-xml" {
		t.Errorf("other org autoconfig: %s", r.Raw)
	}
	m.wantErr(m.call("GET", "/api/v1/org/mail-service", other, nil), 404, "not_found", "")

	// An admin can take it away; connected mailboxes keep their settings.
	m.mustCall(204, "DELETE", "/api/v1/org/mail-service", m.token, nil)
	m.wantErr(m.call("GET", "/api/v1/org/mail-service", m.annToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", "/api/v1/autoconfig?email=ann@corp.test", m.annToken, nil), 404, "settings_not_found", "")
}

func TestMailAutoconfig(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	r := m.mustCall(200, "GET", "/api/v1/autoconfig?email=ann@acme.test", m.annToken, nil)
	if r.Str("source") != "autoconfig-xml" || r.Str("provider") != "acme" || obj(r.Body["imap"])["host"] != "imap.acme.test" ||
		num(obj(r.Body["imap"])["port"]) != 993 || obj(r.Body["imap"])["security"] != "tls" || obj(r.Body["smtp"])["host"] != "smtp.acme.test" {
		t.Errorf("autoconfig: %s", r.Raw)
	}
	r = m.mustCall(200, "GET", "/api/v1/autoconfig?email=ann@nosmtp.test", m.annToken, nil)
	if v, ok := r.Body["smtp"]; !ok || v != nil {
		t.Errorf("no SMTP found should be smtp: null: %s", r.Raw)
	}
	m.wantErr(m.call("GET", "/api/v1/autoconfig?email=ann@nowhere.test", m.annToken, nil), 404, "settings_not_found", "")
	m.wantErr(m.call("GET", "/api/v1/autoconfig", m.annToken, nil), 400, "invalid_parameter", "email")
	m.wantErr(m.call("GET", "/api/v1/autoconfig?email=nope", m.annToken, nil), 400, "invalid_parameter", "email")
	m.wantErr(m.call("GET", "/api/v1/autoconfig?email=ann@acme.test&domain=acme.test", m.annToken, nil), 400, "invalid_parameter", "domain")
	m.wantErr(m.call("GET", "/api/v1/autoconfig?email=ann@acme.test", "", nil), 401, "unauthorized", "")
}

func TestMailAccountOwnership(t *testing.T) {
	t.Parallel()
	m := setupMail(t)

	// An admin connects a mailbox for Ann; it is hers.
	r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "ann@acme.test", "password": goodPassword, "user_id": m.ann})
	id := r.ID()
	if num(r.Body["user_id"]) != m.ann {
		t.Errorf("user_id = %v", r.Body["user_id"])
	}
	m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, nil)
	// The same address for another user is another mailbox.
	m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "ann@acme.test", "password": goodPassword})
	// A member connects only their own.
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "x@acme.test", "password": goodPassword, "user_id": m.ann}), 403, "forbidden", "")
	m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "bob@acme.test", "password": goodPassword, "user_id": m.bob})
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "x@acme.test", "password": goodPassword, "user_id": 0}), 422, "invalid_value", "user_id")
	// Someone of another organisation is not a user the admin may pick.
	_, otherAdmin, other := m.newOrg("Other", "admin@other.test")
	r = m.call("POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "x@acme.test", "password": goodPassword, "user_id": otherAdmin})
	if _, field, _ := r.Err(); r.Status != 422 || field != "user_id" {
		t.Errorf("user of another org: %d %s", r.Status, r.Raw)
	}
	if n := len(m.credentials()); n != 3 {
		t.Errorf("%d credentials for 3 mailboxes", n)
	}

	// Bob, a colleague, and another organisation see nothing of Ann's mailbox.
	for _, tok := range []string{m.bobToken, other} {
		path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
		m.wantErr(m.call("GET", path, tok, nil), 404, "not_found", "")
		m.wantErr(m.call("GET", path+"/folders", tok, nil), 404, "not_found", "")
		m.wantErr(m.call("PUT", path+"/folders", tok, map[string]any{"folders": []string{}}), 404, "not_found", "")
		m.wantErr(m.call("PATCH", path, tok, map[string]any{"password": goodPassword}), 404, "not_found", "")
		m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?account_id=%d", id), tok, nil), 404, "not_found", "")
	}
	if l := m.mustCall(200, "GET", "/api/v1/mail-accounts", other, nil); len(l.List) != 0 {
		t.Errorf("another org lists %s", l.Raw)
	}
	if l := m.mustCall(200, "GET", "/api/v1/mail-accounts", m.bobToken, nil); len(l.List) != 2 {
		t.Errorf("bob lists %s", l.Raw)
	}
	if l := m.mustCall(200, "GET", "/api/v1/mail-accounts", m.token, nil); len(l.List) != 3 {
		t.Errorf("the admin lists %s", l.Raw)
	}
	m.wantErr(m.call("GET", "/api/v1/mail-accounts/abc", m.token, nil), 400, "invalid_id", "id")
}

func TestMailAccountReconnect(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	id := m.connectAnn()
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
	a := m.account(id)
	before, err := m.st.GetCredential(m.ctx, m.orgID, a.CredentialID)
	if err != nil {
		t.Fatal(err)
	}

	// The password is changed on the server; the sync loop finds out.
	fence := m.lease(id)
	if err := m.st.RecordAccountStatus(m.ctx, fence, id, store.AccountStatus{State: crm.StateAuthFailed, ErrorCode: "auth_failed",
		ErrorMessage: "The server says the password is incorrect. Enter the new one.", Failures: 1},
		&store.AccountEvent{At: time.Now(), Kind: "error", Message: "auth_failed: incorrect password"}); err != nil {
		t.Fatal(err)
	}
	r := m.mustCall(200, "GET", path, m.annToken, nil)
	if r.Str("state") != "auth_failed" || obj(r.Body["error"])["code"] != "auth_failed" || !strings.Contains(obj(r.Body["error"])["message"].(string), "incorrect") {
		t.Errorf("auth_failed state: %s", r.Raw)
	}

	newPassword := "the new password 42"
	m.secrets = append(m.secrets, newPassword)
	m.fake.SetPassword(newPassword)
	// A wrong one is refused, and changes nothing.
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": goodPassword}), 422, "auth_failed", "")
	if c, _ := m.st.GetCredential(m.ctx, m.orgID, a.CredentialID); !bytes.Equal(c.Ciphertext, before.Ciphertext) {
		t.Error("credential changed by a refused password")
	}
	if m.account(id).State != crm.StateAuthFailed {
		t.Error("state changed by a refused password")
	}

	r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"password": newPassword})
	if r.Str("state") != "connecting" {
		t.Errorf("state after a new password: %s", r.Raw)
	}
	if _, ok := r.Body["error"]; ok {
		t.Errorf("error kept after reconnecting: %s", r.Raw)
	}
	hist, _ := r.Body["history"].([]any)
	if len(hist) != 3 || obj(hist[0])["kind"] != "settings" || obj(hist[2])["kind"] != "connected" {
		t.Errorf("history = %v", hist)
	}
	if v := m.fake.LastVerify(t); v.Password != newPassword || v.Settings.IMAP.Host != "imap.acme.test" {
		t.Errorf("verified %+v", v)
	}
	after := m.account(id)
	if after.CredentialID != a.CredentialID || after.Failures != 0 || after.NextAttemptAt != nil {
		t.Errorf("account after reconnect: %+v", after)
	}
	c, err := m.st.GetCredential(m.ctx, m.orgID, a.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c.Ciphertext, []byte(newPassword)) || unseal(t, a.CredentialID, c.Ciphertext) != newPassword {
		t.Errorf("credential after reconnect: %q", c.Ciphertext)
	}

	// New servers need the password: the server logs in before saving.
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"imap": map[string]any{"host": "imap2.acme.test"}}), 422, "required", "password")
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"smtp": nil}), 422, "required", "password")
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"imap": nil, "password": newPassword}), 422, "invalid_value", "imap")
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": nil}), 422, "invalid_value", "password")
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": ""}), 422, "required", "password")
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": newPassword, "imap": map[string]any{"host": "down.example"}}), 422, "unreachable", "")
	r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"password": newPassword, "imap": map[string]any{"host": "imap2.acme.test", "security": "starttls"}, "smtp": nil})
	s := obj(r.Body["settings"])
	if s["source"] != "manual" || obj(s["imap"])["host"] != "imap2.acme.test" || num(obj(s["imap"])["port"]) != 143 || s["smtp"] != nil || r.Body["can_send"] != false {
		t.Errorf("new settings: %s", r.Raw)
	}

	// Without a connector the server cannot verify anything.
	bare := setup(t)
	bare.wantErr(bare.do("PATCH", "/api/v1/mail-accounts/1", bare.token, map[string]any{"password": "x"}), 503, "unavailable", "")
}

func TestMailAccountStatus(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	id := m.connectAnn()
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
	fence := m.lease(id)
	folders := m.syncFolders(fence, id, store.FolderInfo{Name: "INBOX", Role: "inbox"}, store.FolderInfo{Name: "Sent", Role: "sent"}, store.FolderInfo{Name: "Lists"})

	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	m.save(fence, folders["INBOX"], store.FolderCursor{Token: "t", Syncing: true, ServerCount: 40},
		testEmail(1, 1, "one", t0), testEmail(1, 2, "two", t0.Add(time.Hour)))
	if err := m.st.RecordAccountStatus(m.ctx, fence, id, store.AccountStatus{State: crm.StateInitialSync, ProgressDone: 2, ProgressTotal: 40}, nil); err != nil {
		t.Fatal(err)
	}
	r := m.mustCall(200, "GET", path, m.annToken, nil)
	if r.Str("state") != "initial_sync" || fmt.Sprint(r.Body["progress"]) != "map[done:2 total:40]" {
		t.Errorf("initial sync: %s", r.Raw)
	}
	byName := map[string]map[string]any{}
	for _, f := range r.Body["folders"].([]any) {
		byName[obj(f)["name"].(string)] = obj(f)
	}
	if in := byName["INBOX"]; in["selected"] != true || in["role"] != "inbox" || num(in["messages"]) != 2 || num(in["server_messages"]) != 40 {
		t.Errorf("INBOX: %v", in)
	}
	if l := byName["Lists"]; l["selected"] != false || num(l["messages"]) != 0 || len(byName) != 3 {
		t.Errorf("folders: %v", r.Body["folders"])
	}

	// Waiting to retry: when, and why.
	next := time.Date(2030, 1, 2, 9, 5, 0, 0, time.UTC)
	last := time.Date(2030, 1, 2, 8, 0, 0, 0, time.UTC)
	if err := m.st.RecordAccountStatus(m.ctx, fence, id, store.AccountStatus{State: crm.StateUnreachable, ErrorCode: "unreachable",
		ErrorMessage: "imap.acme.test could not be reached.", Failures: 2, LastSyncAt: &last, NextAttemptAt: &next},
		&store.AccountEvent{Kind: "error", Message: "unreachable"}); err != nil {
		t.Fatal(err)
	}
	r = m.mustCall(200, "GET", path, m.annToken, nil)
	if r.Str("state") != "unreachable" || r.Str("next_attempt_at") != "2030-01-02T09:05:00Z" || r.Str("last_sync_at") != "2030-01-02T08:00:00Z" ||
		obj(r.Body["error"])["code"] != "unreachable" {
		t.Errorf("unreachable: %s", r.Raw)
	}
	if _, ok := r.Body["progress"]; ok {
		t.Errorf("progress outside the initial sync: %s", r.Raw)
	}
	if h := r.Body["history"].([]any); len(h) != 2 || obj(h[0])["kind"] != "error" {
		t.Errorf("history: %v", h)
	}

	// Synced: no error shown even if the last one is still recorded.
	if err := m.st.RecordAccountStatus(m.ctx, fence, id, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &next}, nil); err != nil {
		t.Fatal(err)
	}
	r = m.mustCall(200, "GET", path, m.annToken, nil)
	if _, ok := r.Body["error"]; ok || r.Str("state") != "synced" || r.Body["next_attempt_at"] != nil {
		t.Errorf("synced: %s", r.Raw)
	}
}

func TestMailFolders(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	id := m.connectAnn()
	path := fmt.Sprintf("/api/v1/mail-accounts/%d/folders", id)

	r := m.mustCall(200, "GET", path, m.annToken, nil)
	if string(r.Raw) != "{\"data\":[]}\n" {
		t.Errorf("before the first sync: %s", r.Raw)
	}
	fence := m.lease(id)
	m.syncFolders(fence, id, store.FolderInfo{Name: "INBOX", Role: "inbox"}, store.FolderInfo{Name: "Sent", Role: "sent"},
		store.FolderInfo{Name: "Archive/2025", Role: "archive"}, store.FolderInfo{Name: "[Gmail]", NoSelect: true})
	selected := func(r *resp) string {
		var out []string
		for _, f := range r.List {
			if obj(f)["selected"] == true {
				out = append(out, obj(f)["name"].(string))
			}
		}
		return strings.Join(out, ",")
	}
	r = m.mustCall(200, "GET", path, m.annToken, nil)
	if len(r.List) != 3 || selected(r) != "INBOX,Sent" {
		t.Errorf("folders: %s", r.Raw)
	}

	r = m.mustCall(200, "PUT", path, m.annToken, map[string]any{"folders": []string{"INBOX", "Archive/2025"}})
	if selected(r) != "Archive/2025,INBOX" {
		t.Errorf("after selecting: %s", r.Raw)
	}
	if r = m.mustCall(200, "GET", path, m.annToken, nil); selected(r) != "Archive/2025,INBOX" {
		t.Errorf("selection not kept: %s", r.Raw)
	}
	m.wantErr(m.call("PUT", path, m.annToken, map[string]any{"folders": []string{"INBOX", "Nope"}}), 422, "not_found", "folders[1]")
	m.wantErr(m.call("PUT", path, m.annToken, map[string]any{}), 422, "required", "folders")
	m.wantErr(m.call("PUT", path, m.annToken, map[string]any{"folders": "INBOX"}), 400, "invalid_type", "folders")
	if r = m.mustCall(200, "GET", path, m.annToken, nil); selected(r) != "Archive/2025,INBOX" {
		t.Errorf("selection changed by a refused request: %s", r.Raw)
	}
	// An admin may choose too; an empty list syncs nothing.
	if r = m.mustCall(200, "PUT", path, m.token, map[string]any{"folders": []string{}}); selected(r) != "" {
		t.Errorf("nothing selected: %s", r.Raw)
	}
	m.wantErr(m.call("GET", "/api/v1/mail-accounts/999/folders", m.token, nil), 404, "not_found", "")
}

func TestMailWithoutConnector(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/autoconfig?email=ann@acme.test", nil},
		{"POST", "/api/v1/mail-accounts", map[string]any{"email": "admin@acme.test", "password": "x"}},
		{"PATCH", "/api/v1/mail-accounts/1", map[string]any{"password": "x"}},
		{"GET", "/api/v1/messages/1/attachments/0", nil},
	} {
		b.wantErr(b.do(c.method, c.path, b.token, c.body), 503, "unavailable", "")
	}
	// What is stored can still be read.
	b.must(200, "GET", "/api/v1/mail-accounts", b.token, nil)
	b.must(200, "GET", "/api/v1/messages", b.token, nil)
	b.wantErr(b.do("GET", "/api/v1/org/mail-service", b.token, nil), 404, "not_found", "")
}

// TestMailFoldersPaged: a mailbox with many folders answers its view in
// kilobytes (the synced folders first, then a count) and lists them all
// page by page.
func TestMailFoldersPaged(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	id := m.connectAnn()
	list := []store.FolderInfo{{Name: "INBOX", Role: "inbox"}}
	for i := 0; i < 249; i++ {
		list = append(list, store.FolderInfo{Name: fmt.Sprintf("Archive/%03d", i)})
	}
	m.syncFolders(m.lease(id), id, list...)
	view := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, nil)
	folders, _ := view.Body["folders"].([]any)
	if len(folders) != 100 || view.Body["folder_count"] != float64(250) || obj(folders[0])["name"] != "INBOX" {
		t.Fatalf("view: %d folders, count %v, first %v", len(folders), view.Body["folder_count"], folders[0])
	}
	path := fmt.Sprintf("/api/v1/mail-accounts/%d/folders?limit=100", id)
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		r := m.mustCall(200, "GET", path, m.annToken, nil)
		for _, f := range r.List {
			name := obj(f)["name"].(string)
			if seen[name] {
				t.Fatalf("%s listed twice", name)
			}
			seen[name] = true
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			if pages != 3 || len(seen) != 250 {
				t.Fatalf("%d folders in %d pages, want 250 in 3", len(seen), pages)
			}
			break
		}
		path = fmt.Sprintf("/api/v1/mail-accounts/%d/folders?limit=100&cursor=%s", id, next)
	}
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/mail-accounts/%d/folders?cursor=nope", id), m.annToken, nil), 400, "invalid_cursor", "cursor")
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/mail-accounts/%d/folders?limit=0", id), m.annToken, nil), 400, "invalid_parameter", "limit")
}

// TestMailSyncNow: "sync now" makes a mailbox waiting out a failure due at
// once and wakes its loop; a disconnected mailbox says so.
func TestMailSyncNow(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	var mu sync.Mutex
	var woken []int64
	m.srv = api.New(api.Config{Store: m.st, Logger: slog.New(slog.NewJSONHandler(m.logs, nil)), Now: m.clock.Now, Mail: m.fake,
		Wake: func(id int64) { mu.Lock(); woken = append(woken, id); mu.Unlock() }})
	id := m.connectAnn()
	later := m.clock.Now().Add(time.Hour)
	if _, err := m.st.UpdateMailAccount(m.ctx, m.adminView, id, func(a *crm.MailAccount) error {
		a.NextAttemptAt = &later
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/mail-accounts/%d/sync", id)
	r := m.mustCall(202, "POST", path, m.annToken, nil)
	if next, _ := time.Parse(time.RFC3339Nano, r.Str("next_attempt_at")); next.After(m.clock.Now()) {
		t.Fatalf("still waiting after sync now: %s", r.Raw)
	}
	mu.Lock()
	if !slices.Contains(woken, id) {
		t.Errorf("the loop was not woken: %v", woken)
	}
	mu.Unlock()
	m.wantErr(m.call("POST", fmt.Sprintf("/api/v1/mail-accounts/%d/sync", id+100), m.annToken, nil), 404, "not_found", "")
	m.mustCall(200, "DELETE", fmt.Sprintf("/api/v1/mail-accounts/%d?confirm_data_loss=true", id), m.annToken, nil)
	m.wantErr(m.call("POST", path, m.annToken, nil), 409, "conflict", "")
}
