package accounts

import (
	"context"
	"log/slog"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMCollectionLister is a PIMConnector that can also list an account's
// collections with its stored password (pimconn.Connector can). With it,
// choosing a collection the sync has not listed yet (right after
// connecting) does not ask for the password again.
type PIMCollectionLister interface {
	Collections(ctx context.Context, a crm.PIMAccount) ([]store.PIMCollection, error)
}

// knownCollections are the collections a choice of opts is checked
// against without the password: those the sync has listed, or, when a
// chosen one is not among them, those the server lists now with the
// stored password. A failure to list is logged and leaves the stored
// list, whose refusal then asks for the password.
func (s *Service) knownCollections(ctx context.Context, a crm.PIMAccount, opts *crm.PIMOptions) ([]store.PIMCollection, error) {
	known, err := s.st.PIMCollections(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	has := func(kind pim.CollectionKind, href string) bool { return href == "" || hasCollection(known, kind, href) }
	lister, ok := s.pim.(PIMCollectionLister)
	if !ok || (has(collectionKind(a.Service), opts.Collection) && has(pim.Tasks, opts.TaskCollection)) {
		return known, nil
	}
	listed, err := lister.Collections(ctx, a)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "listing a PIM account's collections with its stored password failed",
			slog.Int64("account_id", a.ID), slog.Any("err", err))
		return known, nil
	}
	return listed, nil
}
