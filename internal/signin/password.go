package signin

import (
	"context"
	"errors"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// ErrHasPassword: the user already has a password. Changing it needs the
// current one (PATCH /api/v1/users/{id} with current_password, the
// security page), not SetFirstPassword.
var ErrHasPassword = errors.New("signin: the user already has a password")

// SetFirstPassword gives a password to a user who has none: one who signs
// in through single sign-on, for the clients that cannot (an API client,
// a script). It is hashed behind the service's gate; a short one is
// auth.ErrWeakPassword.
func (s *Service) SetFirstPassword(ctx context.Context, u crm.User, password string) error {
	_, hash, err := s.cfg.Store.UserForLogin(ctx, u.Email)
	if err != nil {
		return err
	}
	if hash != "" {
		return ErrHasPassword
	}
	h, err := s.cfg.Hasher.HashPassword(ctx, password)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.UpdateUser(ctx, u.OrgID, u.ID, func(p *store.UserParams) error {
		p.PasswordHash, p.SetPassword = h, true
		return nil
	})
	return err
}

// HasPassword reports whether the user has a password.
func (s *Service) HasPassword(ctx context.Context, u crm.User) (bool, error) {
	_, hash, err := s.cfg.Store.UserForLogin(ctx, u.Email)
	return hash != "", err
}
