package api_test

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// configure replaces m's server by one with a changed configuration, on
// the same store, clock, logs and connector.
func (m *mailBundle) configure(change func(*api.Config)) {
	m.t.Helper()
	cfg := api.Config{
		Store:  m.st,
		Logger: slog.New(slog.NewJSONHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:    m.clock.Now,
		Mail:   m.fake,
	}
	change(&cfg)
	m.srv = api.New(cfg)
}

func history(r *resp) []map[string]any {
	var out []map[string]any
	h, _ := r.Body["history"].([]any)
	for _, ev := range h {
		out = append(out, obj(ev))
	}
	return out
}

func syncable(t *testing.T, st store.Store, id int64) bool {
	t.Helper()
	due, err := st.SyncableAccounts(t.Context(), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(due, func(a crm.MailAccount) bool { return a.ID == id })
}

var dropboxAddress = regexp.MustCompile(`^([a-z2-7]{32})@in\.crm\.test$`)

func TestForwardingMode(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	post := func(token string, body map[string]any) *resp {
		t.Helper()
		return m.call("POST", "/api/v1/mail-accounts", token, body)
	}

	// Not enabled on this server: refused, saying why.
	r := post(m.annToken, map[string]any{"email": "ann@acme.test", "mode": "forward"})
	m.wantErr(r, 422, "forwarding_disabled", "mode")
	if _, _, msg := r.Err(); !strings.Contains(msg, "--dropbox-domain") {
		t.Errorf("message = %q", msg)
	}

	m.configure(func(c *api.Config) { c.DropboxDomain = " In.CRM.test. " })
	verified := m.fake.VerifyCount()
	r = m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": " Ann.Forward@Acme.test ", "mode": "forward"})
	id := r.ID()
	if r.Header.Get("Location") != fmt.Sprintf("/api/v1/mail-accounts/%d", id) {
		t.Errorf("Location = %q", r.Header.Get("Location"))
	}
	addr := r.Str("dropbox_address")
	match := dropboxAddress.FindStringSubmatch(addr)
	if r.Str("email") != "ann.forward@acme.test" || r.Str("mode") != "forward" || r.Str("provider") != "dropbox" || r.Str("state") != "synced" ||
		num(r.Body["user_id"]) != m.ann || r.Body["can_send"] != false || !strings.Contains(r.Str("send_status"), "forwarding mode") ||
		match == nil || !strings.Contains(r.Str("dropbox_status"), "Waiting for forwarded mail") || !strings.Contains(r.Str("dropbox_status"), addr) ||
		fmt.Sprint(r.Body["settings"]) != "map[]" {
		t.Errorf("created %s", r.Raw)
	}
	for _, k := range []string{"progress", "error", "retained_until", "disconnected_at", "password", "credential_id", "dropbox_token"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s in %s", k, r.Raw)
		}
	}
	if h := history(r); len(h) != 1 || h[0]["kind"] != "connected" || strings.Contains(fmt.Sprint(h), match[1]) {
		t.Errorf("history = %v", h)
	}
	// Nothing was logged in to, no credential stored.
	if m.fake.VerifyCount() != verified || len(m.credentials()) != 0 {
		t.Error("a forwarding-mode mailbox verified or stored a password")
	}
	a := m.account(id)
	if a.CredentialID != "" || a.DropboxToken != match[1] || a.Email != "ann.forward@acme.test" {
		t.Errorf("stored %+v", a)
	}
	if strings.Contains(m.logs.String(), match[1]) {
		t.Error("the dropbox token is in the logs")
	}
	if found, err := m.st.MailAccountByDropbox(m.ctx, match[1]); err != nil || found.ID != id {
		t.Errorf("MailAccountByDropbox = %+v, %v", found, err)
	}
	if syncable(t, m.st, id) {
		t.Error("a forwarding-mode mailbox is given to the sync loop")
	}

	// Each mailbox has its own address; an admin may create one for a user.
	other := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "ann@acme.test", "mode": "forward", "user_id": m.ann})
	if num(other.Body["user_id"]) != m.ann || other.Str("dropbox_address") == addr || !dropboxAddress.MatchString(other.Str("dropbox_address")) {
		t.Errorf("second mailbox: %s", other.Raw)
	}

	// Refusals.
	m.wantErr(post(m.annToken, map[string]any{"email": "x@acme.test", "mode": "forward", "password": goodPassword}), 422, "invalid_value", "password")
	m.wantErr(post(m.annToken, map[string]any{"email": "x@acme.test", "mode": "forward", "imap": map[string]any{"host": "imap.acme.test"}}), 422, "invalid_value", "imap")
	m.wantErr(post(m.annToken, map[string]any{"email": "x@acme.test", "mode": "forward", "smtp": map[string]any{"host": "smtp.acme.test"}}), 422, "invalid_value", "smtp")
	m.wantErr(post(m.token, map[string]any{"email": "x@acme.test", "mode": "forward", "allow_plaintext": true}), 422, "invalid_value", "allow_plaintext")
	m.wantErr(post(m.annToken, map[string]any{"email": "x@acme.test", "mode": "forward", "user_id": m.bob}), 403, "forbidden", "")
	m.wantErr(post(m.annToken, map[string]any{"mode": "forward"}), 422, "required", "email")
	m.wantErr(post(m.annToken, map[string]any{"email": "ANN.forward@acme.test", "mode": "forward"}), 409, "conflict", "email")
	m.wantErr(m.call("PATCH", fmt.Sprintf("/api/v1/mail-accounts/%d", id), m.annToken, map[string]any{"password": goodPassword}), 409, "conflict", "")
	if len(m.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts?user_id=%d", m.ann), m.token, nil).List) != 2 {
		t.Error("refusals created mailboxes")
	}

	// Forwarded mail shows in the status.
	e := mailFrom(0, "Fwd: Quote", time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC), "carol@client.test", "ann.forward@acme.test")
	if _, stored, err := m.st.StoreForwarded(m.ctx, id, e); err != nil || !stored {
		t.Fatalf("StoreForwarded: %v %v", stored, err)
	}
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
	r = m.mustCall(200, "GET", path, m.annToken, nil)
	if !strings.HasPrefix(r.Str("dropbox_status"), "Receiving forwarded mail (1 message so far)") || r.Str("dropbox_address") != addr || r.Body["progress"] != nil {
		t.Errorf("after a forwarded message: %s", r.Raw)
	}

	// A server without the dropbox domain says forwarding is off.
	m.configure(func(c *api.Config) {})
	r = m.mustCall(200, "GET", path, m.annToken, nil)
	if _, ok := r.Body["dropbox_address"]; ok || !strings.Contains(r.Str("dropbox_status"), "not enabled") {
		t.Errorf("without a dropbox domain: %s", r.Raw)
	}

	// Forwarding needs no mail connector; its retention is configurable.
	m.configure(func(c *api.Config) { c.Mail, c.DropboxDomain, c.Retention = nil, "in.crm.test", 7*24*time.Hour })
	m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "bob@acme.test", "mode": "forward"})

	// Disconnect and reconnect: the same mailbox, the same address.
	r = m.call("DELETE", path, m.annToken, nil)
	m.wantErr(r, 409, "confirmation_required", "confirm_data_loss")
	if _, _, msg := r.Err(); !strings.Contains(msg, "dropbox") || !strings.Contains(msg, "1 message and its links") || !strings.Contains(msg, "9 January 2030") {
		t.Errorf("message = %q", msg)
	}
	r = m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
	if r.Str("state") != "disconnected" || r.Str("retained_until") != "2030-01-09T09:00:00Z" || r.Str("dropbox_address") != addr ||
		!strings.HasPrefix(r.Str("dropbox_status"), "Disconnected") {
		t.Errorf("disconnected: %s", r.Raw)
	}
	m.configure(func(c *api.Config) { c.DropboxDomain = "in.crm.test" })
	// Reconnecting in the other mode reattaches too: TestModeSwitch.
	r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann.forward@acme.test", "mode": "forward"})
	if r.ID() != id || r.Str("state") != "synced" || r.Str("dropbox_address") != addr || r.Body["retained_until"] != nil ||
		history(r)[0]["message"] != "Reconnected; the 1 retained message and its links are kept." {
		t.Errorf("reconnected: %s", r.Raw)
	}
}

func TestDisconnectAndReconnect(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	m.configure(func(c *api.Config) { c.DropboxDomain = "in.crm.test" })
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	account, fence, msgs := m.inbox(
		mailFrom(1, "Hello from Carol", t0, "carol@client.test", "ann@acme.test"),
		mailFrom(2, "Order", t0.Add(time.Hour), "buyer@globex.test", "ann@acme.test"),
		mailFrom(3, "Carol again", t0.Add(2*time.Hour), "carol@client.test", "ann@acme.test"),
	)
	e1, e2, e3 := msgs[0].ID, msgs[1].ID, msgs[2].ID
	carol := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Carol", "emails": []string{"carol@client.test"}}).ID()
	globex := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Globex"}).ID()
	// A manual link and a manual unlink, made through the store as a
	// colleague's code would.
	annView := crm.Viewer{OrgID: m.orgID, UserID: m.ann, Role: crm.RoleMember}
	if err := m.st.SetLink(m.ctx, annView, e2, crm.LinkCompany, globex, true); err != nil {
		t.Fatal(err)
	}
	if err := m.st.SetLink(m.ctx, annView, e3, crm.LinkContact, carol, false); err != nil {
		t.Fatal(err)
	}
	wantLinks := map[int64][]string{
		e1: {fmt.Sprintf("contact:%d:auto", carol)},
		e2: {fmt.Sprintf("company:%d:manual", globex)},
		e3: {},
	}
	checkLinks := func(when string) {
		t.Helper()
		for id, want := range wantLinks {
			if got := m.links(m.annToken, id); !slices.Equal(got, want) {
				t.Errorf("%s: links of %d = %v, want %v", when, id, got, want)
			}
		}
		if got := m.timeline(m.annToken, "company_id", globex); !same(got, e2) {
			t.Errorf("%s: Globex's timeline = %v", when, got)
		}
	}
	checkLinks("before")
	before := m.account(account)
	folders, err := m.st.Folders(m.ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", account)

	// Without the confirmation: what would be lost, and nothing changes.
	r := m.call("DELETE", path, m.annToken, nil)
	m.wantErr(r, 409, "confirmation_required", "confirm_data_loss")
	if _, _, msg := r.Err(); msg != "Disconnecting stops the sync of ann@acme.test. Its 3 messages and their links stay visible until 1 February 2030, then are deleted for good; reconnecting the same address before then restores everything. To disconnect, confirm that you accept losing them after that date." {
		t.Errorf("message = %q", msg)
	}
	m.wantErr(m.call("DELETE", path+"?confirm_data_loss=false", m.annToken, nil), 409, "confirmation_required", "confirm_data_loss")
	m.wantErr(m.call("DELETE", path+"?confirm_data_loss=yes", m.annToken, nil), 400, "invalid_parameter", "confirm_data_loss")
	m.wantErr(m.call("DELETE", path+"?confirm=true", m.annToken, nil), 400, "invalid_parameter", "confirm")
	m.wantErr(m.call("DELETE", path+"?confirm_data_loss=true", m.bobToken, nil), 404, "not_found", "")
	m.wantErr(m.call("DELETE", "/api/v1/mail-accounts/9999?confirm_data_loss=true", m.annToken, nil), 404, "not_found", "")
	if r := m.mustCall(200, "GET", path, m.annToken, nil); r.Str("state") != "connecting" || r.Body["retained_until"] != nil || !syncable(t, m.st, account) {
		t.Errorf("an unconfirmed disconnection changed the mailbox: %s", r.Raw)
	}

	// Confirmed: the sync stops, the data is retained.
	r = m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
	if r.Str("state") != "disconnected" || r.Str("disconnected_at") != "2030-01-02T09:00:00Z" || r.Str("retained_until") != "2030-02-01T09:00:00Z" ||
		r.Body["can_send"] != false || !strings.Contains(r.Str("send_status"), "disconnected") {
		t.Errorf("disconnected: %s", r.Raw)
	}
	if h := history(r); h[0]["kind"] != "disconnected" || !strings.Contains(h[0]["message"].(string), "1 February 2030") {
		t.Errorf("history = %v", h)
	}
	if syncable(t, m.st, account) {
		t.Error("a disconnected mailbox is still given to the sync loop")
	}
	if _, err := m.st.GetCredential(m.ctx, m.orgID, before.CredentialID); err != nil {
		t.Errorf("the credential is gone during retention: %v", err)
	}
	// A sync loop mid-pass records a state: disconnected stays the truth.
	if err := m.st.RecordAccountStatus(m.ctx, fence, account, store.AccountStatus{State: crm.StateSynced}, nil); err != nil {
		t.Fatal(err)
	}
	if r := m.mustCall(200, "GET", path, m.annToken, nil); r.Str("state") != "disconnected" {
		t.Errorf("state after the loop's last write: %s", r.Str("state"))
	}
	// Messages and links stay visible.
	if r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages?account_id=%d", account), m.annToken, nil); !same(ids(r.List), e3, e2, e1) {
		t.Errorf("messages of the disconnected mailbox: %v", ids(r.List))
	}
	checkLinks("while disconnected")

	// Disconnecting again changes nothing, confirmed or not.
	m.clock.Advance(time.Hour)
	for _, p := range []string{path + "?confirm_data_loss=true", path} {
		if r := m.mustCall(200, "DELETE", p, m.annToken, nil); r.Str("retained_until") != "2030-02-01T09:00:00Z" || r.Str("state") != "disconnected" {
			t.Errorf("DELETE %s again: %s", p, r.Raw)
		}
	}
	r = m.mustCall(200, "GET", path, m.token, nil)
	if n := len(slices.DeleteFunc(history(r), func(ev map[string]any) bool { return ev["kind"] != "disconnected" })); n != 1 {
		t.Errorf("%d disconnection events", n)
	}
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": goodPassword}), 409, "conflict", "")

	// Reconnecting verifies the password like a first connection.
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "wrong"}), 422, "auth_failed", "")
	if a := m.account(account); a.DisconnectedAt == nil {
		t.Error("a refused reconnection reattached the mailbox")
	}
	m.fake.SetPassword("a new password")
	m.secrets = append(m.secrets, "a new password")
	r = m.mustCall(200, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "Ann@Acme.test", "password": "a new password"})
	if r.ID() != account || r.Str("state") != "connecting" || r.Body["retained_until"] != nil || r.Body["disconnected_at"] != nil || r.Header.Get("Location") != "" ||
		r.Body["can_send"] != true {
		t.Errorf("reconnected: %s", r.Raw)
	}
	if h := history(r); h[0]["kind"] != "reconnected" || h[0]["message"] != "Reconnected; the 3 retained messages and their links are kept." {
		t.Errorf("history = %v", h)
	}
	after := m.account(account)
	if after.CredentialID != before.CredentialID || len(m.credentials()) != 1 {
		t.Errorf("credential %q (was %q), %d credentials", after.CredentialID, before.CredentialID, len(m.credentials()))
	}
	cred, err := m.st.GetCredential(m.ctx, m.orgID, after.CredentialID)
	if err != nil || unseal(t, after.CredentialID, cred.Ciphertext) != "a new password" {
		t.Errorf("the new password is not sealed in the credential: %v", err)
	}
	if v := m.fake.LastVerify(t); v.Password != "a new password" || v.Settings.IMAP.Host != "imap.acme.test" {
		t.Errorf("verified %+v", v)
	}
	// The sync resumes where it stopped, with every link.
	again, err := m.st.Folders(m.ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(folders) {
		t.Errorf("folders and cursors changed:\n%+v\n%+v", folders, again)
	}
	if !syncable(t, m.st, account) {
		t.Error("the reconnected mailbox is not given to the sync loop")
	}
	checkLinks("after reconnecting")
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "a new password"}), 409, "conflict", "email")

	// After the retention, the maintenance job purges everything.
	m.mustCall(200, "DELETE", path+"?confirm_data_loss=true", m.annToken, nil)
	lease, err := m.st.ClaimLease(m.ctx, "maintenance", "leader", "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.st.PurgeExpiredAccounts(m.ctx, lease.Fence(), m.clock.Now()); err != nil || n != 0 {
		t.Fatalf("purged %d during retention (%v)", n, err)
	}
	m.clock.Advance(30*24*time.Hour + time.Minute)
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "a new password"}), 409, "conflict", "email")
	if n, err := m.st.PurgeExpiredAccounts(m.ctx, lease.Fence(), m.clock.Now()); err != nil || n != 1 {
		t.Fatalf("purged %d (%v)", n, err)
	}
	m.wantErr(m.call("GET", path, m.annToken, nil), 404, "not_found", "")
	for _, id := range []int64{e1, e2, e3} {
		m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages/%d", id), m.annToken, nil), 404, "not_found", "")
	}
	if r := m.mustCall(200, "GET", "/api/v1/messages", m.annToken, nil); len(r.List) != 0 {
		t.Errorf("messages after the purge: %s", r.Raw)
	}
	if got := m.timeline(m.annToken, "company_id", globex); !same(got) {
		t.Errorf("Globex's timeline after the purge = %v", got)
	}
	if len(m.credentials()) != 0 {
		t.Error("the credential survived the purge")
	}
	// The address can be connected anew.
	if r := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": "a new password"}); r.ID() == account {
		t.Error("the purged id came back")
	}
}
