package oauth

// RedirectURI is the address the admin registers with the provider as
// the app's redirect (reply) URI: the settings page shows it before the
// app is saved, since the provider asks for it first.
func (s *Service) RedirectURI(provider string) (string, error) {
	p, err := s.provider(provider)
	if err != nil {
		return "", err
	}
	return s.redirectURI(p), nil
}
