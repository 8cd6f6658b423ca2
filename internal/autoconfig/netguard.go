package autoconfig

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// guard makes the connections of a discovery: it resolves host names with
// the Discoverer's Resolver and, unless allowPrivate, refuses every address
// that is not public. The check is made on the address about to be dialled
// (the resolved one, not the name), so a name that resolves to 127.0.0.1 —
// at first or, by DNS rebinding, on a later lookup — and a redirect to an
// internal host are refused alike. The dialer's Control function checks the
// address once more at the socket level, in case anything else feeds the
// dialer.
type guard struct {
	resolver     Resolver
	allowPrivate bool
	// allow overrides the address check; tests set it.
	allow func(netip.Addr) bool
	// probeTLS is the base TLS configuration of probes (nil: system roots);
	// tests set it to trust their own certificate.
	probeTLS *tls.Config
}

// ErrPrivateAddress is wrapped by the error of a connection refused because
// the address is not public and AllowPrivate is off.
var ErrPrivateAddress = errors.New("autoconfig: refusing to connect to a non-public address")

func (g *guard) allowed(ip netip.Addr) bool {
	if g.allow != nil {
		return g.allow(ip)
	}
	return g.allowPrivate || isPublic(ip)
}

// dialTimeout bounds one TCP connection attempt.
const dialTimeout = 5 * time.Second

// dialContext connects to addr ("host:port"), trying its addresses in turn
// and skipping those not allowed.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ias, err := g.resolver.LookupIPAddr(ctx, fqdn(host))
		if err != nil {
			return nil, err
		}
		for _, ia := range ias {
			if ip, ok := netip.AddrFromSlice(ia.IP); ok {
				ips = append(ips, ip.Unmap())
			}
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	d := net.Dialer{
		Timeout: dialTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !g.allowed(ap.Addr().Unmap()) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
			}
			return nil
		},
	}
	var firstErr error
	for _, ip := range ips {
		if !g.allowed(ip) {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s is %s", ErrPrivateAddress, host, ip)
			}
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrPrivateAddress) {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// Special-purpose ranges that netip's predicates do not cover (IANA IPv4
// and IPv6 Special-Purpose Address Registries): none of them is a public
// server an autoconfig file could live on.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space, RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated), ::, ::1
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// Prefixes whose addresses embed an IPv4 address that a gateway would
// reach: NAT64 (RFC 6052) and 6to4 (RFC 3056). The embedded address is
// checked too, or 64:ff9b::7f00:1 would reach 127.0.0.1.
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixToFo = netip.MustParsePrefix("2002::/16")
)

// isPublic reports whether ip may be the address of a server on the public
// Internet: not loopback, private (RFC 1918, fc00::/7), link-local,
// multicast, unspecified, CGNAT or another special-purpose range.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.Zone() != "" ||
		ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return isPublic(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFo.Contains(ip):
			return isPublic(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// Limits of the default HTTP client.
const (
	maxRedirects   = 3
	httpTimeout    = 10 * time.Second
	maxHeaderBytes = 64 << 10
)

// newHTTPClient is the client autoconfig files are fetched with when the
// Discoverer has none: every connection through g, no proxy (a proxy would
// make the guard check the proxy's address instead of the server's), short
// timeouts, and at most maxRedirects redirects, none from https to http.
func newHTTPClient(g *guard) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  5 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("autoconfig: more than %d redirects", maxRedirects)
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("autoconfig: refusing a redirect from https to http")
			}
			return nil
		},
	}
}
