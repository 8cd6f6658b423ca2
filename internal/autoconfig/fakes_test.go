package autoconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/netguard"
)

// fakeResolver answers from maps and records every query. Names are looked
// up without their final dot; a missing name is NXDOMAIN.
type fakeResolver struct {
	mx  map[string][]*net.MX  // by domain
	srv map[string][]*net.SRV // by "_imaps._tcp.example.com"
	ips map[string][]net.IPAddr

	mu    sync.Mutex
	calls []string
}

func (f *fakeResolver) record(q string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, q)
}

func (f *fakeResolver) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func nxdomain(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	f.record("MX " + name)
	if rs, ok := f.mx[strings.TrimSuffix(name, ".")]; ok {
		return rs, nil
	}
	return nil, nxdomain(name)
}

func (f *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	q := "_" + service + "._" + proto + "." + strings.TrimSuffix(name, ".")
	f.record("SRV " + q)
	if rs, ok := f.srv[q]; ok {
		return q + ".", rs, nil
	}
	return "", nil, nxdomain(q)
}

func (f *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	f.record("A " + host)
	if rs, ok := f.ips[strings.TrimSuffix(host, ".")]; ok {
		return rs, nil
	}
	return nil, nxdomain(host)
}

// fakeProber confirms the servers listed in ok, keyed like
// "imap imap.example.com:993 tls", and records every probe.
type fakeProber struct {
	ok map[string]bool

	mu    sync.Mutex
	calls []string
}

func (f *fakeProber) probe(ctx context.Context, proto Protocol, host string, port int, sec Security) error {
	key := fmt.Sprintf("%s %s:%d %s", proto, host, port, sec)
	f.mu.Lock()
	f.calls = append(f.calls, key)
	f.mu.Unlock()
	if f.ok[key] {
		return nil
	}
	return errors.New("connection refused")
}

func (f *fakeProber) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// xmlSite serves autoconfig files by URL ("https://autoconfig.example.com/
// mail/config-v1.1.xml", without the query) over http and https, and
// records the URLs requested (with their query).
type xmlSite struct {
	files map[string]string

	mu       sync.Mutex
	requests []string
}

func (s *xmlSite) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *xmlSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	s.mu.Lock()
	s.requests = append(s.requests, scheme+"://"+r.Host+r.URL.RequestURI())
	s.mu.Unlock()
	body, ok := s.files[scheme+"://"+r.Host+r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain") // not trusted either way
	fmt.Fprint(w, body)
}

// client returns an HTTP client that sends every request to the site,
// whatever its host: port 443 to an https server, anything else to an http
// one. The https server's certificate is trusted under the name
// example.com.
func (s *xmlSite) client(t *testing.T) *http.Client {
	t.Helper()
	// Discover cancels the fetches it no longer needs: the servers need not
	// log the connections cut short.
	quiet := log.New(io.Discard, "", 0)
	plain := httptest.NewUnstartedServer(s)
	plain.Config.ErrorLog = quiet
	plain.Start()
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(s)
	secure.Config.ErrorLog = quiet
	secure.StartTLS()
	t.Cleanup(secure.Close)
	pool := x509.NewCertPool()
	pool.AddCert(secure.Certificate())
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			target := plain.Listener.Addr().String()
			if port == "443" {
				target = secure.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// allLoopback is the allowance of the test servers, all on loopback.
var allLoopback = netguard.MustParse("127.0.0.0/8,::1")

// bundle is one test's discoverer with its fakes.
type bundle struct {
	dns   *fakeResolver
	site  *xmlSite
	probe *fakeProber
	d     *Discoverer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{
		dns:   &fakeResolver{mx: map[string][]*net.MX{}, srv: map[string][]*net.SRV{}, ips: map[string][]net.IPAddr{}},
		site:  &xmlSite{files: map[string]string{}},
		probe: &fakeProber{ok: map[string]bool{}},
	}
	b.d = &Discoverer{
		Resolver:   b.dns,
		HTTPClient: b.site.client(t),
		Probe:      b.probe.probe,
		Guard:      allLoopback,
	}
	return b
}

// configXML is an autoconfig file with one IMAP and one SMTP server.
func configXML(imapHost string, imapPort int, imapSocket, smtpHost string, smtpPort int, smtpSocket, user string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="imap">
      <hostname>%s</hostname>
      <port>%d</port>
      <socketType>%s</socketType>
      <username>%s</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>%s</hostname>
      <port>%d</port>
      <socketType>%s</socketType>
      <username>%s</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`, imapHost, imapPort, imapSocket, user, smtpHost, smtpPort, smtpSocket, user)
}
