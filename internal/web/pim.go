package web

// pimRoutes registers the pages of this area (see routes in web.go).
func (s *Server) pimRoutes() {}
