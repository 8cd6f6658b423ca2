package api_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// goodPassword is the password the fake connectors accept.
const goodPassword = accountstest.GoodPassword

func unseal(t *testing.T, credentialID string, ct []byte) string {
	t.Helper()
	return accountstest.Unseal(t, credentialID, ct)
}

// mailBundle is a bundle whose server has the fake connector, with a member
// (ann) and a colleague of hers (bob).
type mailBundle struct {
	*bundle
	fake      *accountstest.Mail
	ann, bob  int64
	annToken  string
	bobToken  string
	secrets   []string // never to appear in an answer or a log
	ctx       context.Context
	adminView crm.Viewer
}

func setupMail(t *testing.T, opts ...bundleOpts) *mailBundle {
	t.Helper()
	b := setup(t, opts...)
	m := &mailBundle{bundle: b, fake: accountstest.NewMail(), ctx: context.Background(), secrets: []string{goodPassword}}
	b.srv = api.New(api.Config{
		Store:  b.st,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:    b.clock.Now,
		Mail:   m.fake,
	})
	m.ann, m.annToken = b.user("ann@acme.test", "member", 0)
	m.bob, m.bobToken = b.user("bob@acme.test", "member", 0)
	m.adminView = crm.Viewer{OrgID: b.orgID, UserID: b.admin, Role: crm.RoleAdmin}
	t.Cleanup(func() {
		if logs := b.logs.String(); m.leaks(logs) != "" {
			t.Errorf("a password is in the logs: %s", m.leaks(logs))
		}
	})
	return m
}

// leaks returns the first secret found in s.
func (m *mailBundle) leaks(s string) string {
	for _, p := range m.secrets {
		if strings.Contains(s, p) {
			return p
		}
	}
	return ""
}

// call serves a request and checks that no password is in the answer.
func (m *mailBundle) call(method, path, token string, body any) *resp {
	m.t.Helper()
	r := m.do(method, path, token, body)
	if p := m.leaks(string(r.Raw)); p != "" {
		m.t.Errorf("%s %s: the answer holds the password %q:\n%s", method, path, p, r.Raw)
	}
	return r
}

func (m *mailBundle) mustCall(want int, method, path, token string, body any) *resp {
	m.t.Helper()
	r := m.call(method, path, token, body)
	if r.Status != want {
		m.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// connectAnn connects ann@acme.test for Ann with autoconfigured settings.
func (m *mailBundle) connectAnn() int64 {
	m.t.Helper()
	return m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword}).ID()
}

// account reads an account as the store has it (with its credential id).
func (m *mailBundle) account(id int64) crm.MailAccount {
	m.t.Helper()
	a, err := m.st.GetMailAccount(m.ctx, m.adminView, id)
	if err != nil {
		m.t.Fatal(err)
	}
	return a
}

func (m *mailBundle) credentials() []store.Credential {
	m.t.Helper()
	cs, err := m.st.ListCredentials(m.ctx, "", 100)
	if err != nil {
		m.t.Fatal(err)
	}
	return cs
}

// lease takes an account's sync lease, as the sync loop does, and returns
// the fence its writes carry.
func (m *mailBundle) lease(accountID int64) store.Fence {
	m.t.Helper()
	l, err := m.st.ClaimLease(m.ctx, "mail", strconv.FormatInt(accountID, 10), "test-loop", time.Hour)
	if err != nil {
		m.t.Fatal(err)
	}
	return l.Fence()
}

// syncFolders records the server's folders as the sync loop would, and
// returns them by name.
func (m *mailBundle) syncFolders(f store.Fence, accountID int64, list ...store.FolderInfo) map[string]store.Folder {
	m.t.Helper()
	folders, err := m.st.SyncFolders(m.ctx, f, accountID, list, []string{"inbox", "sent"})
	if err != nil {
		m.t.Fatal(err)
	}
	out := map[string]store.Folder{}
	for _, fo := range folders {
		out[fo.Name] = fo
	}
	return out
}

func (m *mailBundle) save(f store.Fence, folder store.Folder, cur store.FolderCursor, msgs ...crm.Email) []crm.Email {
	m.t.Helper()
	if _, err := m.st.SaveMessages(m.ctx, f, folder.ID, cur, msgs); err != nil {
		m.t.Fatal(err)
	}
	return msgs
}

func obj(v any) map[string]any {
	o, _ := v.(map[string]any)
	return o
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}
