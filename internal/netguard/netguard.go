package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/crmsync/crmsync/internal/connerr"
)

// ErrNotAllowed is in the chain of every refusal, to test with errors.Is.
var ErrNotAllowed = errors.New("netguard: destination not allowed")

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Guard decides which addresses crmsync may connect to for a user and
// makes those connections. The zero value, and a nil *Guard, allow only
// public addresses. A Guard is immutable and safe for concurrent use.
type Guard struct {
	prefixes []netip.Prefix // allowed non-public ranges
	hosts    []string       // allowed host names, lower case, no trailing dot
	resolver Resolver       // nil: net.DefaultResolver
}

// Parse reads an allowance list as --private-hosts takes it: CIDRs
// ("127.0.0.0/8", "fd00::/8"), single addresses and host names
// ("mail.corp.internal"), separated by commas. An empty list allows
// nothing but public addresses. A host name allows whatever addresses it
// resolves to, so list names only from a DNS the operator trusts.
func Parse(list string) (*Guard, error) {
	g := &Guard{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			g.prefixes = append(g.prefixes, unmapPrefix(p.Masked()))
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(item, "[]")); err == nil && ip.Zone() == "" {
			ip = ip.Unmap()
			g.prefixes = append(g.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if !validHostName(item) {
			return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8), an IP address nor a host name: list the private servers users may reach, separated by commas", item)
		}
		g.hosts = append(g.hosts, normalHost(item))
	}
	return g, nil
}

// MustParse is Parse for lists known to be valid (tests, constants).
func MustParse(list string) *Guard {
	g, err := Parse(list)
	if err != nil {
		panic(err)
	}
	return g
}

// WithResolver returns a copy of g that resolves host names with r (nil:
// the system's). Autoconfiguration passes its own, so that one resolver
// answers every lookup of a discovery.
func (g *Guard) WithResolver(r Resolver) *Guard {
	c := Guard{}
	if g != nil {
		c = *g
	}
	c.resolver = r
	return &c
}

// String is the allowance list, as Parse reads it.
func (g *Guard) String() string {
	if g == nil {
		return ""
	}
	var items []string
	for _, p := range g.prefixes {
		items = append(items, p.String())
	}
	return strings.Join(append(items, g.hosts...), ",")
}

// Allowed reports whether a connection to ip, reached through the name
// host ("" for a literal address), is allowed.
func (g *Guard) Allowed(host string, ip netip.Addr) bool {
	ip = ip.Unmap()
	if IsPublic(ip) {
		return true
	}
	if g == nil || ip.Zone() != "" {
		return false
	}
	for _, p := range g.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if host != "" {
		h := normalHost(host)
		for _, allowed := range g.hosts {
			if h == allowed {
				return true
			}
		}
	}
	return false
}

// Check resolves host (a name or an address in any spelling a resolver
// takes) and returns those of its addresses that are allowed, or a refusal
// when none is. The addresses refused are never dialled, so a name that
// mixes a public and an internal address reaches only the public one.
func (g *Guard) Check(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	name := host
	ips, literal := ParseLiteral(host)
	switch {
	case literal:
		name = ""
	case isLocalhost(host):
		// RFC 6761 §6.3: localhost names are loopback, whatever a
		// resolver would answer for them.
		ips = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	case looksNumeric(host):
		// Not an address Go reads, but one a C resolver might: refused
		// rather than guessed at.
		return nil, &connerr.Error{Kind: connerr.NotAllowed, Server: host, Err: fmt.Errorf("%w: %s is not a host name", ErrNotAllowed, host),
			Message: fmt.Sprintf("%q is neither a host name nor an IP address crmsync can read: write the address as 203.0.113.7 or [2001:db8::7], or use the server's name.", host)}
	default:
		var err error
		if ips, err = g.lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	var ok []netip.Addr
	for _, ip := range ips {
		if g.Allowed(name, ip) {
			ok = append(ok, ip)
		}
	}
	if len(ok) == 0 {
		return nil, refusal(host, ips[0])
	}
	return ok, nil
}

func (g *Guard) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	var r Resolver = net.DefaultResolver
	if g != nil && g.resolver != nil {
		r = g.resolver
	}
	ias, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, ia := range ias {
		if ip, ok := netip.AddrFromSlice(ia.IP); ok {
			ips = append(ips, ip.Unmap().WithZone(ia.Zone))
		}
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// DialContext connects to addr ("host:port") like net.Dialer.DialContext,
// through the guard: the host's addresses are checked, then tried in turn.
// The context bounds the whole attempt. Its signature is that of
// http.Transport.DialContext and of the dial hooks of imapsync and smtpout.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := g.Check(ctx, host)
	if err != nil {
		return nil, err
	}
	name := host
	if _, literal := ParseLiteral(host); literal {
		name = ""
	}
	d := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		// The socket's own address, in case anything but the checked
		// list reaches this dialer.
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if !g.Allowed(name, ap.Addr()) {
			return refusal(host, ap.Addr())
		}
		return nil
	}}
	var firstErr error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// refusal is the error of a refused address. It names the host as the
// user typed it and the address it led to, and says who can lift it.
func refusal(host string, ip netip.Addr) *connerr.Error {
	target := host
	if host != ip.String() {
		target = fmt.Sprintf("%s (%s)", host, ip)
	}
	return &connerr.Error{Kind: connerr.NotAllowed, Server: host, Err: fmt.Errorf("%w: %s is %s", ErrNotAllowed, host, ip),
		Message: fmt.Sprintf("crmsync does not connect to %s: it is a loopback, private or otherwise internal address. "+
			"Use the server's public name, or ask the administrator to allow it with --private-hosts.", target)}
}

func isLocalhost(h string) bool {
	h = normalHost(h)
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

func normalHost(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }

// validHostName accepts letters, digits, '-', '_' and dots: the names an
// operator may list.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, since addresses
// are compared unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
