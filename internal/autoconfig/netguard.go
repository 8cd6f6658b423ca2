package autoconfig

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/netguard"
)

// guard makes the connections of a discovery through the network guard
// (package netguard): host names are resolved with the Discoverer's
// Resolver, and every address not public and not allowed by the
// operator's list is refused, on the address about to be dialled, so a
// name that resolves to 127.0.0.1 — at first or, by DNS rebinding, later
// — and a redirect to an internal host are refused alike.
type guard struct {
	net *netguard.Guard
	// probeTLS is the base TLS configuration of probes (nil: system roots);
	// tests set it to trust their own certificate.
	probeTLS *tls.Config
}

// newGuard is g resolving with r (absolute names, so that no search
// domain of the machine is appended to a domain from the Internet).
func newGuard(g *netguard.Guard, r Resolver) *guard {
	return &guard{net: g.WithResolver(fqdnResolver{r})}
}

type fqdnResolver struct{ r Resolver }

func (f fqdnResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return f.r.LookupIPAddr(ctx, fqdn(host))
}

// ErrPrivateAddress is in the chain of a connection refused by the guard.
// It is netguard.ErrNotAllowed; the error is a *connerr.Error of kind
// destination_not_allowed.
var ErrPrivateAddress = netguard.ErrNotAllowed

// dialTimeout bounds one TCP connection attempt.
const dialTimeout = 5 * time.Second

// dialContext connects to addr ("host:port") through the guard.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return g.net.DialContext(ctx, network, addr)
}

// Limits of the default HTTP client.
const (
	maxRedirects = 3
	httpTimeout  = 10 * time.Second
)

// newHTTPClient is the client autoconfig files are fetched with when the
// Discoverer has none: every connection through the guard's transport (no
// proxy, bounded headers), short timeouts, and at most maxRedirects
// redirects, none from https to http.
func newHTTPClient(g *guard) *http.Client {
	tr := g.net.Transport(nil)
	tr.DialContext = g.dialContext
	tr.ResponseHeaderTimeout = 5 * time.Second
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.DisableKeepAlives = true
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
