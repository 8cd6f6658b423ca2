package flows

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/oidcpeer"
	"github.com/crmsync/crmsync/internal/webtest"
)

// publicProxy is crmsync's public address (--public-url, the base of the
// redirect URI registered with the provider), known before the stack
// starts: a reverse proxy to the stack, which records the provider's
// redirects back so that the test can replay them.
type publicProxy struct {
	URL    string
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	backs  []string // request URIs of /sso/callback, in order
}

func startPublicProxy(t *testing.T) *publicProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &publicProxy{URL: "http://" + ln.Addr().String()}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(p.target.Load()) }}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sso/callback" {
			p.mu.Lock()
			p.backs = append(p.backs, r.URL.RequestURI())
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *publicProxy) lastBack(t *testing.T) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.backs) == 0 {
		t.Fatal("the provider never sent a browser back")
	}
	return p.backs[len(p.backs)-1]
}

// Accesso con il single sign-on, in italiano su PostgreSQL: l'admin
// configura il provider OpenID su /admin/sso; Mario (senza password)
// accede tramite la pagina di login del provider e risulta connesso;
// uno sconosciuto viene rifiutato con parole chiare; uno state falso o
// riusato viene rifiutato; Mario imposta poi una password per le app
// che non usano il single sign-on.
func TestSingleSignOn(t *testing.T) {
	t.Parallel()
	public := startPublicProxy(t)
	peer := oidcpeer.Start(t, oidcpeer.Options{ClientID: "crmsync", ClientSecret: "segreto-del-client-1",
		RedirectURIs: []string{public.URL + "/sso/callback"},
		Users: []oidcpeer.User{
			{Username: "mario", Password: "password-di-mario", Email: "mario@acme.test", EmailVerified: true},
			{Username: "estraneo", Password: "password-estraneo", Email: "estraneo@altrove.test", EmailVerified: true},
		}})
	s := webtest.Start(t, webtest.Options{Postgres: true, Env: []string{"CRMSYNC_PUBLIC_URL=" + public.URL}})
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	public.target.Store(target)
	// Mario has no crmsync password: he signs in through the provider only.
	s.MustAPI("POST", "/api/v1/users", s.Admin.Token, map[string]any{"email": "mario@acme.test", "name": "Mario Rossi", "role": "member"}, nil)

	// The admin sets up single sign-on.
	admin := s.NewBrowser(t, "it")
	admin.SignIn(s.Admin.Email, s.Admin.Password)
	admin.WaitText("Benvenuto, Ada Admin", 5*time.Second)
	admin.Go("/admin/sso")
	admin.WaitText("Il single sign-on è disattivato", 5*time.Second)
	if !admin.Has(public.URL + "/sso/callback") {
		t.Fatalf("the page does not show the redirect URI to register:\n%s", admin.Text())
	}
	if v := admin.Axe(); len(v) > 0 {
		t.Errorf("accessibility of /admin/sso: %+v", v)
	}
	admin.Fill("Nome sul pulsante di accesso", "Acme ID")
	admin.Fill("URL dell'emittente", peer.Issuer+"/sbagliato")
	admin.Fill("ID client", "crmsync")
	admin.Fill("Segreto client", "segreto-del-client-1")
	admin.Click("Salva")
	admin.WaitText("Nessuna configurazione OpenID Connect trovata a "+peer.Issuer+"/sbagliato", 10*time.Second)
	admin.Fill("URL dell'emittente", peer.Issuer)
	admin.Fill("Segreto client", "segreto-del-client-1")
	admin.Click("Salva")
	admin.WaitText("Il single sign-on è stato salvato: il provider di identità ha risposto.", 10*time.Second)
	admin.WaitText("Il single sign-on è attivo: gli utenti vedono «Accedi con Acme ID».", 5*time.Second)
	admin.Click("Prova la connessione")
	admin.WaitText("Il provider di identità ha risposto", 10*time.Second)
	if admin.Has("segreto-del-client-1") {
		t.Fatal("the page shows the client secret")
	}
	if v := admin.Axe(); len(v) > 0 {
		t.Errorf("accessibility of /admin/sso, configured: %+v", v)
	}
	admin.Screenshot("sso-admin-it")
	var cfg struct{ Name, Issuer string }
	s.MustAPI("GET", "/api/v1/org/sso", s.Admin.Token, nil, &cfg)
	if cfg.Name != "Acme ID" || cfg.Issuer != peer.Issuer {
		t.Fatalf("the API says %+v", cfg)
	}

	// Mario signs in through the provider and lands signed in.
	b := s.NewBrowser(t, "it")
	b.Go("/login")
	if v := b.Axe(); len(v) > 0 {
		t.Errorf("accessibility of the sign-in page with SSO: %+v", v)
	}
	b.Click("Accedi con Acme ID")
	b.Fill("Username:", "mario")
	b.Fill("Password:", "password-di-mario")
	b.Click("Login")
	b.WaitText("Benvenuto, Mario Rossi", 10*time.Second)
	back := public.lastBack(t)

	// Replayed, in the same browser and in another: refused.
	b.Go(public.URL + back)
	b.WaitText("Questo accesso è scaduto, è già stato usato o è stato avviato in un altro browser. Ricomincia l'accesso.", 5*time.Second)
	other := s.NewBrowser(t, "it")
	other.Go(public.URL + back)
	other.WaitText("Questo accesso è scaduto, è già stato usato o è stato avviato in un altro browser.", 5*time.Second)
	// Forged.
	other.Go(public.URL + "/sso/callback?state=inventato&code=inventato")
	other.WaitText("Questo accesso è scaduto, è già stato usato o è stato avviato in un altro browser.", 5*time.Second)
	if v := other.Axe(); len(v) > 0 {
		t.Errorf("accessibility of a refused sign-in: %+v", v)
	}
	other.Go("/")
	if !strings.Contains(other.URL(), "/login") {
		t.Fatalf("a replayed or forged redirect signed someone in: %s", other.URL())
	}

	// A stranger the provider knows is refused, with words.
	c := s.NewBrowser(t, "it")
	c.Go("/login")
	c.Click("Accedi con Acme ID")
	c.Fill("Username:", "estraneo")
	c.Fill("Password:", "password-estraneo")
	c.Click("Login")
	c.WaitText("estraneo@altrove.test non è un utente di questa organizzazione in crmsync. Chiedi al tuo amministratore di aggiungerti.", 10*time.Second)
	c.Go("/")
	if !strings.Contains(c.URL(), "/login") {
		t.Fatalf("the stranger is signed in: %s", c.URL())
	}

	// Mario sets a password for the apps that cannot use single sign-on.
	b.Go("/settings")
	b.Click("Password per le app che non usano il single sign-on")
	b.WaitText("Password per altre app", 5*time.Second)
	if v := b.Axe(); len(v) > 0 {
		t.Errorf("accessibility of /settings/password: %+v", v)
	}
	b.Fill("Nuova password", "nuova-password-di-mario")
	b.Fill("Ripeti la nuova password", "un'altra-password")
	b.Click("Imposta la password")
	b.WaitText("Le due password non coincidono.", 5*time.Second)
	b.Fill("Nuova password", "nuova-password-di-mario")
	b.Fill("Ripeti la nuova password", "nuova-password-di-mario")
	b.Click("Imposta la password")
	b.WaitText("La tua password è stata impostata.", 5*time.Second)
	b.WaitText("Hai già una password di crmsync.", 5*time.Second)
	d := s.NewBrowser(t, "it")
	d.SignIn("mario@acme.test", "nuova-password-di-mario")
	d.WaitText("Benvenuto, Mario Rossi", 5*time.Second)

	// Removed: the button goes away.
	admin.Go("/admin/sso")
	admin.Check("Ho capito che gli utenti senza password non potranno più accedere", true)
	admin.Click("Disattiva")
	admin.WaitText("Il single sign-on è stato disattivato.", 5*time.Second)
	c.Go("/login")
	if c.Has("Accedi con Acme ID") {
		t.Fatal("the sign-in page still offers single sign-on")
	}
}
