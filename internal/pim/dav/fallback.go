package dav

import (
	"context"
	"errors"
	"slices"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Failed is an item that could not be fetched even on its own, with why.
type Failed struct {
	Href string
	Err  error
}

// MultigetEach is Multiget for a sync pass, where one bad item must not
// stop the others. A batch whose answer cannot be used — XML that is not
// well-formed (Radicale, given a card with control characters), an answer
// past its size limit, a 5xx other than "unavailable" — is fetched again
// item by item with GET: the items that come are returned, the ones that
// still fail are in failed, each with an error naming its href.
//
// A failure of the server as a whole (unreachable, throttled, a refused
// login) is returned as err, as is the batch's own error when not one of
// several items could be fetched alone: then the server is at fault, not
// an item.
func (c *Client) MultigetEach(ctx context.Context, coll Collection, hrefs []string) (objs []Object, failed []Failed, missing []string, err error) {
	if err := multigetType(coll); err != nil {
		return nil, nil, nil, err
	}
	for batch := range slices.Chunk(hrefs, MultigetBatch) {
		o, m, batchErr := c.multigetBatch(ctx, coll, batch)
		if batchErr != nil {
			if ctx.Err() != nil || !unreadableBatch(batchErr) {
				return nil, nil, nil, batchErr
			}
			var f []Failed
			o, f, m, err = c.oneByOne(ctx, batch)
			if err != nil {
				return nil, nil, nil, err
			}
			if len(batch) > 1 && len(f) == len(batch) {
				return nil, nil, nil, batchErr
			}
			failed = append(failed, f...)
		}
		objs, missing = append(objs, o...), append(missing, m...)
	}
	return objs, failed, missing, nil
}

// unreadableBatch reports whether a multiget failed on its answer rather
// than on the server: worth asking for its items one by one.
func unreadableBatch(err error) bool {
	if connerr.KindOf(err) != connerr.Protocol || errors.Is(err, ErrNotFound) {
		return false
	}
	code := StatusOf(err)
	return code == 0 || code >= 500
}

// oneByOne GETs each href. Only a failure of the server as a whole is
// returned as err.
func (c *Client) oneByOne(ctx context.Context, hrefs []string) (objs []Object, failed []Failed, missing []string, err error) {
	for _, h := range hrefs {
		o, err := c.Get(ctx, h)
		switch {
		case err == nil:
			objs = append(objs, *o)
		case errors.Is(err, ErrNotFound):
			missing = append(missing, h)
		case ctx.Err() != nil:
			return nil, nil, nil, err
		case connerr.KindOf(err) == connerr.Protocol || connerr.KindOf(err) == connerr.Quota:
			failed = append(failed, Failed{Href: h, Err: err})
		default:
			return nil, nil, nil, err
		}
	}
	return objs, failed, missing, nil
}
