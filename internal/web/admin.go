package web

// adminRoutes registers the pages of this area (see routes in web.go).
func (s *Server) adminRoutes() {}
