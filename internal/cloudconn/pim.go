package cloudconn

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/googlepim"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
)

// OpenService opens the service of a PIM account signed in with a
// provider (pimconn.CloudOpener): its client shares the gate of the
// user's token set with the mailbox and the other services.
func (c *Clients) OpenService(ctx context.Context, a crm.PIMAccount) (pimconn.CloudService, error) {
	switch a.Kind {
	case crm.PIMMicrosoft:
		cfg, err := c.Graph(ctx, a.OrgID, a.CredentialID)
		if err != nil {
			return nil, err
		}
		cl, err := graph.New(cfg)
		if err != nil {
			return nil, err
		}
		return &service{client: cl, svc: a.Service, provider: microsoftService}, nil
	case crm.PIMGoogle:
		cfg, err := c.Google(ctx, a.OrgID, a.CredentialID)
		if err != nil {
			return nil, err
		}
		cl, err := google.New(cfg)
		if err != nil {
			return nil, err
		}
		return &service{client: cl, svc: a.Service, provider: googleService}, nil
	}
	return nil, fmt.Errorf("cloudconn: %s accounts are not signed in with a provider", a.Kind)
}

// service is one signed-in account's service over its provider's
// connectors.
type service struct {
	client   *cloudapi.Client
	svc      crm.PIMService
	provider providerService
}

// providerService lists a provider's collections of a service and opens
// one.
type providerService struct {
	list func(ctx context.Context, c *cloudapi.Client, svc crm.PIMService) ([]store.PIMCollection, error)
	open func(c *cloudapi.Client, svc crm.PIMService, id string) pim.Remote
}

func (s *service) Collections(ctx context.Context) ([]store.PIMCollection, error) {
	return s.provider.list(ctx, s.client, s.svc)
}

func (s *service) Remote(col store.PIMCollection) pim.Remote {
	return s.provider.open(s.client, s.svc, col.Href)
}

// collections turns a provider's listing into the store's, the default
// first.
func collections[T any](items []T, kind pim.CollectionKind, id, name func(T) string, def func(T) bool) []store.PIMCollection {
	out := make([]store.PIMCollection, 0, len(items))
	for _, it := range items {
		col := store.PIMCollection{Href: id(it), Kind: kind, DisplayName: name(it)}
		if def(it) {
			out = append([]store.PIMCollection{col}, out...)
		} else {
			out = append(out, col)
		}
	}
	return out
}

var microsoftService = providerService{
	list: func(ctx context.Context, c *cloudapi.Client, svc crm.PIMService) ([]store.PIMCollection, error) {
		var (
			cols []graphpim.Collection
			err  error
			kind pim.CollectionKind
		)
		switch svc {
		case crm.ServiceContacts:
			kind = pim.Contacts
			cols, err = graphpim.ContactFolders(ctx, c)
		case crm.ServiceTasks:
			kind = pim.Tasks
			cols, err = graphpim.TaskLists(ctx, c)
		default:
			kind = pim.Events
			cols, err = graphpim.Calendars(ctx, c)
		}
		if err != nil {
			return nil, err
		}
		return collections(cols, kind, func(c graphpim.Collection) string { return c.ID },
			func(c graphpim.Collection) string { return c.Name }, func(c graphpim.Collection) bool { return c.Default }), nil
	},
	open: func(c *cloudapi.Client, svc crm.PIMService, id string) pim.Remote {
		switch svc {
		case crm.ServiceContacts:
			return graphpim.NewContacts(c, id)
		case crm.ServiceTasks:
			return graphpim.NewTasks(c, id)
		}
		return graphpim.NewEvents(c, id)
	},
}

// googleContacts is the one "collection" of Google contacts: the People
// API syncs the user's whole contact list (My Contacts); contact groups
// are its categories, not collections.
const googleContacts = "people/me"

var googleService = providerService{
	list: func(ctx context.Context, c *cloudapi.Client, svc crm.PIMService) ([]store.PIMCollection, error) {
		var (
			cols []googlepim.Collection
			err  error
			kind pim.CollectionKind
		)
		switch svc {
		case crm.ServiceContacts:
			return []store.PIMCollection{{Href: googleContacts, Kind: pim.Contacts, DisplayName: "Contacts"}}, nil
		case crm.ServiceTasks:
			kind = pim.Tasks
			cols, err = googlepim.TaskLists(ctx, c)
		default:
			kind = pim.Events
			cols, err = googlepim.Calendars(ctx, c)
		}
		if err != nil {
			return nil, err
		}
		return collections(cols, kind, func(c googlepim.Collection) string { return c.ID },
			func(c googlepim.Collection) string { return c.Name }, func(c googlepim.Collection) bool { return c.Default }), nil
	},
	open: func(c *cloudapi.Client, svc crm.PIMService, id string) pim.Remote {
		switch svc {
		case crm.ServiceContacts:
			return googlepim.NewContacts(c)
		case crm.ServiceTasks:
			return googlepim.NewTasks(c, id)
		}
		return googlepim.NewEvents(c, id)
	},
}
