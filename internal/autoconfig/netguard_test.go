package autoconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/netguard"
)

// guardedFetch fetches u with the default client of a Discoverer.
func guardedFetch(g *guard, u string) ([]byte, error) {
	c := newHTTPClient(g)
	defer c.CloseIdleConnections()
	return fetchConfig(context.Background(), c, u)
}

func TestGuardRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secret")
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := &fakeResolver{ips: map[string][]net.IPAddr{
		// A public-looking name that resolves to loopback, as DNS rebinding does.
		"autoconfig.example.com": {{IP: net.ParseIP("127.0.0.1")}},
	}}
	urls := []string{
		srv.URL + "/mail/config-v1.1.xml",
		"http://autoconfig.example.com:" + port + "/mail/config-v1.1.xml",
	}
	for _, u := range urls {
		_, err := guardedFetch(newGuard(nil, dns), u)
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("fetch %s by default: err = %v; want ErrPrivateAddress", u, err)
		}
		body, err := guardedFetch(newGuard(allLoopback, dns), u)
		if err != nil || string(body) != "secret" {
			t.Errorf("fetch %s with loopback allowed = %q, %v; want secret", u, body, err)
		}
	}
}

func TestGuardRefusesRedirectToPrivate(t *testing.T) {
	t.Parallel()
	// The test can only run servers on loopback, so it pretends that
	// 127.0.0.1 is public and that internal.example.com (127.0.0.2) is not.
	var port string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/inside" {
			fmt.Fprint(w, "secret")
			return
		}
		http.Redirect(w, r, "http://internal.example.com:"+port+"/inside", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	dns := &fakeResolver{ips: map[string][]net.IPAddr{
		"internal.example.com": {{IP: net.ParseIP("127.0.0.2")}},
	}}
	g := newGuard(netguard.MustParse("127.0.0.1"), dns)
	_, err := guardedFetch(g, srv.URL+"/start")
	if !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("redirect to an internal host: err = %v; want ErrPrivateAddress", err)
	}
}

func TestClientRedirectLimit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /hop/N redirects N more times, then serves.
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if n == 0 {
			fmt.Fprint(w, "here")
			return
		}
		http.Redirect(w, r, "/hop/"+strconv.Itoa(n-1), http.StatusMovedPermanently)
	}))
	t.Cleanup(srv.Close)
	g := newGuard(allLoopback, &fakeResolver{})
	if body, err := guardedFetch(g, srv.URL+"/hop/3"); err != nil || string(body) != "here" {
		t.Errorf("3 redirects: %q, %v; want them followed", body, err)
	}
	if _, err := guardedFetch(g, srv.URL+"/hop/4"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("4 redirects: err = %v; want refused", err)
	}

	c := newHTTPClient(g)
	from, _ := http.NewRequest("GET", "https://autoconfig.example.com/mail/config-v1.1.xml", nil)
	to, _ := http.NewRequest("GET", "http://autoconfig.example.com/mail/config-v1.1.xml", nil)
	if err := c.CheckRedirect(to, []*http.Request{from}); err == nil {
		t.Error("a redirect from https to http was allowed")
	}
}

func TestFetchLimits(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", maxConfigSize+1)))
		case "/max":
			w.Write([]byte(strings.Repeat("x", maxConfigSize)))
		default:
			http.Error(w, "gone", http.StatusGone)
		}
	}))
	t.Cleanup(srv.Close)
	g := newGuard(allLoopback, &fakeResolver{})
	if _, err := guardedFetch(g, srv.URL+"/big"); err == nil {
		t.Error("a body over the limit was accepted")
	}
	if b, err := guardedFetch(g, srv.URL+"/max"); err != nil || len(b) != maxConfigSize {
		t.Errorf("a body at the limit: %d bytes, %v", len(b), err)
	}
	if _, err := guardedFetch(g, srv.URL+"/gone"); err == nil || !strings.Contains(err.Error(), "410") {
		t.Errorf("status 410: err = %v", err)
	}
}

// An autoconfig file on a loopback server, under a public name: refused by
// default, read with loopback allowed.
func TestGuardLoopbackServer(t *testing.T) {
	t.Parallel()
	site := &xmlSite{files: map[string]string{}}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// Serve the file at the loopback address under the name the fetch will use.
	site.files["http://autoconfig.example.com:"+port+"/mail/config-v1.1.xml"] = configXML("imap.example.com", 993, "SSL", "smtp.example.com", 465, "SSL", "")
	dns := &fakeResolver{ips: map[string][]net.IPAddr{"autoconfig.example.com": {{IP: net.ParseIP("127.0.0.1")}}}}
	u := "http://autoconfig.example.com:" + port + "/mail/config-v1.1.xml"

	for _, allow := range []bool{false, true} {
		g := newGuard(nil, dns)
		if allow {
			g = newGuard(allLoopback, dns)
		}
		body, err := guardedFetch(g, u)
		if allow != (err == nil) {
			t.Errorf("loopback allowed %v: fetch err = %v", allow, err)
		}
		if allow {
			if _, err := parseClientConfig(body, testAddr); err != nil {
				t.Errorf("loopback allowed: %v", err)
			}
		}
	}
	if len(site.Requests()) != 1 {
		t.Errorf("requests %q; want only the allowed one", site.Requests())
	}
}

// Discover without an HTTPClient uses the guarded one: a name that resolves
// to loopback is refused before any connection, unless loopback allowed.
func TestDiscoverDefaultClientIsGuarded(t *testing.T) {
	t.Parallel()
	dns := &fakeResolver{ips: map[string][]net.IPAddr{
		"autoconfig.example.com": {{IP: net.ParseIP("127.0.0.1")}},
		"example.com":            {{IP: net.ParseIP("::1")}},
	}}
	fail := func(context.Context, Protocol, string, int, Security) error { return errors.New("no") }
	for _, allow := range []bool{false, true} {
		d := &Discoverer{Resolver: dns, Probe: fail}
		if allow {
			d.Guard = allLoopback
		}
		_, err := d.Discover(context.Background(), "bob@example.com")
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("err = %v; want *NotFoundError", err)
		}
		refused := 0
		for _, note := range nf.Tried {
			if strings.Contains(note, ErrPrivateAddress.Error()) {
				refused++
			}
		}
		if want := map[bool]int{false: 3, true: 0}[allow]; refused != want {
			t.Errorf("loopback allowed %v: %d fetches refused as private; want %d\n%s", allow, refused, want, strings.Join(nf.Tried, "\n"))
		}
	}
}
