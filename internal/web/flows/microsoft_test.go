package flows

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
	"github.com/crmsync/crmsync/internal/webtest"
)

// In English on PostgreSQL: a user connects their Microsoft 365 mailbox
// with "Sign in with Microsoft" (the Microsoft identity and Graph fakes:
// the provider's consent, the redirect back, the token exchange), and
// their Email settings show it reach Synced with its messages; the
// contacts, calendar and tasks services signed in together show on the
// address book and calendar page.
func TestSignInWithMicrosoft(t *testing.T) {
	t.Parallel()
	fake := graphfake.New()
	t.Cleanup(fake.Close)
	g := graphfake.NewGraph()
	g.CheckToken = func(tok string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, ok := fake.Identity.UserOf(r)
		return ok
	}
	fake.Mux.Handle("/v1.0/me/", g)
	for i := 1; i <= 12; i++ {
		g.AddMessage("inbox", []byte(fmt.Sprintf("From: Client %d <client%d@example.com>\r\nTo: ann@acme.test\r\nSubject: graph message %d\r\n"+
			"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <graph-%d@example.com>\r\nContent-Type: text/plain\r\n\r\nHello %d\r\n", i, i, i, i, i)), false)
	}

	s := webtest.Start(t, webtest.Options{Postgres: true, PublicURL: true})
	fake.Identity.AddApp(graphfake.App{ClientID: "web-client", ClientSecret: "web-secret", RedirectURI: s.URL + "/oauth/microsoft/callback"})
	s.MustAPI("PUT", "/api/v1/org/oauth-apps/microsoft", s.Admin.Token, map[string]any{"client_id": "web-client",
		"client_secret": "web-secret", "login_url": fake.LoginURL(), "graph_url": fake.GraphURL()}, nil)
	ann := s.NewUser("ann@acme.test", "Ann Seller", "member")
	fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	fake.Identity.SignInAs("ann@acme.test")

	b := s.NewBrowser(t, "en")
	b.SignIn(ann.Email, ann.Password)
	b.Go("/settings/email/new")
	b.Click("Sign in with Microsoft")
	// The provider consents and sends the browser back to crmsync.
	b.WaitText("Welcome, Ann Seller", 30*time.Second)
	b.Go("/settings/email")
	b.WaitText("ann@acme.test", 10*time.Second)
	b.WaitText("12 of 12 messages", 60*time.Second)
	b.WaitText("Synced", 30*time.Second)
	noAxe(t, b, "Email settings with a Microsoft mailbox")
	b.Screenshot("mail-microsoft-en")

	var msgs struct{ Data []struct{ Subject string } }
	s.MustAPI("GET", "/api/v1/messages?limit=50", ann.Token, nil, &msgs)
	if len(msgs.Data) != 12 {
		t.Fatalf("%d messages stored, want 12", len(msgs.Data))
	}
}
