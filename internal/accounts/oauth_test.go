package accounts_test

import (
	"errors"
	"testing"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// putToken stores a stand-in for a sealed token set, as package oauth does.
func (e *env) putToken(id string) string {
	e.t.Helper()
	if err := e.st.PutCredential(e.ctx, store.Credential{ID: id, OrgID: e.admin.OrgID, Purpose: "oauth_token", Ciphertext: []byte("sealed")}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) credIDs() map[string]bool {
	out := map[string]bool{}
	for _, c := range e.credentials() {
		out[c.ID] = true
	}
	return out
}

func TestConnectOAuthCreatesReattachesAndReplacesTheTokenSet(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		req := accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "Ann@Acme.test", CredentialID: e.putToken("oauth-1"),
			Services: []string{"calendar", "mail"}}
		c, err := e.svc.ConnectOAuth(e.ctx, e.ann, req)
		if err != nil || c.MailAccount == nil || c.Reattached || len(c.Notes) != 0 || len(c.PIMAccounts) != 1 {
			t.Fatalf("connect: %+v %v", c, err)
		}
		cal := c.PIMAccounts[0]
		if cal.Kind != crm.PIMMicrosoft || cal.Service != crm.ServiceCalendar || cal.CredentialID != "oauth-1" || cal.Username != "ann@acme.test" ||
			cal.State != crm.StateConnecting || cal.UserID != e.ann.UserID {
			t.Errorf("calendar account %+v", cal)
		}
		a := *c.MailAccount
		if a.Provider != "microsoft" || a.Mode != crm.ModeSync || a.CredentialID != "oauth-1" || a.Email != "ann@acme.test" ||
			a.State != crm.StateConnecting || a.Settings.IMAP != nil || a.UserID != e.ann.UserID {
			t.Errorf("account %+v", a)
		}
		if len(e.wakes.mail) != 1 || e.mail.VerifyCount() != 0 {
			t.Errorf("wakes %v, verify %d", e.wakes.mail, e.mail.VerifyCount())
		}

		// Signing in again after the grant was revoked: same account, new
		// token set, failing no more; the old token set is deleted.
		if _, err := e.st.UpdateMailAccount(e.ctx, e.admin, a.ID, func(x *crm.MailAccount) error {
			x.State, x.ErrorCode, x.Failures = crm.StateAuthFailed, "auth_failed", 3
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.UpdatePIMAccount(e.ctx, e.admin, cal.ID, func(x *crm.PIMAccount) error {
			x.State, x.ErrorCode, x.Failures, x.Options.Collection = crm.StateAuthFailed, "auth_failed", 2, "AAMkCal"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		req.CredentialID = e.putToken("oauth-2")
		c, err = e.svc.ConnectOAuth(e.ctx, e.ann, req)
		if err != nil || c.MailAccount.ID != a.ID || c.MailAccount.CredentialID != "oauth-2" || c.MailAccount.State != crm.StateConnecting ||
			c.MailAccount.Failures != 0 || c.MailAccount.ErrorCode != "" {
			t.Fatalf("sign in again: %+v %v", c.MailAccount, err)
		}
		if p := c.PIMAccounts; len(p) != 1 || p[0].ID != cal.ID || p[0].CredentialID != "oauth-2" || p[0].State != crm.StateConnecting ||
			p[0].Failures != 0 || p[0].Options.Collection != "AAMkCal" {
			t.Fatalf("calendar signed in again: %+v", p)
		}
		if ids := e.credIDs(); ids["oauth-1"] || !ids["oauth-2"] {
			t.Errorf("credentials %v", ids)
		}

		// Disconnected and retained: reattached, same id.
		if _, err := e.svc.DisconnectMail(e.ctx, e.ann, a.ID, accounts.DisconnectRequest{ConfirmDataLoss: true, By: "ann"}); err != nil {
			t.Fatal(err)
		}
		req.CredentialID = e.putToken("oauth-3")
		c, err = e.svc.ConnectOAuth(e.ctx, e.ann, req)
		if err != nil || !c.Reattached || c.MailAccount.ID != a.ID || c.MailAccount.CredentialID != "oauth-3" || c.MailAccount.DisconnectedAt != nil {
			t.Fatalf("reattach: %+v %v", c.MailAccount, err)
		}
		if ids := e.credIDs(); ids["oauth-2"] || !ids["oauth-3"] {
			t.Errorf("credentials %v", ids)
		}
		if p := c.PIMAccounts; len(p) != 1 || p[0].ID != cal.ID || p[0].CredentialID != "oauth-3" {
			t.Errorf("calendar after the reattach: %+v", p)
		}
		if n := len(e.mailAccounts()); n != 1 {
			t.Errorf("%d accounts", n)
		}

		// A mailbox Bob connected with a password is not taken over; the
		// new token set is not kept.
		if _, _, err := e.svc.ConnectMail(e.ctx, e.bob, accounts.MailConnectionRequest{Email: "bob@acme.test", Password: accountstest.GoodPassword}); err != nil {
			t.Skipf("password connect: %v", err)
		}
		_, err = e.svc.ConnectOAuth(e.ctx, e.bob, accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "bob@acme.test",
			CredentialID: e.putToken("oauth-bob"), Services: []string{"mail"}})
		var ae *accounts.Error
		if !errors.As(err, &ae) || ae.Kind != accounts.ErrConflict {
			t.Errorf("over a password mailbox: %v", err)
		}
		if e.credIDs()["oauth-bob"] {
			t.Error("the refused token set was kept")
		}

		// Only PIM services: no mailbox, the contacts account keeps the
		// token set even when the mailbox of that address has a password.
		c, err = e.svc.ConnectOAuth(e.ctx, e.bob, accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "bob@acme.test",
			CredentialID: e.putToken("oauth-pim"), Services: []string{"contacts"}})
		if err != nil || c.MailAccount != nil || len(c.PIMAccounts) != 1 || c.PIMAccounts[0].Service != crm.ServiceContacts {
			t.Errorf("contacts only: %+v %v", c, err)
		}
		if !e.credIDs()["oauth-pim"] {
			t.Error("the token set of the contacts account was deleted")
		}
		// An unknown service is refused, naming the field.
		_, err = e.svc.ConnectOAuth(e.ctx, e.bob, accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "bob@acme.test",
			CredentialID: e.putToken("oauth-fax"), Services: []string{"fax"}})
		fieldError(t, err, "services", accounts.CodeInvalidValue)
	})
}

func TestSignedInPIMAccountsTakeNoPassword(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		_, err := e.svc.ConnectPIM(e.ctx, e.ann, accounts.PIMConnectionRequest{Kind: "microsoft", URL: "https://graph.microsoft.com", Username: "ann", Password: "x"})
		fieldError(t, err, "kind", accounts.CodeInvalidValue)

		c, err := e.svc.ConnectOAuth(e.ctx, e.ann, accounts.OAuthConnectionRequest{Provider: "google", Email: "ann@acme.test",
			CredentialID: e.putToken("g-1"), Services: []string{"calendar", "tasks"}})
		if err != nil || len(c.PIMAccounts) != 2 {
			t.Fatalf("connect: %+v %v", c, err)
		}
		cal, tasks := c.PIMAccounts[0], c.PIMAccounts[1]
		pw, u := "secret", "https://elsewhere.example/"
		for field, req := range map[string]accounts.PIMAccountModificationRequest{"password": {Password: &pw}, "url": {URL: &u}} {
			_, err := e.svc.UpdatePIM(e.ctx, e.ann, cal.ID, req)
			fieldError(t, err, field, accounts.CodeInvalidValue)
		}
		// Google events have no categories: a filter would select nothing.
		cats := []string{"Work"}
		_, err = e.svc.UpdatePIM(e.ctx, e.ann, cal.ID, accounts.PIMAccountModificationRequest{EventCategories: &cats})
		fieldError(t, err, "options.event_categories", accounts.CodeInvalidValue)
		_, err = e.svc.UpdatePIM(e.ctx, e.ann, tasks.ID, accounts.PIMAccountModificationRequest{EventCategories: &cats})
		fieldError(t, err, "options.event_categories", accounts.CodeInvalidValue)
		// The policy changes as for any account.
		policy := "crm_wins"
		if a, err := e.svc.UpdatePIM(e.ctx, e.ann, tasks.ID, accounts.PIMAccountModificationRequest{ConflictPolicy: &policy}); err != nil || a.Options.ConflictPolicy != "crm_wins" {
			t.Errorf("policy: %+v %v", a, err)
		}
	})
}

func TestSignedInMailboxesHaveNoPasswordOrServers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(e *env) {
		c, err := e.svc.ConnectOAuth(e.ctx, e.ann, accounts.OAuthConnectionRequest{Provider: "microsoft", Email: "ann@acme.test",
			CredentialID: e.putToken("m-1"), Services: []string{"mail"}})
		if err != nil {
			t.Fatal(err)
		}
		id := c.MailAccount.ID
		pw, fwd := "secret", crm.ModeForward
		for field, req := range map[string]accounts.MailAccountModificationRequest{
			"password": {Password: &pw}, "imap": {IMAP: &accounts.ServerSettingsRequest{Host: "imap.acme.test"}},
			"smtp": {RemoveSMTP: true}, "mode": {Mode: &fwd},
		} {
			_, err := e.svc.UpdateMail(e.ctx, e.ann, id, req)
			fieldError(t, err, field, accounts.CodeInvalidValue)
		}
		a, err := e.svc.UpdateMail(e.ctx, e.ann, id, accounts.MailAccountModificationRequest{})
		if err != nil || a.Provider != "microsoft" || a.CredentialID != "m-1" {
			t.Errorf("an empty change: %+v %v", a, err)
		}
	})
}
