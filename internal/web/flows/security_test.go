package flows

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/crmsync/crmsync/internal/webtest"
)

// totpCode is what an authenticator app with key shows at t.
func totpCode(t *testing.T, key string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(strings.ReplaceAll(key, " ", ""), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signOut clicks the menu's sign-out button and waits for the sign-in
// page.
func signOut(t *testing.T, b *webtest.Browser, label string) {
	t.Helper()
	b.Click(label)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.URL(), "/login") {
		if time.Now().After(deadline) {
			t.Fatalf("not signed out: %s", b.URL())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func noViolations(t *testing.T, b *webtest.Browser, page string) {
	t.Helper()
	if v := b.Axe(); len(v) > 0 {
		t.Errorf("accessibility of %s: %+v", page, v)
	}
}

// In French on PostgreSQL: a user turns two-factor authentication on
// (the key read from the page, the code computed as an app would), signs
// out, signs in again with a code, and then with a recovery code, which
// works once. The API asks for the code too.
func TestSecurityTwoFactor(t *testing.T) {
	t.Parallel()
	s := webtest.Start(t, webtest.Options{Postgres: true})
	u := s.NewUser("pat@acme.test", "Pat Martin", "member")
	b := s.NewBrowser(t, "fr")
	b.SignIn(u.Email, u.Password)
	b.WaitText("Bienvenue, Pat Martin", 15*time.Second)

	b.Go("/settings/security")
	b.WaitText("L'authentification à deux facteurs est désactivée.", 15*time.Second)
	noViolations(t, b, "the security page")
	b.Click("Configurer l'authentification à deux facteurs")
	b.WaitText("Ou saisissez cette clé dans l'application", 15*time.Second)
	key := b.TextOf("#totp-key")
	if len(strings.ReplaceAll(key, " ", "")) < 16 {
		t.Fatalf("manual key %q", key)
	}
	if alt := b.TextOf("img.security-qr") + ""; alt != "" {
		t.Errorf("the QR code image has text content %q", alt)
	}
	noViolations(t, b, "the enrolment")
	b.Fill("Code affiché par l'application", "000000")
	b.Click("Activer l'authentification à deux facteurs")
	b.WaitText("Le code est incorrect.", 15*time.Second)
	b.Fill("Code affiché par l'application", totpCode(t, key, time.Now()))
	b.Click("Activer l'authentification à deux facteurs")
	b.WaitText("L'authentification à deux facteurs est activée.", 15*time.Second)
	codes := strings.Fields(b.TextOf("#recovery-codes"))
	if len(codes) != 10 {
		t.Fatalf("recovery codes %q", codes)
	}
	noViolations(t, b, "the recovery codes")
	// Shown once.
	b.Go("/settings/security")
	b.WaitText("Il reste 10 codes de secours.", 15*time.Second)
	if b.Has(codes[0]) {
		t.Fatal("recovery codes shown again")
	}

	// The password alone no longer signs in, on the API either.
	if st, _ := s.API("POST", "/api/v1/login", "", map[string]any{"email": u.Email, "password": u.Password}, nil); st != 401 {
		t.Fatalf("API sign-in without the code: %d", st)
	}
	signOut(t, b, "Se déconnecter")
	b.SignIn(u.Email, u.Password)
	b.WaitText("Code de votre application d'authentification", 15*time.Second)
	if !strings.Contains(b.URL(), "/login/2fa") {
		t.Fatalf("after the password: %s", b.URL())
	}
	// Nothing is open yet.
	b.Go("/")
	if !strings.Contains(b.URL(), "/login") {
		t.Fatalf("signed in with the password alone: %s", b.URL())
	}
	b.SignIn(u.Email, u.Password)
	b.WaitText("Code de votre application d'authentification", 15*time.Second)
	noViolations(t, b, "the code page")
	// One step ahead: the enrolment used the current one.
	b.Fill("Code de votre application d'authentification", totpCode(t, key, time.Now().Add(30*time.Second)))
	b.Click("Vérifier")
	b.WaitText("Bienvenue, Pat Martin", 15*time.Second)

	// With a recovery code, once.
	signOut(t, b, "Se déconnecter")
	b.SignIn(u.Email, u.Password)
	b.Fill("Code de secours", strings.ToUpper(codes[4]))
	b.Click("Se connecter avec le code de secours")
	b.WaitText("Bienvenue, Pat Martin", 15*time.Second)
	signOut(t, b, "Se déconnecter")
	b.SignIn(u.Email, u.Password)
	b.Fill("Code de secours", codes[4])
	b.Click("Se connecter avec le code de secours")
	b.WaitText("Le code de secours est incorrect ou a déjà été utilisé", 15*time.Second)
}

// In English on SQLite: an app password is made, shown once, works
// against the API, and stops working once revoked; "sign out everywhere"
// ends the browser's session but not the app passwords.
func TestSecurityAppPasswords(t *testing.T) {
	t.Parallel()
	s := webtest.Start(t, webtest.Options{})
	u := s.NewUser("sam@acme.test", "Sam Lee", "member")
	b := s.NewBrowser(t, "en")
	b.SignIn(u.Email, u.Password)
	b.WaitText("Welcome, Sam Lee", 15*time.Second)
	b.Go("/settings/security")
	b.Fill("Name of the new app password", "laptop sync")
	b.Click("Create app password")
	b.WaitText(`Copy the app password "laptop sync" now`, 15*time.Second)
	secret := b.TextOf("#new-token")
	if !strings.HasPrefix(secret, "crm_") && len(secret) < 20 {
		t.Fatalf("secret %q", secret)
	}
	noViolations(t, b, "the new app password")
	var me struct{ Email string }
	s.MustAPI("GET", "/api/v1/me", secret, nil, &me)
	if me.Email != u.Email {
		t.Fatalf("me = %+v", me)
	}
	b.Go("/settings/security")
	b.WaitText("laptop sync", 15*time.Second)
	if b.Has(secret) {
		t.Fatal("the secret is shown again")
	}
	// Sessions: this one is listed.
	if !b.Has("this session") {
		t.Error("the current session is not marked")
	}
	b.Click("Revoke laptop sync")
	b.WaitText("The app password was revoked: it no longer works.", 15*time.Second)
	if st, _ := s.API("GET", "/api/v1/me", secret, nil, nil); st != 401 {
		t.Fatalf("a revoked app password: %d", st)
	}
	// Sign out everywhere: the API session too, not the API token.
	var login struct{ Token string }
	s.MustAPI("POST", "/api/v1/login", "", map[string]any{"email": u.Email, "password": u.Password}, &login)
	b.Click("Sign out everywhere")
	b.WaitText("You were signed out everywhere.", 15*time.Second)
	if st, _ := s.API("GET", "/api/v1/me", login.Token, nil, nil); st != 401 {
		t.Errorf("an API session after signing out everywhere: %d", st)
	}
	s.MustAPI("GET", "/api/v1/me", u.Token, nil, nil)
	b.Go("/settings/security")
	if !strings.Contains(b.URL(), "/login") {
		t.Fatalf("still signed in: %s", b.URL())
	}
}

// An admin requires two-factor authentication: a user without it is sent
// to set it up after signing in and can open nothing else until they
// have; their API session is refused meanwhile, their API token is not.
func TestSecurityPolicy(t *testing.T) {
	t.Parallel()
	s := webtest.Start(t, webtest.Options{})
	u := s.NewUser("kim@acme.test", "Kim Berg", "member")
	a := s.NewBrowser(t, "en")
	a.SignIn(s.Admin.Email, s.Admin.Password)
	a.WaitText("Welcome, Ada Admin", 15*time.Second)
	a.Go("/admin/security")
	noViolations(t, a, "the admin security page")
	a.Check("Require two-factor authentication", true)
	a.Click("Save")
	a.WaitText("The security policy was saved.", 15*time.Second)
	var login struct{ Token string }
	s.MustAPI("POST", "/api/v1/login", "", map[string]any{"email": u.Email, "password": u.Password}, &login)
	if st, err := s.API("GET", "/api/v1/me", login.Token, nil, nil); st != 403 || !strings.Contains(err.Error(), "two_factor_setup_required") {
		t.Errorf("an API session without 2FA: %d %v", st, err)
	}
	s.MustAPI("GET", "/api/v1/me", u.Token, nil, nil)

	b := s.NewBrowser(t, "en")
	b.SignIn(u.Email, u.Password)
	b.WaitText("Your organisation requires two-factor authentication.", 15*time.Second)
	if !strings.HasSuffix(b.URL(), "/settings/security") {
		t.Fatalf("after sign-in: %s", b.URL())
	}
	noViolations(t, b, "the enrolment required")
	b.Go("/settings")
	if !strings.HasSuffix(b.URL(), "/settings/security") {
		t.Fatalf("/settings before enrolling: %s", b.URL())
	}
	b.Go("/admin/security")
	if !strings.HasSuffix(b.URL(), "/settings/security") {
		t.Fatalf("/admin/security: %s", b.URL())
	}
	b.Click("Set up two-factor authentication")
	b.WaitText("Or type this key in the app", 15*time.Second)
	key := b.TextOf("#totp-key")
	b.Fill("Code shown by the app", totpCode(t, key, time.Now()))
	b.Click("Turn on two-factor authentication")
	b.WaitText("Two-factor authentication is on.", 15*time.Second)
	if b.Has("Your organisation requires two-factor authentication. Set it up") {
		t.Error("still asked to set it up")
	}
	b.Go("/settings")
	if !strings.HasSuffix(b.URL(), "/settings") {
		t.Fatalf("/settings after enrolling: %s", b.URL())
	}
	s.MustAPI("GET", "/api/v1/me", login.Token, nil, nil)
}
