package web

// ssoButton is a "Sign in with …" button of the sign-in page: a link
// that starts single sign-on.
type ssoButton struct {
	Label string // already in the user's language
	URL   string
}

// ssoButtons lists the sign-in page's single sign-on buttons (none until
// an admin configures OpenID Connect).
func (s *Server) ssoButtons(p *Page, next string) []ssoButton { return nil }
