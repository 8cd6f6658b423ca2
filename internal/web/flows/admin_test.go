package flows

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmsync/crmsync/internal/webtest"
)

// adminWords are the visible words the admin flow drives the pages by,
// in the test's language.
type adminWords struct {
	Admin, Users, Apps, Linking                  string
	Email, Name, Role, Manager, Member, RoleMgr  string
	Create, Created, Taken, Save, Saved          string
	Successor, Deactivate, Deactivated, Reactive string
	NoApp, ClientID, Secret, SaveApp, AppSaved   string
	Registered, Own, Freemail, LinkSaved, BadDom string
	Kept, NotFound                               string
}

var adminLangs = map[string]adminWords{
	"en": {
		Admin: "Administration", Users: "Users", Apps: "Microsoft and Google apps", Linking: "Linking rules and retention",
		Email: "Email", Name: "Name", Role: "Role", Manager: "Manager", Member: "Member", RoleMgr: "Manager",
		Create: "Add the user", Created: "The user was added.", Taken: "Another user already has this email.", Save: "Save", Saved: "The changes were saved.",
		Successor: "Who takes over their records", Deactivate: "Deactivate the user", Deactivated: "The user was deactivated.", Reactive: "Reactivate the user",
		NoApp: "No Microsoft app is registered yet", ClientID: "Client ID", Secret: "Client secret", SaveApp: "Save the Microsoft app", AppSaved: "The app was saved.",
		Registered: "Registered; last changed", Own: "Your organisation's own domains", Freemail: "More free-mail providers",
		LinkSaved: "The linking rules were saved.", BadDom: "“not_a_domain!” is not a domain.",
		Kept: "are kept for 30 days", NotFound: "This page does not exist, or you may not see it.",
	},
	"sv": {
		Admin: "Administration", Users: "Användare", Apps: "Appar för Microsoft och Google", Linking: "Kopplingsregler och lagring",
		Email: "E-post", Name: "Namn", Role: "Roll", Manager: "Chef", Member: "Medlem", RoleMgr: "Chef",
		Create: "Lägg till användaren", Created: "Användaren lades till.", Taken: "En annan användare har redan den här e-postadressen.", Save: "Spara", Saved: "Ändringarna sparades.",
		Successor: "Vem tar över posterna", Deactivate: "Inaktivera användaren", Deactivated: "Användaren inaktiverades.", Reactive: "Återaktivera användaren",
		NoApp: "Ingen app för Microsoft är registrerad än", ClientID: "Klient-ID", Secret: "Klienthemlighet", SaveApp: "Spara appen för Microsoft", AppSaved: "Appen sparades.",
		Registered: "Registrerad; senast ändrad", Own: "Organisationens egna domäner", Freemail: "Fler gratis e-posttjänster",
		LinkSaved: "Kopplingsreglerna sparades.", BadDom: "”not_a_domain!” är inte en domän.",
		Kept: "sparas dess meddelanden och deras kopplingar i 30 dagar", NotFound: "Sidan finns inte, eller så får du inte se den.",
	},
}

// wait bounds each wait for a page's words: generous, since the flows
// share a busy machine.
const wait = 20 * time.Second

type apiUser struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	ManagerID *int64 `json:"manager_id"`
	Active    bool   `json:"active"`
}

// An admin adds a user with a manager, changes their role, deactivates
// them with a successor, registers the Microsoft app (whose secret is
// never shown back) and edits the linking rules: in English on SQLite
// and in Swedish on PostgreSQL. Every page passes axe.
func TestAdminPages(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		lang     string
		postgres bool
	}{{"en", false}, {"sv", true}} {
		t.Run(c.lang, func(t *testing.T) {
			t.Parallel()
			w := adminLangs[c.lang]
			s := webtest.Start(t, webtest.Options{Postgres: c.postgres})
			mona := s.NewUser("mona@acme.test", "Mona Manager", "manager")
			b := s.NewBrowser(t, c.lang)
			b.SignIn(s.Admin.Email, s.Admin.Password)
			// axe on every page in English; in Swedish on two (the
			// words change, not the markup).
			axe := func(page string) {
				t.Helper()
				b.Screenshot("admin-" + page + "-" + c.lang)
				if c.lang != "en" && page != "index" && page != "users" {
					return
				}
				if v := b.AxeWithin(90 * time.Second); len(v) > 0 {
					t.Errorf("accessibility of %s: %+v", page, v)
				}
			}

			b.Click(w.Admin)
			b.WaitText(w.Linking, wait)
			for _, href := range []string{"/admin/users", "/admin/oauth", "/admin/linking", "/admin/mail-service", "/admin/sso", "/admin/security"} {
				if n := evalInt(t, b, fmt.Sprintf(`document.querySelectorAll('main a[href=%q]').length`, href)); n != 1 {
					t.Errorf("the index links %s %d times", href, n)
				}
			}
			axe("index")

			// A new user, managed by Mona.
			b.Click(w.Users)
			b.Fill(w.Email, "nils@acme.test")
			b.Fill(w.Name, "Nils Newcomer")
			b.Select(w.Role, w.Member)
			b.Select(w.Manager, "Mona Manager (mona@acme.test)")
			b.Click(w.Create)
			b.WaitText(w.Created, wait)
			nils := findUser(t, s, "nils@acme.test")
			if nils.Role != "member" || nils.ManagerID == nil || *nils.ManagerID != mona.ID {
				t.Fatalf("created: %+v, want a member managed by %d", nils, mona.ID)
			}
			axe("user")
			// The same email again is refused, in words.
			b.Go("/admin/users")
			b.Fill(w.Email, "NILS@acme.test")
			b.Fill(w.Name, "Nils Again")
			b.Click(w.Create)
			b.WaitText(w.Taken, wait)
			axe("users")

			// Their role changes.
			b.Go(fmt.Sprintf("/admin/users/%d", nils.ID))
			b.Select(w.Role, w.RoleMgr)
			b.Click(w.Save)
			b.WaitText(w.Saved, wait)
			if u := findUser(t, s, "nils@acme.test"); u.Role != "manager" || u.ManagerID == nil || *u.ManagerID != mona.ID {
				t.Errorf("after the role change: %+v", u)
			}

			// Nils leaves; Mona takes over his company.
			var co struct{ ID int64 }
			s.MustAPI("POST", "/api/v1/companies", s.Admin.Token, map[string]any{"name": "Globex", "owner_id": nils.ID}, &co)
			b.Select(w.Successor, "Mona Manager (mona@acme.test)")
			b.Click(w.Deactivate)
			b.WaitText(w.Deactivated, wait)
			b.WaitText(w.Reactive, wait)
			if u := findUser(t, s, "nils@acme.test"); u.Active {
				t.Errorf("still active after deactivation: %+v", u)
			}
			var company struct {
				OwnerID int64 `json:"owner_id"`
			}
			s.MustAPI("GET", fmt.Sprintf("/api/v1/companies/%d", co.ID), s.Admin.Token, nil, &company)
			if company.OwnerID != mona.ID {
				t.Errorf("the company's owner is %d, want the successor %d", company.OwnerID, mona.ID)
			}
			b.Screenshot("admin-user-deactivated-" + c.lang)
			if c.lang == "en" {
				// Deleted for good, with the successor: the button waits
				// for the confirmation.
				b.Select("Who takes over their records and mailboxes", "Mona Manager (mona@acme.test)")
				if b.Enabled("Delete the user") {
					t.Errorf("the delete button works before the confirmation is ticked")
				}
				b.Check("I understand that Nils Newcomer is deleted for good", true)
				b.Click("Delete the user")
				b.WaitText("The user was deleted.", wait)
				if b.Has("Nils Newcomer") {
					t.Errorf("the list still shows the deleted user")
				}
			}

			// The Microsoft app: its secret is never shown back.
			const secret = "s3cret-Value-never-shown"
			b.Go("/admin/oauth")
			b.WaitText(w.NoApp, wait)
			b.Fill(w.ClientID, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc")
			b.Fill(w.Secret, secret)
			b.Click(w.SaveApp)
			b.WaitText(w.AppSaved, wait)
			b.WaitText(w.Registered, wait)
			if html := outerHTML(t, b); strings.Contains(html, secret) || !strings.Contains(html, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc") {
				t.Errorf("the page after saving shows the secret, or not the client id")
			}
			var app struct {
				ClientID string `json:"client_id"`
				Tenant   string `json:"tenant"`
			}
			s.MustAPI("GET", "/api/v1/org/oauth-apps/microsoft", s.Admin.Token, nil, &app)
			if app.ClientID != "0f1e2d3c-aaaa-bbbb-cccc-123456789abc" || app.Tenant != "organizations" {
				t.Errorf("the app through the API: %+v", app)
			}
			axe("oauth")

			// Linking rules: a bad domain is named; good ones are saved.
			b.Go("/admin/linking")
			b.WaitText(w.Kept, wait)
			b.Fill(w.Own, "acme.test\nnot_a_domain!")
			b.Click(w.Save)
			b.WaitText(w.BadDom, wait)
			b.Screenshot("admin-linking-error-" + c.lang)
			b.Fill(w.Own, "acme.test\nACME-group.test")
			b.Fill(w.Freemail, "mailbox.example")
			b.Click(w.Save)
			b.WaitText(w.LinkSaved, wait)
			var rules struct {
				Own      []string `json:"own_domains"`
				Freemail []string `json:"freemail_domains"`
			}
			s.MustAPI("GET", "/api/v1/org/linking", s.Admin.Token, nil, &rules)
			if !slices.Equal(rules.Own, []string{"acme.test", "acme-group.test"}) || !slices.Equal(rules.Freemail, []string{"mailbox.example"}) {
				t.Errorf("the rules through the API: %+v", rules)
			}
			axe("linking")

			// A member: the pages do not exist for them.
			max := s.NewUser("max@acme.test", "Max Member", "member")
			m := s.NewBrowser(t, c.lang)
			m.SignIn(max.Email, max.Password)
			m.WaitText("Max Member", wait)
			if m.Has(w.Admin) {
				t.Errorf("a member's menu shows %q", w.Admin)
			}
			for _, path := range []string{"/admin", "/admin/users", fmt.Sprintf("/admin/users/%d", nils.ID), "/admin/oauth", "/admin/linking"} {
				if st := evalInt(t, m, fmt.Sprintf(`fetch(%q).then(r => r.status)`, path)); st != 404 {
					t.Errorf("a member gets %d for %s, want 404", st, path)
				}
			}
			m.Go("/admin/users")
			m.WaitText(w.NotFound, wait)
			// Nor can they post to them.
			if st := evalInt(t, m, fmt.Sprintf(`fetch("/admin/users", {method: "POST", headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content, "Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`,
				url.Values{"email": {"sneaky@acme.test"}, "name": {"Sneaky"}, "role": {"admin"}}.Encode())); st != 404 {
				t.Errorf("a member's POST /admin/users: %d, want 404", st)
			}
			var list struct{ Data []apiUser }
			s.MustAPI("GET", "/api/v1/users?limit=100", s.Admin.Token, nil, &list)
			for _, u := range list.Data {
				if u.Email == "sneaky@acme.test" {
					t.Errorf("a member created a user")
				}
			}
		})
	}
}

// findUser finds a user by email through the API.
func findUser(t *testing.T, s *webtest.Stack, email string) apiUser {
	t.Helper()
	var list struct{ Data []apiUser }
	s.MustAPI("GET", "/api/v1/users?limit=100", s.Admin.Token, nil, &list)
	for _, u := range list.Data {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return apiUser{}
}

func evalInt(t *testing.T, b *webtest.Browser, js string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx(), 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return n
}

// outerHTML is the page's whole markup, input values included.
func outerHTML(t *testing.T, b *webtest.Browser) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx(), 10*time.Second)
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML + Array.from(document.querySelectorAll("input")).map(i => i.value).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	return html
}
