package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"fc00::1", "fd12:3456::1", "169.254.169.254", "fe80::1", "100.64.0.1", "100.127.255.254",
		"0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "239.1.1.1", "ff02::1", "ff05::2", "255.255.255.255",
		"240.0.0.1", "192.0.0.8", "198.18.0.1", "192.0.2.1", "2001:db8::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1", "2002:7f00:1::1", "2002:a00:1::1", "100::1",
		"fe80::1%eth0",
	} {
		if IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("IsPublic(%s) = true", s)
		}
	}
	for _, s := range []string{
		"1.1.1.1", "8.8.8.8", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.32.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	} {
		if !IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("IsPublic(%s) = false", s)
		}
	}
}

func TestParseLiteral(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1", "127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"0x7f.0.0.1": "127.0.0.1", "0x7f000001": "127.0.0.1", "0X7F.1": "127.0.0.1", "127.0.1": "127.0.0.1",
		"0": "0.0.0.0", "0.0.0.0": "0.0.0.0", "169.254.43518": "169.254.169.254", "0xa9.0xfe.0xa9.0xfe": "169.254.169.254",
		"012.0.0.1": "10.0.0.1", "::1": "::1", "::ffff:127.0.0.1": "127.0.0.1", "fe80::1%eth0": "fe80::1%eth0",
		"8.8.8.8": "8.8.8.8",
	} {
		ips, ok := ParseLiteral(in)
		if !ok || len(ips) != 1 || ips[0].String() != want {
			t.Errorf("ParseLiteral(%q) = %v, %v; want %s", in, ips, ok, want)
		}
	}
	for _, in := range []string{"example.com", "localhost", "256.0.0.1", "1.2.3.4.5", "0x", "1..2", "4294967296", "08.0.0.1", "127.0.0.1.", "-1", "1.+2"} {
		if ips, ok := ParseLiteral(in); ok {
			t.Errorf("ParseLiteral(%q) = %v; want not an address", in, ips)
		}
	}
}

// fakeResolver answers from a map; any other name is not found.
type fakeResolver map[string][]string

func (r fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, s := range r[strings.ToLower(strings.TrimSuffix(host, "."))] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

var testDNS = fakeResolver{
	"rebind.example.com": {"127.0.0.1"},
	"inside.example.com": {"127.0.0.2"},
	"mixed.example.com":  {"10.0.0.1", "127.0.0.1", "fd00::1"},
	"mail.internal":      {"127.0.0.1"},
	"other.internal":     {"127.0.0.1"},
	"metadata.example":   {"169.254.169.254"},
}

// countingListener counts the connections that reach a loopback server.
func countingListener(t *testing.T) (port string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port, accepted
}

// The probe's address forms, each refused before any packet is sent.
var refusedHosts = []string{
	"127.0.0.1", "127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "[::1]", "::1", "[::ffff:127.0.0.1]",
	"0.0.0.0", "0", "::", "169.254.169.254", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1",
	"fc00::1", "fe80::1", "fe80::1%lo", "224.0.0.1", "255.255.255.255", "64:ff9b::7f00:1",
	"localhost", "localhost.", "rebind.example.com", "REBIND.example.com.", "mixed.example.com", "metadata.example",
	"1.2.3.4.5", "127.0.0.1.1",
}

func TestDialRefusesEveryForm(t *testing.T) {
	t.Parallel()
	port, accepted := countingListener(t)
	for _, g := range []*Guard{nil, MustParse(""), MustParse("mail.internal,192.168.0.0/16")} {
		g = g.WithResolver(testDNS)
		for _, host := range refusedHosts {
			if host == "localhost" || host == "localhost." {
				g := g.WithResolver(nil) // the system's /etc/hosts
				checkRefused(t, g, host, port)
				continue
			}
			if g.String() != "" && host == "192.168.1.1" {
				continue
			}
			checkRefused(t, g, host, port)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback server", n)
	}
}

func checkRefused(t *testing.T, g *Guard, host, port string) {
	t.Helper()
	start := time.Now()
	conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(strings.Trim(host, "[]"), port))
	if err == nil {
		conn.Close()
		t.Errorf("guard %q: %s was dialled", g, host)
		return
	}
	if !errors.Is(err, ErrNotAllowed) || connerr.KindOf(err) != connerr.NotAllowed {
		t.Errorf("guard %q: %s: err = %v; want destination_not_allowed", g, host, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("guard %q: %s took %s: something was sent", g, host, d)
	}
	if e := connerr.As(err); e == nil || !strings.Contains(e.Message, strings.Trim(host, "[]")) {
		t.Errorf("guard %q: %s: the message does not name the host: %v", g, host, err)
	}
}

// A port that refuses the connection and one that drops every packet give
// the same answer: the guard answers before sending anything.
func TestClosedAndFilteredLookAlike(t *testing.T) {
	t.Parallel()
	closed := MustParse("").WithResolver(testDNS)
	var msgs []string
	for _, addr := range []string{"127.0.0.1:1", "10.255.255.1:81", "169.254.169.254:80"} {
		start := time.Now()
		_, err := closed.DialContext(context.Background(), "tcp", addr)
		if time.Since(start) > time.Second || connerr.KindOf(err) != connerr.NotAllowed {
			t.Fatalf("%s: %v after %s", addr, err, time.Since(start))
		}
		host, _, _ := net.SplitHostPort(addr)
		msgs = append(msgs, strings.ReplaceAll(connerr.As(err).Message, host, "HOST"))
	}
	if !strings.Contains(msgs[0], "--private-hosts") {
		t.Errorf("the message does not say how to allow the address: %s", msgs[0])
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Errorf("the answers differ:\n%s", strings.Join(msgs, "\n"))
	}
}

func TestAllowance(t *testing.T) {
	t.Parallel()
	port, accepted := countingListener(t)
	g := MustParse("127.0.0.0/8, mail.internal").WithResolver(testDNS)
	for _, host := range []string{"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "::ffff:127.0.0.1", "rebind.example.com", "mail.internal", "MAIL.internal.", "localhost"} {
		conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			t.Errorf("%s with 127.0.0.0/8 allowed: %v", host, err)
			continue
		}
		conn.Close()
	}
	// 127.0.0.0/8 is not 0.0.0.0, nor the rest of the internal network.
	for _, host := range []string{"0.0.0.0", "::", "::1", "10.0.0.1", "169.254.169.254", "metadata.example"} {
		checkRefused(t, g, host, port)
	}
	// A name allows its addresses for that name only.
	byName := MustParse("mail.internal").WithResolver(testDNS)
	if conn, err := byName.DialContext(context.Background(), "tcp", net.JoinHostPort("mail.internal", port)); err != nil {
		t.Errorf("mail.internal listed by name: %v", err)
	} else {
		conn.Close()
	}
	checkRefused(t, byName, "other.internal", port)
	checkRefused(t, byName, "127.0.0.1", port)
	// A name with an allowed and refused addresses reaches the allowed one.
	if conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort("mixed.example.com", port)); err != nil {
		t.Errorf("mixed.example.com with 127.0.0.0/8 allowed: %v", err)
	} else {
		conn.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() < 11 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := accepted.Load(); n != 11 {
		t.Errorf("%d connections accepted; want 11", n)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	g, err := Parse(" 127.0.0.0/8, ::1 ,10.1.2.3,fd00::/8, ::ffff:192.168.0.0/112, mail.corp.internal., ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.String(), "127.0.0.0/8,::1/128,10.1.2.3/32,fd00::/8,192.168.0.0/16,mail.corp.internal"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	for ip, want := range map[string]bool{"127.9.9.9": true, "::1": true, "10.1.2.3": true, "10.1.2.4": false,
		"fd12::1": true, "fc00::1": false, "192.168.4.4": true, "::ffff:127.0.0.1": true, "8.8.8.8": true} {
		if got := g.Allowed("", netip.MustParseAddr(ip)); got != want {
			t.Errorf("Allowed(%s) = %v; want %v", ip, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not a host", "http://10.0.0.1/", "a..b", "10.0.0.1:80"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if g, err := Parse(""); err != nil || g.String() != "" {
		t.Errorf("Parse(\"\") = %q, %v", g, err)
	}
}

// Every redirect is a new dial, so an allowed server cannot send the
// client on to a refused one.
func TestTransportRechecksRedirects(t *testing.T) {
	t.Parallel()
	var inside atomic.Int64
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
		fmt.Fprint(w, "secret")
	}))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	target.Listener.Close()
	target.Listener = l
	target.Start()
	t.Cleanup(target.Close)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, to := range []string{
		"http://127.0.0.2:" + port + "/", "http://2130706434:" + port + "/", "http://0x7f.0.0.2:" + port + "/",
		"http://[::ffff:127.0.0.2]:" + port + "/", "http://inside.example.com:" + port + "/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]:" + port + "/", "http://0.0.0.0:" + port + "/",
	} {
		front := httptest.NewServer(http.RedirectHandler(to, http.StatusFound))
		// Only the front server's own address is allowed.
		g := MustParse("127.0.0.1").WithResolver(testDNS)
		c := &http.Client{Transport: g.Transport(nil)}
		resp, err := c.Get(front.URL + "/start")
		if err == nil {
			resp.Body.Close()
			t.Errorf("redirect to %s was followed", to)
		} else if !errors.Is(err, ErrNotAllowed) {
			t.Errorf("redirect to %s: err = %v; want ErrNotAllowed", to, err)
		}
		front.Close()
	}
	if n := inside.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times", n)
	}
	// With the address allowed, the same redirect works: the refusals
	// above were the guard's.
	front := httptest.NewServer(http.RedirectHandler("http://inside.example.com:"+port+"/", http.StatusFound))
	t.Cleanup(front.Close)
	c := &http.Client{Transport: MustParse("127.0.0.0/8").WithResolver(testDNS).Transport(nil)}
	resp, err := c.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if inside.Load() != 1 {
		t.Errorf("the allowed redirect did not arrive")
	}
}
