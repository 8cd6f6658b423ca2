package dav

import (
	"errors"
	"fmt"
	"io"
)

// What one answer may weigh, by what was asked. An answer is read whole
// (a multistatus is decoded into memory), so a server that streams without
// end would otherwise exhaust the process: past its limit an answer fails
// with connerr.Protocol naming the server, never cut silently.
const (
	// maxSmallAnswer: a Depth 0 PROPFIND (principal, home sets, one
	// collection's or item's properties). A few kilobytes in practice.
	maxSmallAnswer = 1 << 20
	// maxCollections: the address books and calendars of a home.
	maxCollections = 8 << 20
	// maxListing: hrefs and ETags of a whole collection (PROPFIND Depth 1)
	// or a page of sync-collection, about 200 bytes an item: some 150,000
	// items. Decoding holds about twice the answer.
	maxListing = 32 << 20
	// maxBatch: one multiget of MultigetBatch items, 80 KiB an item on
	// average. An answer past it is fetched item by item (MultigetEach).
	maxBatch = 16 << 20
	// maxItem: one vCard or iCalendar object (a contact photo, an event
	// with attachments inline).
	maxItem = 16 << 20
)

// errTooLarge is the reading error of an answer past its limit.
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("dav: the answer is larger than %d bytes", e.limit)
}

// capped reads at most limit bytes of r and fails with *errTooLarge when r
// has more.
type capped struct {
	r     io.Reader
	left  int64
	limit int64
}

func newCapped(r io.Reader, limit int64) *capped { return &capped{r: r, left: limit, limit: limit} }

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &errTooLarge{c.limit}
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		// One byte past the limit: the answer is larger.
		return n - 1, &errTooLarge{c.limit}
	}
	return n, err
}

// tooLarge reports whether err is an answer past its limit.
func tooLarge(err error) (*errTooLarge, bool) {
	var e *errTooLarge
	return e, errors.As(err, &e)
}

// byteSize formats a limit for a message.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
