package pimconn

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/store"
)

// Target is a collection an account syncs, and the Remote that reaches it.
type Target struct {
	Collection store.PIMCollection
	Remote     *Remote
}

// Open logs in as the account, discovers its collections again (they may
// have moved or gone since the account was saved) and returns those its
// options select: for carddav the chosen address book (the first when
// none was chosen); for caldav the chosen calendar's events and the task
// list's tasks (the chosen one, else the calendar if it holds tasks, else
// the first that does). A chosen collection that is gone is an error the
// user can act on.
func (c *Connector) Open(ctx context.Context, a crm.PIMAccount) ([]Target, error) {
	cl, err := c.Client(ctx, a)
	if err != nil {
		return nil, err
	}
	d, err := cl.Discover(ctx)
	if err != nil {
		return nil, err
	}
	usable := Usable(a.Kind, d.Collections)
	syncs := map[string]bool{}
	for _, col := range d.Collections {
		syncs[col.Href] = col.SupportsSync
	}
	pick := func(kind, chosen string, required bool) (*Target, error) {
		for _, col := range usable {
			if col.Kind == kind && (chosen == "" || sameHref(col.Href, chosen)) {
				return &Target{Collection: col, Remote: &Remote{Client: cl, Href: col.Href, Kind: kind, SupportsSync: syncs[col.Href]}}, nil
			}
		}
		if chosen != "" && required {
			return nil, &dav.Error{Kind: KindNoCollections,
				Message: fmt.Sprintf("The collection %s chosen for this account is no longer on %s (or crmsync may no longer write to it). Choose another one in the account's options.", chosen, hostOf(a.URL))}
		}
		return nil, nil
	}
	var out []Target
	if a.Kind == crm.PIMCardDAV {
		t, err := pick(KindContacts, a.Options.Collection, true)
		if err != nil {
			return nil, err
		}
		if t != nil {
			out = append(out, *t)
		}
	} else {
		ev, err := pick(KindEvents, a.Options.Collection, true)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			out = append(out, *ev)
		}
		var tasks *Target
		if a.Options.TaskCollection != "" {
			if tasks, err = pick(KindTasks, a.Options.TaskCollection, true); err != nil {
				return nil, err
			}
		} else {
			if tasks, _ = pick(KindTasks, a.Options.Collection, false); tasks == nil {
				tasks, _ = pick(KindTasks, "", false)
			}
		}
		if tasks != nil {
			out = append(out, *tasks)
		}
	}
	if len(out) == 0 {
		return nil, noCollections(a.Kind, d, a.URL, a.Username)
	}
	return out, nil
}

// sameHref compares collection paths with or without their final slash.
func sameHref(a, b string) bool {
	trim := func(s string) string {
		for len(s) > 1 && s[len(s)-1] == '/' {
			s = s[:len(s)-1]
		}
		return s
	}
	return trim(a) == trim(b)
}
