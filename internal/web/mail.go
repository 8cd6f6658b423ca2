package web

// mailRoutes registers the pages of this area (see routes in web.go).
func (s *Server) mailRoutes() {}
