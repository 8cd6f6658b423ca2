package pimconn

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
	"github.com/crmsync/crmsync/internal/pim/carddav"
	"github.com/crmsync/crmsync/internal/pim/dav"
)

// Remote is a CardDAV address book or a CalDAV calendar or task list as a
// pim.Remote: the dav client for the wire, the vCard or iCalendar codec
// for the content.
type Remote struct {
	Client *dav.Client
	// Href is the collection's path; Kind what the Remote syncs in it (a
	// calendar holding both events and tasks is two Remotes).
	Href string
	Kind pim.CollectionKind
	// SupportsSync is false for a server without sync-collection: every
	// Changes is then a full listing, compared by ETag.
	SupportsSync bool
}

func (r *Remote) collection() dav.Collection {
	t := dav.Calendar
	if r.Kind == pim.Contacts {
		t = dav.AddressBook
	}
	return dav.Collection{Href: r.Href, Type: t}
}

// Changes asks the collection for what changed since token with
// sync-collection (RFC 6578), or lists it whole when token is "" or the
// server has no sync-collection.
func (r *Remote) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	if !r.SupportsSync {
		items, err := r.Client.List(ctx, r.Href)
		if err != nil {
			return pim.RemoteChanges{}, r.collectionError(err)
		}
		return pim.RemoteChanges{Full: true, Items: refs(items)}, nil
	}
	changed, deleted, next, err := r.Client.SyncCollection(ctx, r.Href, token)
	if errors.Is(err, pim.ErrTokenInvalid) {
		return pim.RemoteChanges{}, err // dav's CursorInvalid, as it is
	}
	if err != nil {
		return pim.RemoteChanges{}, r.collectionError(err)
	}
	// A tokenless sync-collection is the full listing (RFC 6578 §3.4).
	// Some servers (Radicale) add items deleted long ago as 404s: they are
	// not in the collection, which Full already says.
	return pim.RemoteChanges{Full: token == "", Items: refs(changed), Deleted: deleted, Token: next}, nil
}

// collectionError turns a 404 on the collection into connerr.Gone: it was
// deleted or moved, and the engine drops its cursor so that the next
// attempt discovers the account's collections again.
func (r *Remote) collectionError(err error) error {
	if errors.Is(err, dav.ErrNotFound) {
		return connerr.Errorf(connerr.Gone, err, "%s is no longer on the server (deleted or moved); choose another one if it does not come back", r.Href)
	}
	return err
}

func refs(items []dav.Item) []pim.RemoteRef {
	out := make([]pim.RemoteRef, len(items))
	for i, it := range items {
		out[i] = pim.RemoteRef{Href: it.Href, ETag: it.ETag}
	}
	return out
}

// Fetch gets items with multiget and decodes them; the ones whose body
// cannot be decoded, and the ones the server could not send even one by
// one after a batch answer it could not read (dav.MultigetEach), are
// reported in bad, each with its reason: one bad item never stops the
// others.
func (r *Remote) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	if len(hrefs) == 0 {
		return nil, nil, nil, nil
	}
	objs, failed, missing, err := r.Client.MultigetEach(ctx, r.collection(), hrefs)
	if err != nil {
		return nil, nil, nil, err
	}
	var items []pim.RemoteItem
	var bad []pim.ItemError
	for _, f := range failed {
		bad = append(bad, pim.ItemError{Href: f.Href, Err: f.Err})
	}
	for _, o := range objs {
		it, err := r.decode(o.Data)
		if err != nil {
			bad = append(bad, pim.ItemError{Href: o.Href, Err: err})
			continue
		}
		if it.Type != r.Kind.RecordType() {
			// A VTODO in a calendar synced for events (or the reverse) is
			// the other Remote's.
			continue
		}
		it.Href, it.ETag = o.Href, o.ETag
		// The later of the item's own date (REV, LAST-MODIFIED) and the
		// server's: a client that rewrites an item without updating REV
		// must not make its change look older than it is.
		if o.Modified.After(it.Modified) {
			it.Modified = o.Modified
		}
		items = append(items, it)
	}
	return items, bad, missing, nil
}

func (r *Remote) decode(data []byte) (pim.RemoteItem, error) {
	if r.Kind == pim.Contacts {
		c, err := carddav.Decode(data)
		if err != nil {
			return pim.RemoteItem{}, err
		}
		return pim.RemoteItem{UID: c.UID, Type: pim.RecordContact, Fields: c.Fields, Modified: c.Modified, Raw: data}, nil
	}
	it, err := caldav.Decode(data)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	return pim.RemoteItem{UID: it.UID, Type: pim.RecordType(it.Type), Fields: it.Fields, Modified: it.Modified, Raw: data}, nil
}

func (r *Remote) encode(prev []byte, uid string, f pim.Fields) ([]byte, error) {
	var b []byte
	var err error
	switch r.Kind {
	case pim.Contacts:
		b, err = carddav.Encode(prev, uid, f)
	case pim.Tasks:
		b, err = caldav.Encode(prev, uid, caldav.TypeTask, f)
	default:
		b, err = caldav.Encode(prev, uid, caldav.TypeEvent, f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	return b, nil
}

// refused marks a 4xx answer to a write (but those about the account:
// 401, 403, 429) as a fault of the item, not of the connection.
func refused(err error) error {
	if s := dav.StatusOf(err); s >= 400 && s < 500 && s != 401 && s != 403 && s != 429 {
		return fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	return err
}

// ModTime is the server's DAV:getlastmodified of the item.
func (r *Remote) ModTime(ctx context.Context, href string) (time.Time, error) {
	return r.Client.LastModified(ctx, href)
}

// Create writes a new item at a path made from its UID, with
// If-None-Match: *, so that a create retried after a crash lands on the
// same href and is refused (pim.ErrExists, with the href) instead of
// duplicated.
func (r *Remote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	body, err := r.encode(nil, uid, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	ext := ".ics"
	if r.Kind == pim.Contacts {
		ext = ".vcf"
	}
	href := path.Join(r.Href, hrefName(uid)+ext)
	etag, err := r.Client.Create(ctx, href, body, "")
	var uc *dav.UIDConflictError
	switch {
	case errors.As(err, &uc) && uc.Existing != "":
		return pim.RemoteItem{Href: uc.Existing}, fmt.Errorf("%w: %v", pim.ErrExists, err)
	case errors.Is(err, dav.ErrExists), errors.Is(err, dav.ErrUIDConflict):
		return pim.RemoteItem{Href: href}, fmt.Errorf("%w: %v", pim.ErrExists, err)
	case err != nil:
		return pim.RemoteItem{}, refused(err)
	}
	return r.written(ctx, href, etag, body)
}

// Update patches prev.Raw with f and writes it with If-Match.
func (r *Remote) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	body, err := r.encode(prev.Raw, prev.UID, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	etag, err := r.Client.Update(ctx, prev.Href, body, "", prev.ETag)
	switch {
	case errors.Is(err, dav.ErrPrecondition):
		// 412: changed meanwhile, or deleted (If-Match on nothing fails
		// too); the engine refetches and learns which.
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case errors.Is(err, dav.ErrNotFound):
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrGone, err)
	case err != nil:
		return pim.RemoteItem{}, refused(err)
	}
	return r.written(ctx, prev.Href, etag, body)
}

// written returns the item as stored. A server that answers a PUT without
// an ETag may have changed what it stored: read it back then.
func (r *Remote) written(ctx context.Context, href, etag string, body []byte) (pim.RemoteItem, error) {
	if etag == "" {
		items, bad, missing, err := r.Fetch(ctx, []string{href})
		switch {
		case err != nil:
			return pim.RemoteItem{}, err
		case len(items) == 1:
			return items[0], nil
		case len(bad) > 0:
			return pim.RemoteItem{}, bad[0].Err
		case len(missing) > 0:
			return pim.RemoteItem{}, fmt.Errorf("%w: %s vanished right after it was written", pim.ErrGone, href)
		}
	}
	it, err := r.decode(body)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	it.Href, it.ETag, it.Modified = href, etag, time.Now().UTC()
	return it, nil
}

// hrefName makes a UID a safe path segment: what is not a letter, digit,
// "-", "_" or "." becomes "_", and the result is bounded. Stamps stay
// distinct because they differ in their id digits.
func hrefName(uid string) string {
	b := []byte(uid)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}
