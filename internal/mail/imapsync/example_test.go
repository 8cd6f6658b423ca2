package imapsync_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/imapsync"
)

// A first sync of INBOX, newest first in batches, then waiting for news.
func Example() {
	ctx := context.Background()
	c, err := imapsync.Dial(ctx, imapsync.Config{Host: "imap.example.org", Username: "ann@example.org", Password: "app-password"})
	if err != nil {
		// The kind decides the account state; the message is for the user.
		fmt.Println(connerr.KindOf(err), err)
		return
	}
	defer c.Close()
	st, err := c.Select(ctx, "INBOX")
	if err != nil {
		return
	}
	uids, err := c.UIDs(ctx)
	if err != nil {
		return
	}
	for end := len(uids); end > 0; end -= 100 {
		batch := uids[max(0, end-100):end]
		err := c.Fetch(ctx, batch, func(m *imapsync.Fetched) error {
			_, err := io.Copy(io.Discard, m.Body) // parse and store instead
			return err
		})
		if err != nil {
			return
		}
	}
	// Save st.UIDValidity, st.UIDNext and st.HighestModSeq as the cursor,
	// then wait for news (at most imapsync.MaxIdle per call).
	changed, err := c.Idle(ctx, 10*time.Minute)
	if err == nil && changed {
		changes, _ := c.Changes(ctx, st.HighestModSeq)
		_ = changes
	}
}
