package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// graphMessage is a small message from a client to Ann.
func graphMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: Client %d <client%d@example.com>\r\nTo: ann@acme.test\r\nSubject: graph message %d\r\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <graph-%d@example.com>\r\nContent-Type: text/plain\r\n\r\nHello %d\r\n", i, i, i, i, i))
}

// A user signs in with Microsoft through the API: a mail account of
// provider microsoft is created, the mail engine (through the real
// connector: the app's graph_url, the stored token set, the network
// guard) syncs its messages from the Graph fake, and signing in again,
// connected or disconnected, comes back to the same account.
func TestOAuthSignInConnectsAndSyncsMicrosoftMail(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupOAuth(t, opts)
		m := connectMicrosoft(t, o, func(g *graphfake.Graph) {
			for i := 1; i <= 5; i++ {
				g.AddMessage("inbox", graphMessage(i), i%2 == 0)
			}
			g.AddMessage("archive", graphMessage(10), true)
			g.AddMessage("junkemail", graphMessage(20), false) // not synced
		})
		id, g := m.id, m.g
		a := o.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), o.annToken, nil)
		if a.Str("provider") != "microsoft" || a.Str("mode") != "sync" || a.Str("email") != "ann@acme.test" || a.Str("state") != "connecting" {
			t.Errorf("account: %s", a.Raw)
		}
		for _, secret := range []string{"credential", "token"} {
			if strings.Contains(string(a.Raw), secret) {
				t.Errorf("the account shows its %s: %s", secret, a.Raw)
			}
		}

		// The mail engine over the connector the sync loops use.
		ctx := context.Background()
		m.run(t, nil)
		acct, err := o.st.MailAccountByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ann := crm.Viewer{OrgID: o.orgID, UserID: acct.UserID, Role: crm.RoleMember}
		page, err := o.st.ListEmails(ctx, ann, store.EmailFilter{ListParams: store.ListParams{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		subjects := map[string]bool{}
		for _, m := range page.Items {
			subjects[m.Subject] = true
		}
		if len(subjects) != 6 || !subjects["graph message 1"] || !subjects["graph message 10"] || subjects["graph message 20"] {
			t.Errorf("stored %v, want the inbox and the archive (no junk)", subjects)
		}
		if g.Stats().Requests == 0 {
			t.Error("Graph was not asked")
		}

		// Signing in again: the same account with the new token set, the
		// old one deleted.
		r := o.callback(o.signIn("mail"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id || r.Body["reattached"] != false {
			t.Fatalf("sign in again: %d %s", r.Status, r.Raw)
		}
		if n := o.oauthTokens(); n != 1 {
			t.Errorf("%d token sets after signing in again, want 1", n)
		}
		// Disconnected, then signed in again within the retention: the
		// same account, its messages kept.
		o.must(200, "DELETE", fmt.Sprintf("/api/v1/mail-accounts/%d?confirm_data_loss=true", id), o.annToken, nil)
		r = o.callback(o.signIn("mail"), "application/json")
		if r.Status != 200 || int64(r.Body["mail_account_id"].(float64)) != id || r.Body["reattached"] != true {
			t.Fatalf("reattach: %d %s", r.Status, r.Raw)
		}
		if page, err := o.st.ListEmails(ctx, ann, store.EmailFilter{ListParams: store.ListParams{Limit: 100}}); err != nil || len(page.Items) != 6 {
			t.Errorf("after reattaching: %d emails, %v", len(page.Items), err)
		}
		if n := o.oauthTokens(); n != 1 {
			t.Errorf("%d token sets after reattaching, want 1", n)
		}
	})
}
