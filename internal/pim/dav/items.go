package dav

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Item is a member of a collection and its current ETag.
type Item struct {
	Href string
	ETag string // as the server sent it, quotes included; "" if it sent none
}

// Object is an item with its content: a vCard (RFC 6350) or an iCalendar
// object (RFC 5545), as the server stores it.
type Object struct {
	Href        string
	ETag        string
	ContentType string // "" when the server did not say
	Data        []byte
	// Modified is the server's DAV:getlastmodified (from Multiget), zero
	// when it sent none: the date of the last change for an item whose
	// body carries none (no REV, no LAST-MODIFIED).
	Modified time.Time
}

// MultigetBatch is how many hrefs one multiget REPORT asks for; Multiget
// sends as many as it needs.
const MultigetBatch = 200

// List returns the items of a collection with their ETags (PROPFIND Depth
// 1, RFC 4918 §9.1), by href. Sub-collections are left out.
func (c *Client) List(ctx context.Context, collection string) ([]Item, error) {
	what := "listing " + collection
	ms, at, err := c.multistatus(ctx, "PROPFIND", collection, "1", propfindETags, what, maxListing)
	if err != nil {
		return nil, c.check(err, collection, what)
	}
	var out []Item
	for _, r := range ms.Responses {
		if len(r.Hrefs) == 0 {
			continue
		}
		href, ok := hrefPath(at, r.Hrefs[0])
		if !ok || sameCollection(href, collection) {
			continue
		}
		p := r.props()
		if r.status() == http.StatusNotFound || p.ResourceType.has(nsDAV, "collection") {
			continue
		}
		it := Item{Href: href}
		if p.ETag != nil {
			it.ETag = strings.TrimSpace(*p.ETag)
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.Href, b.Href) })
	return out, nil
}

// Get fetches one item. A missing one is ErrNotFound.
func (c *Client) Get(ctx context.Context, href string) (*Object, error) {
	what := "fetching " + href
	resp, err := c.do(ctx, http.MethodGet, href, nil, nil, what)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.fail(unexpected(resp), href, what)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(newCapped(resp.Body, maxItem))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dav: %s: %w", what, ctx.Err())
		}
		return nil, c.readError(err, what)
	}
	return &Object{Href: href, ETag: resp.Header.Get("ETag"), ContentType: resp.Header.Get("Content-Type"), Data: data}, nil
}

// Multiget fetches many items of one collection with addressbook-multiget
// (RFC 6352 §8.7) or calendar-multiget (RFC 4791 §7.9), as coll.Type says;
// only coll.Href and coll.Type are used. Objects come in the server's
// order; hrefs the server reports missing (deleted meanwhile) are returned
// in missing.
func (c *Client) Multiget(ctx context.Context, coll Collection, hrefs []string) (objs []Object, missing []string, err error) {
	if err := multigetType(coll); err != nil {
		return nil, nil, err
	}
	for batch := range slices.Chunk(hrefs, MultigetBatch) {
		o, m, err := c.multigetBatch(ctx, coll, batch)
		if err != nil {
			return nil, nil, err
		}
		objs, missing = append(objs, o...), append(missing, m...)
	}
	return objs, missing, nil
}

func multigetType(coll Collection) error {
	if coll.Type != AddressBook && coll.Type != Calendar {
		return fmt.Errorf("dav: multiget on %s: unknown collection type %q", coll.Href, coll.Type)
	}
	return nil
}

// multigetBatch is one multiget REPORT.
func (c *Client) multigetBatch(ctx context.Context, coll Collection, batch []string) (objs []Object, missing []string, err error) {
	what := "fetching items of " + coll.Href
	// RFC 4791 §7.9 / RFC 6352 §8.7: no Depth header.
	ms, at, err := c.multistatus(ctx, "REPORT", coll.Href, "", multigetBody(coll.Type, batch), what, maxBatch)
	if err != nil {
		return nil, nil, c.check(err, coll.Href, what)
	}
	asked := map[string]bool{}
	for _, h := range batch {
		asked[h] = true
	}
	for _, r := range ms.Responses {
		for _, raw := range r.Hrefs {
			href, ok := hrefPath(at, raw)
			if !ok {
				continue
			}
			delete(asked, href)
			p := r.props()
			data := p.AddressData
			if coll.Type == Calendar {
				data = p.CalendarData
			}
			if data == nil {
				// A 404 response, or a propstat without the data.
				missing = append(missing, href)
				continue
			}
			o := Object{Href: href, Data: []byte(*data), ContentType: p.ContentType}
			if t, err := http.ParseTime(strings.TrimSpace(p.LastModified)); err == nil {
				o.Modified = t.UTC()
			}
			if p.ETag != nil {
				o.ETag = strings.TrimSpace(*p.ETag)
			}
			objs = append(objs, o)
		}
	}
	// Hrefs the server did not mention at all count as missing.
	for _, h := range batch {
		if asked[h] {
			missing = append(missing, h)
		}
	}
	return objs, missing, nil
}

// Create stores a new item at href, only if nothing is there yet
// (If-None-Match: *, RFC 7232 §3.2; RFC 6352 §6.3.2, RFC 4791 §5.3.2),
// so that a repeated create cannot overwrite. It returns the new ETag, ""
// when the server sends none (it may have changed the object: Get it to
// learn what it stored).
//
// An item at href already is ErrExists; another item with the same UID in
// the collection is ErrUIDConflict (a *UIDConflictError). contentType ""
// picks text/vcard or text/calendar from the body.
func (c *Client) Create(ctx context.Context, href string, body []byte, contentType string) (etag string, err error) {
	return c.put(ctx, href, body, contentType, http.Header{"If-None-Match": {"*"}}, "saving the new item "+href, ErrExists)
}

// Update replaces the item at href only if its ETag is still etag
// (If-Match, RFC 7232 §3.1) and returns the new ETag ("" as for Create).
// A changed or deleted item is ErrPrecondition: fetch it, merge, retry.
func (c *Client) Update(ctx context.Context, href string, body []byte, contentType, etag string) (newETag string, err error) {
	if etag == "" {
		return "", fmt.Errorf("dav: updating %s: no ETag to make the update conditional on", href)
	}
	return c.put(ctx, href, body, contentType, http.Header{"If-Match": {etag}}, "saving the changed item "+href, ErrPrecondition)
}

func (c *Client) put(ctx context.Context, href string, body []byte, contentType string, cond http.Header, what string, on412 error) (string, error) {
	if contentType == "" {
		contentType = sniffContentType(body)
	}
	h := cond.Clone()
	h.Set("Content-Type", contentType)
	resp, err := c.do(ctx, http.MethodPut, href, h, body, what)
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusNoContent, http.StatusOK:
		drain(resp)
		return resp.Header.Get("ETag"), nil
	}
	a := unexpected(resp)
	if a.resp.StatusCode == http.StatusPreconditionFailed {
		return "", fmt.Errorf("%w: %s", on412, href)
	}
	for _, ns := range []string{nsCardDAV, nsCalDAV} {
		if ok, hrefs := a.dav.condition(ns, "no-uid-conflict"); ok {
			e := &UIDConflictError{Href: href}
			if len(hrefs) > 0 {
				e.Existing, _ = hrefPath(resp.Request.URL, hrefs[0])
			}
			return "", e
		}
	}
	return "", c.fail(a, href, what)
}

// Delete removes the item at href, only if its ETag is still etag (""
// deletes whatever is there). A changed item is ErrPrecondition, a missing
// one ErrNotFound.
func (c *Client) Delete(ctx context.Context, href, etag string) error {
	what := "deleting " + href
	var h http.Header
	if etag != "" {
		h = http.Header{"If-Match": {etag}}
	}
	resp, err := c.do(ctx, http.MethodDelete, href, h, nil, what)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusAccepted:
		drain(resp)
		return nil
	case http.StatusPreconditionFailed:
		drain(resp)
		return fmt.Errorf("%w: %s", ErrPrecondition, href)
	}
	return c.fail(unexpected(resp), href, what)
}

// sniffContentType is the media type for a vCard or iCalendar body.
func sniffContentType(body []byte) string {
	b := bytes.TrimLeft(body, "\ufeff \t\r\n")
	if len(b) >= 11 && strings.EqualFold(string(b[:11]), "BEGIN:VCARD") {
		return "text/vcard; charset=utf-8"
	}
	return "text/calendar; charset=utf-8"
}

// propfindLastModified asks for an item's DAV:getlastmodified.
const propfindLastModified = xmlDecl + `<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/></D:prop></D:propfind>`

// LastModified returns when the server last stored the item at href
// (DAV:getlastmodified, PROPFIND Depth 0), zero when it does not say. It
// dates a change whose body carries no date of its own; servers that
// answer getlastmodified in multiget (Multiget's Object.Modified) spare
// this request, but not all do (Radicale does not).
func (c *Client) LastModified(ctx context.Context, href string) (time.Time, error) {
	what := "reading the date of " + href
	ms, _, err := c.multistatus(ctx, "PROPFIND", href, "0", propfindLastModified, what, maxSmallAnswer)
	if err != nil {
		return time.Time{}, c.check(err, href, what)
	}
	for _, r := range ms.Responses {
		if t, err := http.ParseTime(strings.TrimSpace(r.props().LastModified)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, nil
}
