package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/crmsync/crmsync/internal/keys"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// warnUnopenedCredentials logs, at start, a warning when the loaded keys
// cannot open some stored credentials: those mailboxes and address books
// would otherwise fail one by one with no word of why. It never stops the
// server (the other accounts and the CRM work), and says what to do.
func warnUnopenedCredentials(ctx context.Context, log *slog.Logger, st store.Credentials, kr *secret.Keyring, source string) {
	res, err := keys.Check(ctx, st, kr)
	if err != nil {
		log.Warn("could not check that the secret keys open the stored credentials", "err", err)
		return
	}
	if res.Failed == 0 {
		return
	}
	log.Warn(fmt.Sprintf("the secret keys from %s cannot open %d of the %d stored mailbox and address-book passwords: "+
		"those accounts cannot sync. Restore the key file this database was used with (crmsync.db.key beside a SQLite "+
		"database) or point --secret-key-file (CRMSYNC_SECRET_KEY_FILE) or CRMSYNC_SECRET_KEY at it, then restart; "+
		"if the key is lost for good, the users must enter their passwords again.", source, res.Failed, res.Checked),
		"unopened", res.Failed, "checked", res.Checked, "missing_keys", res.MissingKeys, "orgs", res.Orgs)
}
