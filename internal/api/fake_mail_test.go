package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// fakeMail is a MailConnector without a network: every server accepts one
// password, some hosts fail the way real ones do, discovery knows a few
// domains, and attachments are made up from the message.
type fakeMail struct {
	mu       sync.Mutex
	password string                    // the password every server accepts
	found    map[string]api.Discovery  // by domain
	failHost map[string]*connerr.Error // Verify fails with this for a host
	verified []verifyCall
	discover []string // addresses Discover was asked about

	// Attachment failures: attErr is returned after attErrAfter bytes of
	// the content (0: before writing anything).
	attErr      error
	attErrAfter int
	attCalls    []attCall
}

type verifyCall struct {
	Settings crm.MailSettings
	Password string
}

type attCall struct {
	AccountID, EmailID int64
	Index              int
}

const goodPassword = "correct horse battery staple"

func newFakeMail() *fakeMail {
	return &fakeMail{
		password: goodPassword,
		found: map[string]api.Discovery{
			"acme.test": {
				IMAP:   &crm.ServerSettings{Host: "imap.acme.test", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"},
				SMTP:   &crm.ServerSettings{Host: "smtp.acme.test", Port: 465, Security: "tls", Username: "%EMAILADDRESS%"},
				Source: "autoconfig-xml", Provider: "acme", Detail: "From https://autoconfig.acme.test/mail/config-v1.1.xml",
			},
			"nosmtp.test": {
				IMAP:   &crm.ServerSettings{Host: "imap.nosmtp.test", Port: 993, Security: "tls", Username: "%EMAILADDRESS%"},
				Source: "srv",
			},
		},
		failHost: map[string]*connerr.Error{
			"blocked.example": {Kind: connerr.Blocked, Message: "The provider refused this app: create an app password, or enable IMAP access in your account settings."},
			"badcert.example": {Kind: connerr.TLS, Message: "The server's certificate is not valid for badcert.example."},
			"down.example":    {Kind: connerr.Unreachable, Message: "down.example:993 could not be reached (connection refused)."},
			"busy.example":    {Kind: connerr.Throttled, Message: "The provider limits connections; try again in a few minutes."},
			"odd.example":     {Kind: connerr.Protocol, Message: "The server answered something unexpected to LOGIN."},
		},
	}
}

func (f *fakeMail) setPassword(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = p
}

func (f *fakeMail) Discover(ctx context.Context, email string) (api.Discovery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discover = append(f.discover, email)
	_, domain, _ := strings.Cut(email, "@")
	d, ok := f.found[domain]
	if !ok {
		return api.Discovery{}, api.ErrSettingsNotFound
	}
	// Like the real discoverer, usernames come expanded.
	for _, s := range []**crm.ServerSettings{&d.IMAP, &d.SMTP} {
		if *s != nil {
			c := **s
			c.Username = strings.ReplaceAll(c.Username, "%EMAILADDRESS%", email)
			*s = &c
		}
	}
	return d, nil
}

func (f *fakeMail) Verify(ctx context.Context, s crm.MailSettings, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified = append(f.verified, verifyCall{Settings: s, Password: password})
	for _, srv := range []*crm.ServerSettings{s.IMAP, s.SMTP} {
		if srv == nil {
			continue
		}
		if e, ok := f.failHost[srv.Host]; ok {
			return e
		}
		if password != f.password {
			return &connerr.Error{Kind: connerr.Auth, Message: "The server says the password for " + srv.Username + " is incorrect."}
		}
	}
	return nil
}

// sealPrefix marks the fake's ciphertexts; the password bytes after it are
// scrambled so that a test can tell a sealed password from a plain one.
const sealPrefix = "fake-sealed:"

func (f *fakeMail) Seal(credentialID string, password []byte) ([]byte, error) {
	out := []byte(sealPrefix + credentialID + ":")
	for _, c := range password {
		out = append(out, c^0x5a)
	}
	return out, nil
}

func unseal(t *testing.T, credentialID string, ct []byte) string {
	t.Helper()
	rest, ok := bytes.CutPrefix(ct, []byte(sealPrefix+credentialID+":"))
	if !ok {
		t.Fatalf("ciphertext %q is not bound to credential %s", ct, credentialID)
	}
	out := make([]byte, len(rest))
	for i, c := range rest {
		out[i] = c ^ 0x5a
	}
	return string(out)
}

// attachmentContent is what the fake streams for attachment n of e.
func attachmentContent(e crm.Email, n int) string {
	return fmt.Sprintf("content of attachment %d of %q\n", n, e.Subject)
}

func (f *fakeMail) Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error {
	f.mu.Lock()
	f.attCalls = append(f.attCalls, attCall{AccountID: a.ID, EmailID: e.ID, Index: index})
	attErr, after := f.attErr, f.attErrAfter
	f.mu.Unlock()
	content := attachmentContent(e, index)
	if attErr != nil {
		if after > 0 {
			_, _ = io.WriteString(w, content[:min(after, len(content))])
		}
		return attErr
	}
	_, err := io.WriteString(w, content)
	return err
}

func (f *fakeMail) lastVerify(t *testing.T) verifyCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verified) == 0 {
		t.Fatal("Verify was never called")
	}
	return f.verified[len(f.verified)-1]
}

func (f *fakeMail) verifyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verified)
}

// mailBundle is a bundle whose server has the fake connector, with a member
// (ann) and a colleague of hers (bob).
type mailBundle struct {
	*bundle
	fake      *fakeMail
	ann, bob  int64
	annToken  string
	bobToken  string
	secrets   []string // never to appear in an answer or a log
	ctx       context.Context
	adminView crm.Viewer
}

func setupMail(t *testing.T) *mailBundle {
	t.Helper()
	b := setup(t)
	m := &mailBundle{bundle: b, fake: newFakeMail(), ctx: context.Background(), secrets: []string{goodPassword}}
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
