package store

import (
	"context"
	"fmt"
)

// RequireCurrent returns an error telling the operator what to do unless the
// database schema is exactly the one this binary was built for. Every
// command but migrate and init calls it before doing anything else.
func RequireCurrent(ctx context.Context, s Store) error {
	cur, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case cur == 0:
		return fmt.Errorf("%w: the database is empty; run `crmsync init` to set it up", ErrSchemaBehind)
	case cur < latest:
		return fmt.Errorf("%w: the database schema is at version %d but this crmsync needs version %d; run `crmsync migrate` (with the same --db) first", ErrSchemaBehind, cur, latest)
	case cur > latest:
		return fmt.Errorf("%w: the database schema is at version %d, newer than this crmsync (version %d) knows; run a newer crmsync", ErrSchemaAhead, cur, latest)
	}
	return nil
}
