package dav

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/connerr"
)

// CollectionType tells address books from calendars.
type CollectionType string

const (
	AddressBook CollectionType = "addressbook" // CardDAV, RFC 6352 §5.2
	Calendar    CollectionType = "calendar"    // CalDAV, RFC 4791 §4.2
)

// Collection is an address book or calendar as the server describes it.
type Collection struct {
	Href        string // unescaped path, ends with "/"
	Type        CollectionType
	DisplayName string
	// Components are the calendar's supported-calendar-component-set
	// ("VEVENT", "VTODO"); nil when the server does not say, which means
	// any (RFC 4791 §5.2.3). Always nil for address books.
	Components []string
	// CTag changes whenever anything in the collection changes (Apple's
	// getctag); "" when the server has none.
	CTag string
	// SyncToken is the collection's current sync token (RFC 6578 §4); ""
	// when the server reports none.
	SyncToken string
	// SupportsSync is true when the server offers the sync-collection
	// REPORT on the collection (RFC 6578 §3.1: listed in
	// supported-report-set, or a sync-token reported).
	SupportsSync bool
	// ReadOnly is true when the server lists the user's privileges on the
	// collection and they allow no writing (RFC 3744 §5.4).
	ReadOnly bool
}

// Supports reports whether the collection accepts a component ("VEVENT",
// "VTODO"). Address books support none.
func (c Collection) Supports(component string) bool {
	if c.Type != Calendar {
		return false
	}
	return c.Components == nil || slices.Contains(c.Components, strings.ToUpper(component))
}

// Discovery is what Discover found for the account.
type Discovery struct {
	Principal       string       // the user's principal (RFC 5397)
	AddressBookHome string       // "" when the server is not a CardDAV server
	CalendarHome    string       // "" when the server is not a CalDAV server
	Collections     []Collection // address books and calendars, by href
}

// AddressBooks returns the discovered address books.
func (d *Discovery) AddressBooks() []Collection { return d.ofType(AddressBook) }

// Calendars returns the discovered calendars.
func (d *Discovery) Calendars() []Collection { return d.ofType(Calendar) }

func (d *Discovery) ofType(t CollectionType) []Collection {
	var out []Collection
	for _, c := range d.Collections {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// Discover finds the user's principal, its address book and calendar
// homes, and the collections in them (RFC 6764 §6 steps 3 to 5 without
// DNS: BaseURL, then /.well-known/carddav, /.well-known/caldav and "/"
// on its server).
func (c *Client) Discover(ctx context.Context) (*Discovery, error) {
	principal, err := c.principal(ctx)
	if err != nil {
		return nil, err
	}
	d := &Discovery{Principal: principal}

	what := "looking up the address book and calendar homes"
	ms, at, err := c.multistatus(ctx, "PROPFIND", principal, "0", propfindHomeSets, what, maxSmallAnswer)
	if err != nil {
		return nil, c.check(err, principal, what)
	}
	for _, r := range ms.Responses {
		p := r.props()
		if p.AddressBookHomeSet != nil && len(p.AddressBookHomeSet.Hrefs) > 0 && d.AddressBookHome == "" {
			d.AddressBookHome, _ = hrefPath(at, p.AddressBookHomeSet.Hrefs[0])
		}
		if p.CalendarHomeSet != nil && len(p.CalendarHomeSet.Hrefs) > 0 && d.CalendarHome == "" {
			d.CalendarHome, _ = hrefPath(at, p.CalendarHomeSet.Hrefs[0])
		}
	}
	if d.AddressBookHome == "" && d.CalendarHome == "" {
		return nil, c.fault(connerr.Protocol, nil, "%s does not say where the address books and calendars of %s are (no addressbook-home-set or calendar-home-set on %s): is it a CardDAV or CalDAV server?", c.host(), c.Username, principal)
	}

	seen := map[string]bool{}
	for _, home := range []string{d.AddressBookHome, d.CalendarHome} {
		if home == "" || seen[home] {
			continue
		}
		seen[home] = true
		colls, err := c.collections(ctx, home, "1")
		if err != nil {
			return nil, err
		}
		for _, col := range colls {
			if !slices.ContainsFunc(d.Collections, func(x Collection) bool { return x.Href == col.Href }) {
				d.Collections = append(d.Collections, col)
			}
		}
	}
	slices.SortFunc(d.Collections, func(a, b Collection) int { return strings.Compare(a.Href, b.Href) })
	return d, nil
}

// principal finds the current-user-principal (RFC 5397 §3), trying the
// places RFC 6764 §6 names in turn. Only an answer that settles it (wrong
// password, server down) stops the search early.
func (c *Client) principal(ctx context.Context) (string, error) {
	base, err := c.base()
	if err != nil {
		return "", err
	}
	const what = "looking up the current user's principal"
	var firstErr error
	for _, at := range []string{base.Path, "/.well-known/carddav", "/.well-known/caldav", "/"} {
		ms, u, err := c.multistatus(ctx, "PROPFIND", at, "0", propfindPrincipal, what, maxSmallAnswer)
		if err == nil {
			for _, r := range ms.Responses {
				if p := r.props(); p.CurrentUserPrincipal != nil && len(p.CurrentUserPrincipal.Hrefs) > 0 {
					if href, ok := hrefPath(u, p.CurrentUserPrincipal.Hrefs[0]); ok {
						return href, nil
					}
				}
			}
			continue
		}
		err = c.check(err, at, what)
		if e := connerr.As(err); e != nil && e.Kind != connerr.Protocol || ctx.Err() != nil {
			return "", err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil || errors.Is(firstErr, ErrNotFound) {
		return "", c.fault(connerr.Protocol, firstErr, "%s did not name the principal of %s (current-user-principal): check the server address; is it a CardDAV or CalDAV server?", c.host(), c.Username)
	}
	return "", firstErr
}

// StatCollection describes one collection (PROPFIND Depth 0): a cheap way
// to see whether its CTag or sync token moved.
func (c *Client) StatCollection(ctx context.Context, href string) (*Collection, error) {
	colls, err := c.collections(ctx, href, "0")
	if err != nil {
		return nil, err
	}
	for _, col := range colls {
		if sameCollection(col.Href, href) {
			return &col, nil
		}
	}
	return nil, c.fault(connerr.Protocol, nil, "%s on %s is not an address book or calendar.", href, c.host())
}

// collections lists the address books and calendars at href (depth "0":
// href itself; "1": its members).
func (c *Client) collections(ctx context.Context, href, depth string) ([]Collection, error) {
	what := "listing the collections in " + href
	if depth == "0" {
		what = "reading the properties of " + href
	}
	limit := int64(maxCollections)
	if depth == "0" {
		limit = maxSmallAnswer
	}
	ms, at, err := c.multistatus(ctx, "PROPFIND", href, depth, propfindCollection, what, limit)
	if err != nil {
		return nil, c.check(err, href, what)
	}
	var out []Collection
	for _, r := range ms.Responses {
		if len(r.Hrefs) == 0 {
			continue
		}
		p := r.props()
		col := Collection{DisplayName: p.DisplayName, CTag: p.CTag, SyncToken: p.SyncToken}
		switch {
		case p.ResourceType.has(nsCardDAV, "addressbook"):
			col.Type = AddressBook
		case p.ResourceType.has(nsCalDAV, "calendar"):
			col.Type = Calendar
		default:
			continue // the home itself, a principal, an inbox/outbox, a plain folder
		}
		var ok bool
		if col.Href, ok = hrefPath(at, r.Hrefs[0]); !ok {
			continue
		}
		if !strings.HasSuffix(col.Href, "/") {
			col.Href += "/"
		}
		if col.Type == Calendar && p.Components != nil {
			col.Components = []string{}
			for _, comp := range p.Components.Comps {
				col.Components = append(col.Components, strings.ToUpper(comp.Name))
			}
		}
		col.SupportsSync = col.SyncToken != ""
		for _, rep := range p.Reports {
			if rep.has(nsDAV, "sync-collection") {
				col.SupportsSync = true
			}
		}
		if len(p.Privileges) > 0 {
			col.ReadOnly = true
			for _, priv := range p.Privileges {
				if priv.has(nsDAV, "all") || priv.has(nsDAV, "write") || priv.has(nsDAV, "write-content") || priv.has(nsDAV, "bind") {
					col.ReadOnly = false
				}
			}
		}
		out = append(out, col)
	}
	return out, nil
}
