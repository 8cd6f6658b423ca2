package web

// The organisation's administration (admins only; others get a 404):
// users, the sign-in apps of Microsoft and Google, the linking rules and
// what the server keeps of disconnected mailboxes. Each page calls the
// same services as the REST API (internal/users, internal/oauth, the
// linker's rules and the store), so the two never disagree.

// adminRoutes registers the pages of this area (see routes in web.go).
func (s *Server) adminRoutes() {
	s.admin("GET /admin", s.adminIndex)
	s.adminUserRoutes()
	s.adminOAuthRoutes()
	s.adminLinkingRoutes()
}

// adminLink is an entry of the administration's index.
type adminLink struct {
	Href  string
	Title string // catalogue ids
	Desc  string
}

// adminLinks are every administration page, including the ones other
// areas build (the mail service, single sign-on, the security policy).
var adminLinks = []adminLink{
	{"/admin/users", "admin.users.title", "admin.index.users"},
	{"/admin/oauth", "admin.oauth.title", "admin.index.oauth"},
	{"/admin/linking", "admin.linking.title", "admin.index.linking"},
	{"/admin/mail-service", "admin.index.mail_service_title", "admin.index.mail_service"},
	{"/admin/sso", "admin.index.sso_title", "admin.index.sso"},
	{"/admin/security", "admin.index.security_title", "admin.index.security"},
}

func (s *Server) adminIndex(p *Page) error {
	return p.Render("admin", adminLinks)
}
