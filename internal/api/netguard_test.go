package api_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crmsync/crmsync/internal/netguard"
)

// The probe's address forms, typed as manual IMAP and SMTP settings and as
// CardDAV URLs: each is refused with 422 destination_not_allowed before
// anything is sent, whether the port is open (a live server listens on
// it), closed or filtered (issue 10, point 4).
func TestPrivateDestinationsRefused(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port

	p := setupWired(t, nil) // the default: no --private-hosts
	hosts := []string{"127.0.0.1", "127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
		"0.0.0.0", "169.254.169.254", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "[fc00::1]", "[fe80::1]", "localhost"}
	for _, host := range hosts {
		for _, port := range []int{open, 1, 81} { // open, closed, (for the private ranges) filtered
			imapHost := strings.Trim(host, "[]")
			mr := p.call("POST", "/api/v1/mail-accounts", p.annToken, map[string]any{"email": "ann@acme.test", "password": "secret",
				"imap": map[string]any{"host": imapHost, "port": port, "security": "tls", "username": "ann"}})
			pr := p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav",
				"url": "https://" + host + ":" + strconv.Itoa(port) + "/dav/", "username": "ann", "password": "secret"})
			for what, r := range map[string]*resp{"mail": mr, "PIM": pr} {
				code, _, msg := r.Err()
				if r.Status != 422 || code != "destination_not_allowed" {
					t.Errorf("%s %s:%d: %d %s; want 422 destination_not_allowed\n%s", what, host, port, r.Status, code, r.Raw)
				} else if !strings.Contains(msg, "--private-hosts") && !strings.Contains(msg, "neither a host name") {
					t.Errorf("%s %s:%d: the message does not say what to do: %s", what, host, port, msg)
				}
			}
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the loopback server was reached %d times", n)
	}
}

// A CardDAV server the operator allowed cannot redirect crmsync, with the
// user's password, to an address it did not allow: dav follows redirects
// only within the server named (any other is a protocol error that does
// not quote the plain-HTTP server's Location), and netguard re-checks
// every dial of those (internal/netguard TestTransportRechecksRedirects).
func TestPIMRedirectToPrivateRefused(t *testing.T) {
	t.Parallel()
	var inside atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
	}))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	internal.Listener.Close()
	internal.Listener = l
	internal.Start()
	t.Cleanup(internal.Close)
	front := httptest.NewServer(http.RedirectHandler(internal.URL+"/dav/", http.StatusMovedPermanently))
	t.Cleanup(front.Close)

	p := setupWired(t, netguard.MustParse("127.0.0.1")) // the front server only
	r := p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": front.URL + "/",
		"username": "ann", "password": "secret"})
	if code, _, msg := r.Err(); r.Status != 422 || (code != "destination_not_allowed" && code != "protocol") || strings.Contains(msg, "127.0.0.2") {
		t.Errorf("%d %s; want 422, without the internal address\n%s", r.Status, code, r.Raw)
	}
	if n := inside.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times", n)
	}
}
