// Package oidcpeer is a real OpenID Provider for tests, in the test's
// process: zitadel/oidc's op package (the OpenID Foundation-certified
// provider library) with its example storage and login page, serving
// discovery, the authorization endpoint with PKCE, the token endpoint
// (signed ID tokens) and userinfo on 127.0.0.1. Only tests import it.
package oidcpeer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// User is a person the provider knows. They sign in on its login page
// with Username and Password.
type User struct {
	Username, Password string
	Email              string
	EmailVerified      bool
	FirstName          string
	LastName           string
}

// Options describe the provider's one client (crmsync).
type Options struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
	Users                  []User
}

// Peer is a running provider.
type Peer struct {
	// Issuer is its issuer URL, http://127.0.0.1:port (no trailing slash).
	Issuer string
}

// Start runs a provider until the test ends.
func Start(t testing.TB, o Options) *Peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	users := userStore{}
	for i, u := range o.Users {
		id := fmt.Sprintf("u%d", i+1)
		users[id] = &storage.User{ID: id, Username: u.Username, Password: u.Password, Email: u.Email,
			EmailVerified: u.EmailVerified, FirstName: u.FirstName, LastName: u.LastName, PreferredLanguage: language.English}
	}
	st := storage.NewStorageWithClients(users, map[string]*storage.Client{
		o.ClientID: storage.WebClient(o.ClientID, o.ClientSecret, o.RedirectURIs...),
	})
	srv := &http.Server{Handler: exampleop.SetupServer(issuer, st, nil, false)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &Peer{Issuer: issuer}
}

// userStore is the provider's directory (storage.UserStore).
type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u userStore) ExampleClientID() string { return storage.ServiceUserID }

var idField = regexp.MustCompile(`name="id" value="([^"]+)"`)

// SignIn does in code what a browser does: it opens authURL, signs in on
// the provider's login page as username, and returns the redirect back
// to the relying party (its code and state), without following it.
func SignIn(authURL, username, password string) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	authHost := hostOf(authURL)
	var back *url.URL
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != authHost {
			back = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	r, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if back != nil {
		return back, nil // an error sent back at once
	}
	m := idField.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("oidcpeer: no login form at %s (%d): %s", r.Request.URL, r.StatusCode, page)
	}
	r, err = c.PostForm("http://"+authHost+"/login/username", url.Values{"id": {string(m[1])}, "username": {username}, "password": {password}})
	if err != nil {
		return nil, err
	}
	page, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if back == nil {
		return nil, errors.New("oidcpeer: the provider did not send the browser back: " + strings.TrimSpace(string(page)))
	}
	return back, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
