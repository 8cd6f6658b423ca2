package flows

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/testpeer/mailgen"
	"github.com/crmsync/crmsync/internal/webtest"
)

// mailStack runs Dovecot with n messages in user1's and user2's INBOX,
// and crmsync trusting Dovecot's certificate.
func mailStack(t *testing.T, postgres bool, n int, env ...string) (*webtest.Stack, *dovecot.Server) {
	t.Helper()
	dc := dovecot.Start(t, nil)
	for _, u := range []int{1, 2} {
		name, _ := dc.User(u)
		dc.BulkLoad(t, name, "INBOX", (&mailgen.Generator{Seed: int64(u)}).Generate(n))
	}
	ca := filepath.Join(t.TempDir(), "dovecot-ca.pem")
	if err := os.WriteFile(ca, dc.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return webtest.Start(t, webtest.Options{Postgres: postgres, Env: env, Args: []string{"--mail-ca-file", ca}}), dc
}

// setDovecotPassword changes a Dovecot user's password (its passwd-file,
// which Dovecot reads again when it changes) and restarts Dovecot, so
// that the sessions logged in with the old one end, as when a provider
// makes a user change their password.
func setDovecotPassword(t *testing.T, dc *dovecot.Server, user, old, password string) {
	t.Helper()
	path := filepath.Join(dc.Dir(), "users")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	from := []byte(user + ":{PLAIN}" + old + ":")
	if !bytes.Contains(data, from) {
		t.Fatalf("no %s in %s", from, data)
	}
	if err := os.WriteFile(path, bytes.Replace(data, from, []byte(user+":{PLAIN}"+password+":"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dc.Restart()
}

// In English on SQLite: a mailbox whose settings autoconfiguration cannot
// find is connected with Advanced settings (Dovecot over SSL); its state
// goes live to "Synced" with its count; Dovecot's password changes and
// the list says "Incorrect password" with Reconnect, which takes the new
// one and syncs again; disconnecting needs the data-loss box ticked.
func TestMailAdvancedReconnectDisconnect(t *testing.T) {
	t.Parallel()
	const n = 30
	s, dc := mailStack(t, false, n)
	user, pass := dc.User(1)
	b := s.NewBrowser(t, "en")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Welcome, Ada Admin", 10*time.Second)
	b.Go("/settings/email")
	b.WaitText("No mailbox is connected yet.", 5*time.Second)
	noAxe(t, b, "the empty list")
	b.Click("Connect a mailbox")
	if b.Has("Sign in with") {
		t.Errorf("sign-in buttons without any app registered:\n%s", b.Text())
	}
	b.Fill("Email address", user+"@crmsync.test")
	noAxe(t, b, "connect, step 1")
	b.Screenshot("mail-connect-en")
	b.Click("Continue")
	// Nothing is found for crmsync.test: Advanced settings are open.
	b.WaitText("No server settings could be found for this address.", 20*time.Second)
	b.Expand("Advanced settings")
	b.Fill("IMAP server", "127.0.0.1")
	b.Fill("IMAP port", strconv.Itoa(dc.TLSPort))
	b.Check("IMAP: use SSL", true)
	b.Fill("IMAP user name", user)
	b.Fill("Password", "not-"+pass)
	noAxe(t, b, "connect, step 2")
	b.Screenshot("mail-advanced-en")
	b.Click("Connect")
	// A wrong password is refused before anything is saved, in words.
	b.WaitText("Incorrect password", 10*time.Second)
	b.Expand("Advanced settings")
	b.Fill("Password", pass)
	b.Click("Connect")
	b.WaitText("The mailbox is connected.", 10*time.Second)
	b.WaitTextIn(".mail-state", "Synced", 45*time.Second)
	b.WaitTextIn(".mail-state", strconv.Itoa(n)+" of "+strconv.Itoa(n)+" messages", 10*time.Second)
	b.WaitTextIn(".mail-state", "Last sync:", 5*time.Second)
	noAxe(t, b, "the mailbox")
	b.Screenshot("mail-synced-en")

	// The provider changes the password: the list shows it live.
	b.Go("/settings/email")
	b.WaitTextIn(".mail-state", "Synced", 5*time.Second)
	setDovecotPassword(t, dc, user, pass, "new-"+pass)
	b.WaitTextIn(".mail-state", "Incorrect password", 60*time.Second)
	b.WaitTextIn(".mail-state", "Sign-in refused", time.Second)
	noAxe(t, b, "the list with a failure")
	b.Screenshot("mail-auth-failed-en")
	b.Click("Reconnect")
	b.Fill("New password", "new-"+pass)
	b.Click("Reconnect with this password")
	b.WaitText("The new password works", 10*time.Second)
	b.WaitTextIn(".mail-state", "Synced", 45*time.Second)
	if st := b.TextIn(".mail-state"); strings.Contains(st, "Incorrect password") {
		t.Errorf("still incorrect after reconnecting: %s", st)
	}
	b.WaitText("History", time.Second)
	if !b.Has("Credentials or settings updated") {
		t.Errorf("the history does not show the reconnection:\n%s", b.Text())
	}

	// Edit: the plain port with STARTTLS instead of SSL; crmsync logs in
	// with it before saving, then syncs with it.
	b.Expand("Edit the settings")
	b.Fill("IMAP port", strconv.Itoa(dc.Port))
	b.Check("IMAP: use SSL", false)
	b.Fill("Password", "new-"+pass)
	b.Click("Save")
	b.WaitText("The mailbox's settings were saved.", 10*time.Second)
	b.WaitTextIn(".mail-state", "Synced", 45*time.Second)
	var acct struct {
		Settings struct {
			IMAP struct {
				Port     int    `json:"port"`
				Security string `json:"security"`
			} `json:"imap"`
		} `json:"settings"`
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(b.URL(), s.URL+"/settings/email/"), "#")
	s.MustAPI("GET", "/api/v1/mail-accounts/"+id, s.Admin.Token, nil, &acct)
	if acct.Settings.IMAP.Port != dc.Port || acct.Settings.IMAP.Security != "starttls" {
		t.Errorf("after editing, the API shows IMAP %+v", acct.Settings.IMAP)
	}

	// Disconnecting: the button waits for the box.
	b.Click("Disconnect this mailbox")
	b.WaitText("I confirm and accept the risk of data loss", 5*time.Second)
	if b.Enabled("Disconnect") {
		t.Fatal("Disconnect is enabled before the data-loss box is ticked")
	}
	b.WaitText("30 days", time.Second)
	noAxe(t, b, "the disconnect dialog")
	b.Screenshot("mail-disconnect-en")
	b.Check("I confirm and accept the risk of data loss", true)
	if !b.Enabled("Disconnect") {
		t.Fatal("Disconnect is still disabled after ticking the box")
	}
	b.Click("Disconnect")
	b.WaitText("The mailbox is disconnected.", 10*time.Second)
	b.WaitTextIn(".mail-state", "Disconnected", 5*time.Second)
	b.WaitTextIn(".mail-state", "Connect again", 5*time.Second)
	var list struct {
		Data []struct {
			State string `json:"state"`
		} `json:"data"`
	}
	s.MustAPI("GET", "/api/v1/mail-accounts", s.Admin.Token, nil, &list)
	if len(list.Data) != 1 || list.Data[0].State != "disconnected" {
		t.Errorf("the API shows %+v", list.Data)
	}
}

// In French on PostgreSQL: a mailbox in forwarding mode shows its
// dropbox address to copy; "Sign in with Microsoft" appears once the
// organisation has its app and starts its sign-in; autoconfiguration's
// settings are shown for an address it knows; the admin sets the
// organisation's mail service (Dovecot); a member then connects with
// only a password, and it syncs.
func TestMailOrgServicePasswordOnly(t *testing.T) {
	t.Parallel()
	const n = 12
	s, dc := mailStack(t, true, n, "CRMSYNC_DROPBOX_DOMAIN=in.crm.test")
	admin := s.NewBrowser(t, "fr")
	admin.SignIn(s.Admin.Email, s.Admin.Password)
	admin.WaitText("Bienvenue, Ada Admin", 10*time.Second)

	// Forwarding mode: no password, a dropbox address to copy.
	admin.Go("/settings/email/new")
	admin.Fill("Adresse e-mail", "ventes@acme.test")
	admin.Check("Transfert", true)
	noAxe(t, admin, "connect, step 1 with forwarding")
	admin.Click("Continuer")
	admin.WaitText("Votre adresse de transfert", 10*time.Second)
	admin.WaitText("Copier l'adresse", time.Second)
	admin.WaitTextIn(".mail-state", "Reçoit les messages transférés", 5*time.Second)
	noAxe(t, admin, "a forwarding-mode mailbox")
	admin.Screenshot("mail-forwarding-fr")
	var list struct {
		Data []struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	s.MustAPI("GET", "/api/v1/mail-accounts", s.Admin.Token, nil, &list)
	if len(list.Data) != 1 {
		t.Fatalf("mail accounts: %+v", list.Data)
	}
	var fwd struct {
		DropboxAddress string `json:"dropbox_address"`
	}
	s.MustAPI("GET", "/api/v1/mail-accounts/"+strconv.FormatInt(list.Data[0].ID, 10), s.Admin.Token, nil, &fwd)
	if !strings.HasSuffix(fwd.DropboxAddress, "@in.crm.test") {
		t.Errorf("dropbox %q", fwd.DropboxAddress)
	}
	if got := admin.Value("#dropbox"); got != fwd.DropboxAddress {
		t.Errorf("the page shows the dropbox %q, the API %q", got, fwd.DropboxAddress)
	}

	// Sign in with Microsoft, once the organisation has its app: the
	// button starts the sign-in (here, a login page on this machine).
	s.MustAPI("PUT", "/api/v1/org/oauth-apps/microsoft", s.Admin.Token, map[string]any{"client_id": "webtest-client",
		"client_secret": "webtest-secret", "login_url": s.URL + "/fake-login"}, nil)
	admin.Go("/settings/email/new")
	if admin.Has("Se connecter avec Google") {
		t.Errorf("a Google button without Google's app:\n%s", admin.Text())
	}
	admin.Click("Se connecter avec Microsoft")
	if u := admin.URL(); !strings.HasPrefix(u, s.URL+"/fake-login/") || !strings.Contains(u, "client_id=webtest-client") || !strings.Contains(u, "code_challenge=") {
		t.Errorf("Sign in with Microsoft went to %s", u)
	}

	// Autoconfiguration (built in for Gmail) shows what it found.
	admin.Go("/settings/email/new")
	admin.Fill("Adresse e-mail", "quelquun@gmail.com")
	admin.Click("Continuer")
	admin.WaitText("imap.gmail.com:993", 20*time.Second)
	admin.WaitText("Paramètres trouvés automatiquement", time.Second)
	noAxe(t, admin, "the settings found")
	admin.Screenshot("mail-autoconfig-fr")

	// The admin's page; members do not see it.
	admin.Go("/admin/mail-service")
	admin.WaitText("Aucun service de messagerie n'est défini", 5*time.Second)
	admin.Fill("Serveur IMAP", "127.0.0.1")
	admin.Fill("Port IMAP", strconv.Itoa(dc.TLSPort))
	admin.Check("IMAP : utiliser SSL", true)
	admin.Fill("Nom d'utilisateur IMAP", "%EMAILLOCALPART%")
	noAxe(t, admin, "the mail service")
	admin.Click("Enregistrer")
	admin.WaitText("Le service de messagerie a été vérifié et enregistré.", 15*time.Second)
	admin.Screenshot("mail-service-fr")

	user2, pass2 := dc.User(2)
	member := s.NewUser(user2+"@acme.test", "Marie Membre", "member")
	b := s.NewBrowser(t, "fr")
	b.SignIn(member.Email, member.Password)
	b.WaitText("Bienvenue, Marie Membre", 10*time.Second)
	b.Go("/admin/mail-service")
	if !b.Has("Cette page n'existe pas") && !b.Has("n'existe pas") {
		t.Errorf("a member sees the admin's page:\n%s", b.Text())
	}
	b.Go("/settings/email")
	b.Click("Connecter une boîte mail")
	b.Click("Continuer") // the address is the user's own
	b.WaitText("Le service de messagerie de votre organisation", 10*time.Second)
	if b.Has("Paramètres avancés") {
		t.Errorf("with the organisation's mail service, only the password is asked:\n%s", b.Text())
	}
	noAxe(t, b, "the password-only step")
	b.Screenshot("mail-password-only-fr")
	b.Fill("Mot de passe", pass2)
	b.Click("Connecter")
	b.WaitText("La boîte mail est connectée.", 10*time.Second)
	b.WaitTextIn(".mail-state", "Synchronisée", 45*time.Second)
	b.WaitTextIn(".mail-state", strconv.Itoa(n)+" sur "+strconv.Itoa(n)+" messages", 10*time.Second)
	b.Go("/settings/email")
	b.WaitTextIn(".mail-state", "Synchronisée", 5*time.Second)
	noAxe(t, b, "the list")
	b.Screenshot("mail-list-fr")
}
