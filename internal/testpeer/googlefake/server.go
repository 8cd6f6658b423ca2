package googlefake

import (
	"net/http"
	"net/http/httptest"
)

// Server is the fake on one loopback address: Google's OAuth endpoints and
// the APIs side by side, the APIs' bearer tokens being the identity's.
type Server struct {
	*httptest.Server
	Mux      *http.ServeMux
	Identity *Identity
	API      *API
}

// New starts a Server; Close it when done.
func New() *Server {
	s := &Server{Mux: http.NewServeMux(), Identity: NewIdentity(), API: NewAPI()}
	s.API.CheckToken = s.Identity.Valid
	s.Identity.Register(s.Mux)
	s.Mux.Handle("/", s.API)
	s.Server = httptest.NewServer(s.Mux)
	return s
}

// AuthURL, TokenURL and APIURL are the app's auth_url, token_url and
// api_url.
func (s *Server) AuthURL() string  { return s.URL + "/o/oauth2/auth" }
func (s *Server) TokenURL() string { return s.URL + "/token" }
func (s *Server) APIURL() string   { return s.URL }
