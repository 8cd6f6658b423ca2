package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMCategory is a category the items of an account's server carry.
type PIMCategory struct {
	Name  string
	Items int // the server's items that carry it
	// Fixed: one of the Base … categories, which the CRM computes and
	// writes; it never selects what is imported.
	Fixed bool
	// Imported: the items that carry it come into the CRM, with it (see
	// the account's import_categories).
	Imported bool
}

// PIMCategories are an account's server categories, as its last sync saw
// them.
type PIMCategories struct {
	Categories []PIMCategory
	// UpdatedAt is the account's last sync; nil before the first, when
	// the list is empty.
	UpdatedAt *time.Time
}

// PIMCategories lists the categories the items of an account's server
// carry, so that the user can choose which to import. The list comes from
// what the sync stored, not from the server: it is fast, works while the
// server is down, and is as fresh as the last sync (UpdatedAt). Anyone who
// may see the account may see it.
func (s *Service) PIMCategories(ctx context.Context, v crm.Viewer, id int64) (PIMCategories, error) {
	a, err := s.st.GetPIMAccount(ctx, v, id)
	if err != nil {
		return PIMCategories{}, err
	}
	return s.serverCategories(ctx, a)
}

func (s *Service) serverCategories(ctx context.Context, a crm.PIMAccount) (PIMCategories, error) {
	out := PIMCategories{Categories: []PIMCategory{}, UpdatedAt: a.LastSyncAt}
	cols, err := s.st.PIMCollections(ctx, a.ID)
	if err != nil {
		return out, err
	}
	var items []store.PIMItem
	for _, c := range cols { // a calendar's events and its tasks are two
		its, err := s.st.PIMItems(ctx, c.ID)
		if err != nil {
			return out, err
		}
		items = append(items, its...)
	}
	counts := engine.ServerCategories(items)
	imports := a.Options.ImportCategories
	for _, c := range counts {
		fixed := pim.IsFixed(c.Name)
		out.Categories = append(out.Categories, PIMCategory{Name: c.Name, Items: c.Items, Fixed: fixed,
			Imported: !fixed && pim.ImportFilter([]string{c.Name}, imports)})
	}
	return out, nil
}

// PIMWarnings are what the account's view tells its user to look at
// without anything having failed: a name of import_categories that no
// item on the server carries (a typo imports nothing, silently, while the
// user waits for their contacts). Nothing is said before the first sync:
// nothing is known of the server's items yet.
func (s *Service) PIMWarnings(ctx context.Context, a crm.PIMAccount) ([]string, error) {
	warnings := []string{}
	if a.LastSyncAt == nil || len(a.Options.ImportCategories) == 0 {
		return warnings, nil
	}
	cats, err := s.serverCategories(ctx, a)
	if err != nil {
		return warnings, err
	}
	for _, name := range a.Options.ImportCategories {
		found := false
		for _, c := range cats.Categories {
			if strings.EqualFold(strings.Join(strings.Fields(name), " "), c.Name) {
				found = true
				break
			}
		}
		if !found {
			warnings = append(warnings, fmt.Sprintf("No item on the server is in the category %q yet: check its spelling; it will be imported when one is.", name))
		}
	}
	return warnings, nil
}
