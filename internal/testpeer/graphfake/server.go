// Package graphfake is a stateful fake of the Microsoft identity platform
// and of Microsoft Graph, on loopback, for tests, benchmarks and demos. It
// follows the reference (cloud-apis.md §2, §15), not crmsync's connectors:
// where the two disagree, the reference wins.
package graphfake

import (
	"net/http"
	"net/http/httptest"
)

// Server is the fake on one loopback address: the identity platform's
// endpoints (/{tenant}/oauth2/v2.0/…) and Graph's (/v1.0/…) side by side,
// so LoginURL and GraphURL are both its URL.
type Server struct {
	*httptest.Server
	Mux      *http.ServeMux
	Identity *Identity
}

// New starts a Server; Close it when done.
func New() *Server {
	s := &Server{Mux: http.NewServeMux(), Identity: NewIdentity()}
	s.Identity.Register(s.Mux)
	s.Server = httptest.NewServer(s.Mux)
	return s
}

// LoginURL is the base to register as the app's login_url.
func (s *Server) LoginURL() string { return s.URL }

// GraphURL is the base to register as the app's graph_url.
func (s *Server) GraphURL() string { return s.URL }
