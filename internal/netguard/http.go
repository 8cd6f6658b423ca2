package netguard

import (
	"crypto/tls"
	"net/http"
	"time"
)

// Limits of the guarded transport: a server that never answers, or sends
// endless headers, does not hold a connection or memory for long.
const (
	tlsHandshakeTimeout = 10 * time.Second
	maxHeaderBytes      = 64 << 10
)

// Transport returns an HTTP transport whose every connection goes through
// g, so that each request and each redirect it follows is checked. It
// uses no proxy: through a proxy the guard would check the proxy's
// address instead of the server's. tc is the TLS configuration (nil: the
// system's authorities; at least TLS 1.2 either way).
func (g *Guard) Transport(tc *tls.Config) *http.Transport {
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
}
