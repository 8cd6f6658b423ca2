package pimconn

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// CloudOpener opens the service of an account signed in with a provider
// (a Microsoft contact folder, calendar or To Do list over Graph; Google
// contacts, calendars or task lists): the wiring (package cloudconn) knows
// the connectors and the account's token set, pimconn only chooses the
// collection.
type CloudOpener interface {
	OpenService(ctx context.Context, a crm.PIMAccount) (CloudService, error)
}

// CloudService is one signed-in account's service.
type CloudService interface {
	// Collections lists what the user may sync, of the service's kind
	// (contacts, events or tasks), the provider's default first.
	Collections(ctx context.Context) ([]store.PIMCollection, error)
	// Remote reaches one of them.
	Remote(col store.PIMCollection) pim.Remote
}

func (c *Connector) cloud(ctx context.Context, a crm.PIMAccount) (CloudService, error) {
	if c.Cloud == nil {
		return nil, &connerr.Error{Kind: connerr.Protocol,
			Message: "Accounts signed in with Microsoft or Google cannot be synced by this server: an administrator must set up the organisation's app."}
	}
	return c.Cloud.OpenService(ctx, a)
}

// openCloud returns the one target of a signed-in account: the collection
// chosen in its options (the provider's default when none was), reached
// through the provider's connector. A chosen collection the sync has
// listed before, with a cursor, is used without listing again.
func (c *Connector) openCloud(ctx context.Context, a crm.PIMAccount, known []store.PIMCollection) ([]Target, error) {
	svc, err := c.cloud(ctx, a)
	if err != nil {
		return nil, err
	}
	kind := serviceKind(a.Service)
	if chosen := a.Options.Collection; chosen != "" {
		for _, k := range known {
			if k.Kind == kind && k.Href == chosen && k.SyncToken != "" {
				return []Target{{Collection: k, Remote: svc.Remote(k)}}, nil
			}
		}
	}
	cols, err := svc.Collections(ctx)
	if err != nil {
		return nil, err
	}
	for _, col := range cols {
		if col.Kind == kind && (a.Options.Collection == "" || col.Href == a.Options.Collection) {
			return []Target{{Collection: col, Remote: svc.Remote(col)}}, nil
		}
	}
	what := map[pim.CollectionKind]string{pim.Contacts: "contact folder", pim.Events: "calendar", pim.Tasks: "task list"}[kind]
	if a.Options.Collection != "" {
		return nil, &connerr.Error{Kind: connerr.Gone,
			Message: fmt.Sprintf("The %s chosen for this account no longer exists (or crmsync may no longer write to it). Choose another one in the account's options.", what)}
	}
	return nil, &connerr.Error{Kind: KindNoCollections,
		Message: fmt.Sprintf("This account has no %s crmsync can write to. Create one, then sync again.", what)}
}

// serviceKind is the kind of collection a service syncs.
func serviceKind(svc crm.PIMService) pim.CollectionKind {
	switch svc {
	case crm.ServiceContacts:
		return pim.Contacts
	case crm.ServiceTasks:
		return pim.Tasks
	}
	return pim.Events
}
