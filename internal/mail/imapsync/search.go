package imapsync

import (
	"context"
	"slices"

	"github.com/emersion/go-imap/v2"
)

// SearchMessageID finds the selected folder's messages whose Message-ID is
// id with UID SEARCH HEADER Message-ID "<id>" (RFC 3501 §6.4.4). HEADER
// matches substrings; with the angle brackets a match is the same id. A
// NOOP first lets the server report messages added by another session
// (the submission server saving a sent message) since SELECT.
func (c *Conn) SearchMessageID(ctx context.Context, id string) ([]uint32, error) {
	if err := c.needSelected("UID SEARCH HEADER"); err != nil {
		return nil, err
	}
	o, err := c.begin(ctx, "UID SEARCH HEADER in "+c.selected)
	if err != nil {
		return nil, err
	}
	defer o.end()
	if err := c.c.Noop().Wait(); err != nil {
		return nil, o.fail(err)
	}
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<" + id + ">"}}}
	data, err := c.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return nil, o.fail(err)
	}
	all := data.AllUIDs()
	uids := make([]uint32, len(all))
	for i, u := range all {
		uids[i] = uint32(u)
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}
