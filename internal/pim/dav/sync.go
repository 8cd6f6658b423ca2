package dav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/connerr"
)

// maxSyncPages bounds how many truncated answers (507, RFC 6578 §3.6) one
// SyncCollection follows.
const maxSyncPages = 1000

// SyncCollection asks what changed in a collection since token with the
// sync-collection REPORT (RFC 6578 §3.2), and returns the new or changed
// items with their ETags, the hrefs of deleted ones, and the token to give
// next time. An empty token asks for a full listing (§3.4). Answers the
// server truncates (§3.6) are followed until complete.
//
// A token the server no longer accepts is ErrInvalidSyncToken (§3.2, the
// DAV:valid-sync-token precondition, 403 or 409): list the collection in
// full (List, or SyncCollection with token "") and match it against what
// is known.
//
// On a full listing deleted may name items that were removed before the
// caller ever saw them (Radicale reports its whole deletion history);
// unknown hrefs there are to be ignored.
func (c *Client) SyncCollection(ctx context.Context, collection, token string) (changed []Item, deleted []string, newToken string, err error) {
	what := "asking " + collection + " for changes"
	type state struct {
		etag    string
		deleted bool
	}
	seen := map[string]state{}
	for page := 0; ; page++ {
		// RFC 6578 §3.2: Depth 0; the sync-level element says how deep.
		ms, at, err := c.multistatus(ctx, "REPORT", collection, "0", syncCollectionBody(token), what, maxListing)
		if err != nil {
			var a *answer
			if errors.As(err, &a) && a.isInvalidSyncToken() {
				// Not a failure: the caller lists the collection in full.
				return nil, nil, "", c.fault(connerr.CursorInvalid, fmt.Errorf("%w for %s", ErrInvalidSyncToken, collection),
					"%s no longer knows the sync token of %s; crmsync lists the collection in full.", c.host(), collection)
			}
			return nil, nil, "", c.check(err, collection, what)
		}
		if ms.SyncToken == "" {
			return nil, nil, "", c.fault(connerr.Protocol, nil, "%s answered %s without a sync token.", c.host(), what)
		}
		truncated := false
		for _, r := range ms.Responses {
			if len(r.Hrefs) == 0 {
				continue
			}
			href, ok := hrefPath(at, r.Hrefs[0])
			if !ok {
				continue
			}
			if sameCollection(href, collection) {
				// §3.6: the collection itself with 507 marks a truncated
				// answer; ask again from the token it carries.
				if r.status() == http.StatusInsufficientStorage {
					truncated = true
				}
				continue
			}
			if r.status() == http.StatusNotFound {
				seen[href] = state{deleted: true} // §3.5.2
				continue
			}
			p := r.props()
			if p.ResourceType.has(nsDAV, "collection") {
				continue
			}
			var etag string
			if p.ETag != nil {
				etag = strings.TrimSpace(*p.ETag)
			}
			seen[href] = state{etag: etag}
		}
		if !truncated {
			newToken = ms.SyncToken
			break
		}
		if ms.SyncToken == token || page == maxSyncPages {
			return nil, nil, "", c.fault(connerr.Protocol, nil, "%s keeps truncating its answer while %s without moving on.", c.host(), what)
		}
		token = ms.SyncToken
	}
	for href, s := range seen {
		if s.deleted {
			deleted = append(deleted, href)
		} else {
			changed = append(changed, Item{Href: href, ETag: s.etag})
		}
	}
	slices.SortFunc(changed, func(a, b Item) int { return strings.Compare(a.Href, b.Href) })
	slices.Sort(deleted)
	return changed, deleted, newToken, nil
}

// isInvalidSyncToken recognises RFC 6578 §3.2's precondition failure:
// DAV:valid-sync-token in a DAV:error body. The RFC says 403 (Radicale,
// SabreDAV); some servers answer 409 or 412.
func (a *answer) isInvalidSyncToken() bool {
	ok, _ := a.dav.condition(nsDAV, "valid-sync-token")
	return ok
}
