package flows

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/webtest"
)

// Sign in and out, in French on PostgreSQL and in Swedish on SQLite; a
// wrong password is said in the page's language; the language follows
// the browser until the user chooses one.
func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		lang     string
		postgres bool
		wrong    string
		welcome  string
		signOut  string
	}{
		{"fr", true, "L'e-mail ou le mot de passe est incorrect.", "Bienvenue, Ada Admin", "Se déconnecter"},
		{"sv", false, "E-postadressen eller lösenordet är fel.", "Välkommen, Ada Admin", "Logga ut"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			t.Parallel()
			s := webtest.Start(t, webtest.Options{Postgres: c.postgres})
			b := s.NewBrowser(t, c.lang)
			b.SignIn(s.Admin.Email, "not-the-password")
			b.WaitText(c.wrong, 5*time.Second)
			b.SignIn(s.Admin.Email, s.Admin.Password)
			b.WaitText(c.welcome, 5*time.Second)
			if v := b.Axe(); len(v) > 0 {
				t.Errorf("accessibility: %+v", v)
			}
			b.Screenshot("home-" + c.lang)
			// Chosen in the settings: Italian from now on, whatever the browser says.
			b.Go("/settings")
			b.Select(map[string]string{"fr": "Langue de l'application", "sv": "Appens språk"}[c.lang], "Italiano")
			b.Click(map[string]string{"fr": "Enregistrer", "sv": "Spara"}[c.lang])
			b.WaitText("Le tue impostazioni sono state salvate.", 5*time.Second)
			b.Click("Esci")
			b.WaitText(webtest.Labels[c.lang].Password, 5*time.Second) // nobody signed in: the browser's language
			b.Go("/")
			if !strings.Contains(b.URL(), "/login") {
				t.Fatalf("after signing out, / is %s", b.URL())
			}
			b.SignIn(s.Admin.Email, s.Admin.Password)
			b.WaitText("Benvenuto, Ada Admin", 5*time.Second)
		})
	}
}

// The session cookie is HttpOnly and SameSite; a form without the CSRF
// token is refused.
func TestSessionCookieAndCSRF(t *testing.T) {
	t.Parallel()
	s := webtest.Start(t, webtest.Options{})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.PostForm(s.URL+"/login", map[string][]string{"email": {s.Admin.Email}, "password": {s.Admin.Password}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("a sign-in without the CSRF token: %d", r.StatusCode)
	}
	// With the double-submit cookie and field, it works.
	r, err = c.Get(s.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	var csrf *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "crmsync_csrf" {
			csrf = ck
		}
	}
	if csrf == nil || !csrf.HttpOnly {
		t.Fatalf("the sign-in page set no CSRF cookie: %v", r.Cookies())
	}
	req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader("email="+s.Admin.Email+"&password="+s.Admin.Password+"&csrf="+csrf.Value))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrf)
	r, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "crmsync_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: %+v", sess)
	}
	// Signed in, a POST without the token is refused, even from the same site.
	req, _ = http.NewRequest("POST", s.URL+"/settings", strings.NewReader("language=fr"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(sess)
	r, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("settings without the CSRF token: %d", r.StatusCode)
	}
}
