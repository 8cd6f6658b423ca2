package web

// recordRoutes registers the pages of this area (see routes in web.go).
func (s *Server) recordRoutes() {}
