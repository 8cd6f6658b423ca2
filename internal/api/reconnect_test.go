package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// eachMailDB runs test with a mailBundle (the fake connector, forwarding
// enabled) on SQLite and on PostgreSQL.
func eachMailDB(t *testing.T, test func(t *testing.T, m *mailBundle)) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		t.Parallel()
		db, _ := f(t)
		b := &bundle{t: t, st: db, clock: &clock{t: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
		b.orgID, b.admin, b.token = b.newOrg("Acme", "admin@acme.test")
		m := &mailBundle{bundle: b, fake: accountstest.NewMail(), ctx: context.Background(), secrets: []string{goodPassword}}
		b.srv = api.New(api.Config{Store: b.st, Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Now: b.clock.Now, Mail: m.fake, DropboxDomain: "in.crm.test"})
		m.ann, m.annToken = b.user("ann@acme.test", "member", 0)
		m.bob, m.bobToken = b.user("bob@acme.test", "member", 0)
		m.adminView = crm.Viewer{OrgID: b.orgID, UserID: b.admin, Role: crm.RoleAdmin}
		test(t, m)
		if p := m.leaks(b.logs.String()); p != "" {
			t.Errorf("a password is in the logs: %s", p)
		}
	})
}

// manualServers are servers typed by hand, unlike the organisation's.
var manualServers = map[string]any{
	"imap": map[string]any{"host": "imap.manual.test", "port": 1993, "security": "tls", "username": "ann.imap"},
	"smtp": map[string]any{"host": "smtp.manual.test", "port": 2465, "security": "tls", "username": "ann.smtp"},
}

func connectBody(extra map[string]any) map[string]any {
	body := map[string]any{"email": "ann@acme.test", "password": goodPassword}
	for k, v := range manualServers {
		body[k] = v
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// wantServers checks that an account's view has the manual servers.
func wantServers(t *testing.T, when string, r *resp) {
	t.Helper()
	st := obj(r.Body["settings"])
	imap, smtp := obj(st["imap"]), obj(st["smtp"])
	if imap["host"] != "imap.manual.test" || num(imap["port"]) != 1993 || imap["username"] != "ann.imap" ||
		smtp["host"] != "smtp.manual.test" || num(smtp["port"]) != 2465 || smtp["username"] != "ann.smtp" || st["source"] != "manual" {
		t.Errorf("%s: settings %v", when, st)
	}
}

// TestReconnectWithOnlyPassword: a mailbox with servers typed by hand,
// in an organisation whose mail service says otherwise (and does not
// answer), is reconnected and its password changed with the password
// alone: its IMAP and SMTP servers stay, it can still send.
func TestReconnectWithOnlyPassword(t *testing.T) {
	eachMailDB(t, func(t *testing.T, m *mailBundle) {
		id := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, connectBody(nil)).ID()
		m.mustCall(200, "PUT", "/api/v1/org/mail-service", m.token, map[string]any{
			"kind": "imap", "imap": map[string]any{"host": "imap.org.test"}})
		m.fake.FailHost["imap.org.test"] = &connerr.Error{Kind: connerr.Unreachable, Message: "imap.org.test does not answer."}
		path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)

		// A new password alone, connected (say the provider made the user change it).
		m.fake.SetPassword("second password")
		m.secrets = append(m.secrets, "second password", "third password")
		r := m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"password": "second password"})
		wantServers(t, "after a password change", r)
		if r.Body["can_send"] != true || r.Str("state") != "connecting" {
			t.Errorf("after a password change: %s", r.Raw)
		}
		if v := m.fake.LastVerify(t); v.Settings.IMAP.Host != "imap.manual.test" || v.Settings.SMTP == nil || v.Password != "second password" || v.SMTPPassword != "second password" {
			t.Errorf("verified %+v", v)
		}

		// Disconnected, then reconnected with only a new password.
		m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
		m.fake.SetPassword("third password")
		r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "third password"})
		if r.ID() != id || r.Body["can_send"] != true || r.Str("state") != "connecting" {
			t.Errorf("reconnected: %s", r.Raw)
		}
		wantServers(t, "reconnected", r)
		if v := m.fake.LastVerify(t); v.Settings.IMAP.Host != "imap.manual.test" || v.Settings.SMTP == nil || v.Settings.SMTP.Host != "smtp.manual.test" {
			t.Errorf("verified %+v", v)
		}
		a := m.account(id)
		if cred, err := m.st.GetCredential(m.ctx, m.orgID, a.CredentialID); err != nil || unseal(t, cred.ID, cred.Ciphertext) != "third password" {
			t.Errorf("credential: %v", err)
		}
		// New servers in the request still win.
		m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
		r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "third password",
			"smtp": map[string]any{"host": "smtp.other.test"}})
		if smtp := obj(obj(r.Body["settings"])["smtp"]); r.ID() != id || smtp["host"] != "smtp.other.test" || obj(obj(r.Body["settings"])["imap"])["host"] != "imap.manual.test" {
			t.Errorf("reconnected with a new SMTP server: %s", r.Raw)
		}
	})
}

// TestSMTPOwnPassword: an SMTP server whose password is not the
// mailbox's is verified and stored with its own, and each changes alone.
func TestSMTPOwnPassword(t *testing.T) {
	eachMailDB(t, func(t *testing.T, m *mailBundle) {
		const smtpPW, smtpPW2 = "smtp only secret", "smtp second secret"
		m.secrets = append(m.secrets, smtpPW, smtpPW2)
		m.fake.SetSMTPPassword(smtpPW)
		// With the mailbox's password, SMTP refuses: nothing is saved.
		m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, connectBody(nil)), 422, "auth_failed", "")
		if len(m.credentials()) != 0 {
			t.Fatal("a refused connection stored a credential")
		}
		withPW := map[string]any{"host": "smtp.manual.test", "port": 2465, "security": "tls", "username": "ann.smtp", "password": smtpPW}
		m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, connectBody(map[string]any{
			"imap": map[string]any{"host": "imap.manual.test", "password": smtpPW}})), 422, "invalid_value", "imap.password")
		r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, connectBody(map[string]any{"smtp": withPW}))
		id := r.ID()
		wantServers(t, "connected", r)
		if obj(obj(r.Body["settings"])["smtp"])["own_password"] != true || r.Body["can_send"] != true {
			t.Errorf("connected: %s", r.Raw)
		}
		if v := m.fake.LastVerify(t); v.Password != goodPassword || v.SMTPPassword != smtpPW {
			t.Errorf("verified %+v", v)
		}
		a := m.account(id)
		sealed := func() map[string]string {
			out := map[string]string{}
			for _, c := range m.credentials() {
				out[c.ID] = unseal(t, c.ID, c.Ciphertext)
			}
			return out
		}
		if got := sealed(); len(got) != 2 || got[a.CredentialID] != goodPassword || got[a.SMTPCredentialID()] != smtpPW {
			t.Errorf("credentials %v", got)
		}
		path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)

		// The mailbox's password alone: IMAP is logged in to, SMTP keeps its own.
		m.fake.SetPassword("imap second")
		m.secrets = append(m.secrets, "imap second")
		r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"password": "imap second"})
		if v := m.fake.LastVerify(t); v.Password != "imap second" || v.SMTPPassword != "" {
			t.Errorf("verified %+v", v)
		}
		if got := sealed(); got[a.CredentialID] != "imap second" || got[a.SMTPCredentialID()] != smtpPW || r.Body["can_send"] != true {
			t.Errorf("credentials %v, %s", got, r.Raw)
		}

		// SMTP's password alone: only SMTP is logged in to; a wrong one changes nothing.
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"smtp": map[string]any{"password": "wrong"}}), 422, "auth_failed", "")
		m.fake.SetSMTPPassword(smtpPW2)
		m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"smtp": map[string]any{"password": smtpPW2}})
		if v := m.fake.LastVerify(t); v.Password != "" || v.SMTPPassword != smtpPW2 || v.Settings.SMTP.Host != "smtp.manual.test" {
			t.Errorf("verified %+v", v)
		}
		if got := sealed(); got[a.CredentialID] != "imap second" || got[a.SMTPCredentialID()] != smtpPW2 {
			t.Errorf("credentials %v", got)
		}
		// Reconnecting with the mailbox's password keeps SMTP's own.
		m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
		r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "imap second"})
		if got := sealed(); r.ID() != id || r.Body["can_send"] != true || got[a.SMTPCredentialID()] != smtpPW2 || len(got) != 2 {
			t.Errorf("reconnected: %v %s", got, r.Raw)
		}
		// Without an SMTP server, its own password goes too.
		m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"smtp": nil, "password": "imap second"})
		if got := sealed(); len(got) != 1 || got[a.CredentialID] != "imap second" {
			t.Errorf("credentials after removing SMTP: %v", got)
		}
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"smtp": map[string]any{"password": smtpPW2}}), 422, "invalid_value", "smtp.password")
	})
}

// TestModeSwitch: a mailbox goes to forwarding mode and back, connected
// and on reconnection, as one account: same id, messages, links.
func TestModeSwitch(t *testing.T) {
	eachMailDB(t, func(t *testing.T, m *mailBundle) {
		t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
		id, _, msgs := m.inbox(mailFrom(1, "Hello from Carol", t0, "carol@client.test", "ann@acme.test"))
		carol := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Carol", "emails": []string{"carol@client.test"}}).ID()
		path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
		wantLink := []string{fmt.Sprintf("contact:%d:auto", carol)}
		before := m.account(id)

		// To forwarding mode: a dropbox, no sync, nothing to send with.
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"mode": "forward", "password": goodPassword}), 422, "invalid_value", "password")
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"mode": "fax"}), 422, "invalid_value", "mode")
		r := m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"mode": "forward"})
		addr := r.Str("dropbox_address")
		if r.ID() != id || r.Str("mode") != "forward" || !dropboxAddress.MatchString(addr) || r.Body["can_send"] != false || r.Str("state") != "synced" {
			t.Errorf("forward: %s", r.Raw)
		}
		if syncable(t, m.st, id) {
			t.Error("a mailbox switched to forwarding mode is still given to the sync loop")
		}
		if a := m.account(id); !before.Reconnects(a) || a.CredentialID != before.CredentialID {
			t.Errorf("the sync loop would not stop, or the credential went: %+v", a)
		}
		if got := m.links(m.annToken, msgs[0].ID); !slices.Equal(got, wantLink) {
			t.Errorf("links in forwarding mode: %v", got)
		}
		// A forwarded message arrives through the dropbox.
		fwd := mailFrom(0, "Forwarded from Carol", t0.Add(time.Hour), "carol@client.test", "ann@acme.test")
		fwd.RemoteID, fwd.Hash = "fwd:abc", "abc"
		stored, _, err := m.st.StoreForwarded(m.ctx, id, fwd)
		if err != nil {
			t.Fatal(err)
		}
		// Back to sync mode: the password is needed, the servers are kept.
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"mode": "sync"}), 422, "required", "password")
		m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"mode": "sync", "password": "wrong"}), 422, "auth_failed", "")
		r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"mode": "sync", "password": goodPassword})
		if r.ID() != id || r.Str("mode") != "sync" || r.Str("provider") != "imap" || r.Str("state") != "connecting" || r.Body["can_send"] != true {
			t.Errorf("sync: %s", r.Raw)
		}
		if a := m.account(id); a.Settings.IMAP == nil || *a.Settings.IMAP != *before.Settings.IMAP || !syncable(t, m.st, id) {
			t.Errorf("back in sync mode: %+v", a)
		}
		for _, e := range []int64{msgs[0].ID, stored.ID} {
			if got := m.links(m.annToken, e); !slices.Equal(got, wantLink) {
				t.Errorf("links of %d after switching back: %v", e, got)
			}
		}

		// Disconnected in sync mode, reconnected in forwarding mode: the same
		// account, with its dropbox address of before; and back again.
		m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
		r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "mode": "forward"})
		if r.ID() != id || r.Str("mode") != "forward" || r.Str("dropbox_address") != addr || r.Body["retained_until"] != nil {
			t.Errorf("reconnected in forwarding mode: %s", r.Raw)
		}
		m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
		r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword})
		if r.ID() != id || r.Str("mode") != "sync" || r.Body["can_send"] != true {
			t.Errorf("reconnected in sync mode: %s", r.Raw)
		}
		for _, e := range []int64{msgs[0].ID, stored.ID} {
			if got := m.links(m.annToken, e); !slices.Equal(got, wantLink) {
				t.Errorf("links of %d after reconnecting: %v", e, got)
			}
		}
	})
}
