package dav_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim/dav"
)

// The polling step of the sync engine for one collection: changes since
// the stored token, a full listing when the server forgot it, then the
// changed items in batches.
func ExampleClient_SyncCollection() {
	ctx := context.Background()
	c := &dav.Client{BaseURL: "https://dav.example.com/", Username: "ann", Password: "app-password"}
	book := dav.Collection{Href: "/ann/contacts/", Type: dav.AddressBook}
	token := "http://example.com/sync/41" // from the last run

	changed, deleted, next, err := c.SyncCollection(ctx, book.Href, token)
	if errors.Is(err, dav.ErrInvalidSyncToken) {
		// Match everything against the mapping; no duplicates.
		changed, deleted, next, err = c.SyncCollection(ctx, book.Href, "")
	}
	if err != nil {
		// Throttled, auth_failed, ...: the kind steers the retry.
		fmt.Println(connerr.KindOf(err), err)
		return
	}
	var hrefs []string
	for _, it := range changed {
		hrefs = append(hrefs, it.Href) // skip those whose ETag we wrote ourselves
	}
	objs, missing, err := c.Multiget(ctx, book, hrefs)
	if err != nil {
		return
	}
	fmt.Println(len(objs), len(missing), len(deleted), next)
}

// A conditional update: on 412, fetch what the other client wrote, merge,
// and try again with the new ETag.
func ExampleClient_Update() {
	ctx := context.Background()
	c := &dav.Client{BaseURL: "https://dav.example.com/", Username: "ann", Password: "app-password"}
	href, etag := "/ann/contacts/crm-42.vcf", `"3"`
	merge := func(theirs []byte) []byte { return theirs } // the engine's three-way merge

	card := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:crm-42\r\nFN:Ada King\r\nEND:VCARD\r\n")
	for attempt := 0; attempt < 3; attempt++ {
		newETag, err := c.Update(ctx, href, card, "", etag)
		if !errors.Is(err, dav.ErrPrecondition) {
			fmt.Println(newETag, err)
			return
		}
		cur, err := c.Get(ctx, href)
		if err != nil { // ErrNotFound: deleted meanwhile
			return
		}
		card, etag = merge(cur.Data), cur.ETag
	}
}
