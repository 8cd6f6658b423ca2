package web

// securityRoutes registers the pages of this area (see routes in web.go).
func (s *Server) securityRoutes() {}
