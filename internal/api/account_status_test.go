package api_test

import (
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
)

// The account lists show each account's error reason, as the single views
// do (issue 10 point 8).
func TestAccountListsShowErrors(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	id := p.connectAnn()
	pim := p.connect(nil).ID()
	_, err := p.st.UpdateMailAccount(p.ctx, p.adminView, id, func(a *crm.MailAccount) error {
		a.State, a.ErrorCode, a.ErrorMessage = crm.StateAuthFailed, "auth_failed", "The server refused the password: reconnect."
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.st.UpdatePIMAccount(p.ctx, p.adminView, pim, func(a *crm.PIMAccount) error {
		a.State, a.ErrorCode, a.ErrorMessage = crm.StateUnreachable, "unreachable", "The server does not answer."
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, key, code string }{
		{"/api/v1/mail-accounts", "error", "auth_failed"},
		{"/api/v1/pim-accounts", "status", "unreachable"},
	} {
		l := p.mustCall(200, "GET", c.path, p.annToken, nil)
		if len(l.List) != 1 {
			t.Fatalf("%s: %s", c.path, l.Raw)
		}
		e, _ := l.List[0].(map[string]any)[c.key].(map[string]any)
		if e["code"] != c.code || e["message"] == "" || e["message"] == nil {
			t.Errorf("%s: the account's error is not shown: %s", c.path, l.Raw)
		}
	}
}
