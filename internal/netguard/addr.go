package netguard

import (
	"net/netip"
	"strconv"
	"strings"
)

// Special-purpose ranges that netip's predicates do not cover (IANA IPv4
// and IPv6 Special-Purpose Address Registries): none of them is a public
// server a user could mean.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; 0.0.0.0 reaches this host
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

// IsPublic reports whether ip may be the address of a server on the public
// Internet: not loopback, private (RFC 1918, fc00::/7), link-local,
// multicast, unspecified, CGNAT or another special-purpose range, in its
// IPv4 or IPv4-mapped IPv6 form. An address with a zone is link-scoped,
// so not public.
func IsPublic(ip netip.Addr) bool {
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
			return IsPublic(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFo.Contains(ip):
			return IsPublic(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// ParseLiteral reads host as an IP address, in the spellings Go reads
// ("127.0.0.1", "::ffff:127.0.0.1", "fe80::1%eth0") and in the legacy
// IPv4 ones of inet_aton(3) that a C resolver, a browser or curl would
// connect to: fewer than four parts ("127.1"), one number ("2130706433"),
// octal ("0177.0.0.1") and hexadecimal ("0x7f.0.0.1") parts. ok is false
// when host is not an address. The address is returned unmapped.
func ParseLiteral(host string) (ips []netip.Addr, ok bool) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, true
	}
	if ip, ok := parseInetAton(host); ok {
		return []netip.Addr{ip}, true
	}
	return nil, false
}

// parseInetAton is inet_aton(3): one to four parts, each decimal, octal
// (leading 0) or hexadecimal (leading 0x); the last part fills the bytes
// the others leave.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" || strings.ContainsAny(p, "+-_") {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	var n uint64
	for _, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	n = n<<(8*(5-len(vals))) | last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// looksNumeric reports whether host's last label starts with a digit and
// holds only hexadecimal digits and x: no top-level domain does, and a
// resolver may read such a name as an address.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	label := host[strings.LastIndexByte(host, '.')+1:]
	if label == "" || label[0] < '0' || label[0] > '9' {
		return false
	}
	return strings.Trim(label, "0123456789abcdefABCDEFxX") == ""
}
