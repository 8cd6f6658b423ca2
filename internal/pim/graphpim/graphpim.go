// Package graphpim is the PIM connector for Microsoft 365 and Outlook.com
// over Microsoft Graph: a user's contact folder, calendar and Microsoft To
// Do list, each as a pim.Remote driven by the PIM engine exactly as a
// CardDAV address book or a CalDAV calendar is (same policies, tombstones,
// import filter, replaced-value fields). Semantics follow
// shared/reference/cloud-apis.md §4, §5, §7 and §8.
//
//   - contacts.go: a contact folder with contacts/delta; Outlook's master
//     category list kept (pim.CategoryKeeper); a CRM id stamped in an
//     extended property. contactfields.go maps a contact to pim.Fields
//     and back; batch.go sends JSON batches.
//   - events.go, recurrence.go: a calendar with calendarView/delta over a
//     moving window; patternedRecurrence to and from RRULE.
//   - tasks.go: a To Do list with its tasks delta.
//
// It knows nothing of storage nor of sign-in: it is given the mailbox's
// Graph client (package graph: the Gate every connector of the mailbox
// shares, tokens, classification of refusals).
package graphpim

import (
	"context"
	"encoding/json"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
)

// Collection is a contact folder, calendar or To Do list the user may
// choose. ID is what a Remote is opened with (and the href the store
// keeps); Default is the one synced when the user chose none (the
// "Contacts" folder, the default calendar, the default To Do list).
type Collection struct {
	ID      string
	Name    string
	Default bool
}

// Limits on what one answer may weigh.
const (
	maxPage  = 32 << 20 // a delta page or a listing
	maxSmall = 1 << 20  // one item
)

// page is one page of a Graph collection or delta round.
type page struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// pages reads the pages from u (a path or a link Graph gave) until the
// last, handing each item to fn, and returns the deltaLink that ends them
// ("" for a listing that is not a delta round). A round that ends with
// neither link is a Protocol error.
func pages(ctx context.Context, c *cloudapi.Client, u string, maxPageSize int, fn func(json.RawMessage) error) (string, error) {
	prefer := []string{}
	if maxPageSize > 0 {
		prefer = append(prefer, "odata.maxpagesize="+itoa(maxPageSize))
	}
	for {
		var p page
		if err := graph.GetJSON(ctx, c, u, maxPage, &p, prefer...); err != nil {
			return "", err
		}
		for _, v := range p.Value {
			if err := fn(v); err != nil {
				return "", err
			}
		}
		switch {
		case p.NextLink != "":
			u = p.NextLink
		case p.DeltaLink != "":
			return p.DeltaLink, nil
		default:
			return "", nil
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// protocol is Graph answering with something crmsync cannot use.
func protocol(c *cloudapi.Client, msg string) *connerr.Error {
	return &connerr.Error{Kind: connerr.Protocol, Server: c.Server, Message: msg}
}
