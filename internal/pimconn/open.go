package pimconn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/store"
)

// Target is a collection an account syncs, and the Remote that reaches it.
// A Target with a Warning and no Remote is a choice that cannot be synced
// any more (a task list that no longer takes tasks): the account says so
// and syncs the rest.
type Target struct {
	Collection store.PIMCollection
	Remote     pim.Remote // nil with a Warning
	Warning    string
}

// Open returns the collections an account's options select: for carddav
// the chosen address book (the first when none was chosen); for caldav the
// chosen calendar's events and the task list's tasks (the chosen one, else
// the calendar if it holds tasks, else the first that does).
//
// known are the account's collections as the store holds them. When they
// answer the options and each has a sync token (which proves the server
// offers sync-collection on it), they are used as they are: discovery
// costs a few requests, one of which makes some servers read every
// collection of the user (Radicale: ~0.35 s with a 5,000-card address
// book), more than a whole pass with nothing new. Otherwise — a new
// account, a changed option, a collection whose cursor was dropped
// because it vanished — Open discovers them again. A chosen collection
// that is gone is an error the user can act on.
func (c *Connector) Open(ctx context.Context, a crm.PIMAccount, known []store.PIMCollection) ([]Target, error) {
	if a.Kind.SignedIn() {
		return c.openCloud(ctx, a, known)
	}
	cl, err := c.Client(ctx, a)
	if err != nil {
		return nil, err
	}
	if ts := fromKnown(cl, a, known); ts != nil {
		return ts, nil
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
	pick := func(kind pim.CollectionKind, chosen string, required bool) (*Target, error) {
		for _, col := range usable {
			if pim.CollectionKind(col.Kind) == kind && (chosen == "" || sameHref(col.Href, chosen)) {
				return &Target{Collection: col, Remote: &Remote{Client: cl, Href: col.Href, Kind: kind, SupportsSync: syncs[col.Href]}}, nil
			}
		}
		if chosen != "" && required {
			return nil, &connerr.Error{Kind: connerr.Gone, Server: hostOf(a.URL),
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
			if stillCalendar(usable, a.Options.TaskCollection) {
				// The server still has the calendar but it no longer takes
				// tasks: the events go on, and the account says why the
				// tasks do not.
				tasks = &Target{Collection: store.PIMCollection{Href: a.Options.TaskCollection, Kind: KindTasks},
					Warning: fmt.Sprintf("The calendar %s chosen for tasks no longer accepts tasks on %s, so tasks are not synced. Choose a task list in the account's options (calendars that accept tasks: %s).",
						a.Options.TaskCollection, hostOf(a.URL), taskCalendars(usable))}
			} else if tasks, err = pick(KindTasks, a.Options.TaskCollection, true); err != nil {
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

// stillCalendar reports whether href is among the usable collections as a
// calendar of events only (not one that takes tasks).
func stillCalendar(usable []store.PIMCollection, href string) bool {
	events, tasks := false, false
	for _, c := range usable {
		if sameHref(c.Href, href) {
			events = events || pim.CollectionKind(c.Kind) == KindEvents
			tasks = tasks || pim.CollectionKind(c.Kind) == KindTasks
		}
	}
	return events && !tasks
}

// taskCalendars names the collections that take tasks, for the user.
func taskCalendars(usable []store.PIMCollection) string {
	var names []string
	for _, c := range usable {
		if pim.CollectionKind(c.Kind) == KindTasks {
			names = append(names, c.Href)
		}
	}
	if len(names) == 0 {
		return "none on this server"
	}
	return strings.Join(names, ", ")
}

// fromKnown returns the targets from the stored collections, or nil when
// they do not answer the options or lack a sync token.
func fromKnown(cl *dav.Client, a crm.PIMAccount, known []store.PIMCollection) []Target {
	find := func(kind pim.CollectionKind, href string) *store.PIMCollection {
		var found *store.PIMCollection
		for i := range known {
			k := &known[i]
			if pim.CollectionKind(k.Kind) != kind || (href != "" && !sameHref(k.Href, href)) {
				continue
			}
			if found != nil || k.SyncToken == "" {
				return nil // ambiguous, or not proven to sync
			}
			found = k
		}
		return found
	}
	var want []*store.PIMCollection
	if a.Options.Collection == "" {
		return nil
	}
	if a.Kind == crm.PIMCardDAV {
		want = append(want, find(KindContacts, a.Options.Collection))
	} else {
		want = append(want, find(KindEvents, a.Options.Collection))
		switch {
		case a.Options.TaskCollection != "":
			want = append(want, find(KindTasks, a.Options.TaskCollection))
		case slices.ContainsFunc(known, func(k store.PIMCollection) bool { return pim.CollectionKind(k.Kind) == KindTasks }):
			// The task list found last time must still be proven.
			want = append(want, find(KindTasks, ""))
		}
	}
	out := make([]Target, 0, len(want))
	for _, k := range want {
		if k == nil {
			return nil
		}
		out = append(out, Target{Collection: *k, Remote: &Remote{Client: cl, Href: k.Href, Kind: pim.CollectionKind(k.Kind), SupportsSync: true}})
	}
	return out
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
