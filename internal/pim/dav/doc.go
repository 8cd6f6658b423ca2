// Package dav is the WebDAV, CardDAV and CalDAV client of the PIM sync
// engine: protocol only, no storage, no parsing of vCards or iCalendar
// objects (they travel as bytes).
//
//	c := &dav.Client{BaseURL: "https://dav.example.com/", Username: u, Password: p}
//	d, err := c.Discover(ctx)                      // address books and calendars
//	changed, deleted, token, err := c.SyncCollection(ctx, book.Href, token)
//	objs, missing, err := c.Multiget(ctx, book, hrefsOf(changed))
//	etag, err := c.Create(ctx, book.Href+crmID+".vcf", card, "") // If-None-Match: *
//	etag, err = c.Update(ctx, href, card, "", etag)               // If-Match
//
// What it does that the sync engine (DESIGN §9) needs:
//
//   - Creates are idempotent: If-None-Match: * (RFC 7232 §3.2), so a create
//     repeated after a lost answer fails with ErrExists instead of
//     overwriting; the engine names the href after the CRM id.
//   - Updates and deletes are conditional: If-Match (RFC 7232 §3.1); a 412
//     is ErrPrecondition, and the engine refetches, merges and retries.
//   - Polling uses sync-collection (RFC 6578) where the collection offers
//     it (Collection.SupportsSync); a token the server forgot is
//     ErrInvalidSyncToken (a connerr.CursorInvalid), and the engine falls
//     back to a full listing (List) matched against its mapping. CTag (StatCollection) is the
//     cheap "anything new?" check for servers without it.
//   - Failures are classified once, here (*connerr.Error with a Kind, the
//     server and a message for the user; DESIGN §5): 401 is auth_failed,
//     429 and 503 with Retry-After are throttled, network failures
//     unreachable, certificate problems tls_error, 507 quota_exceeded, the
//     rest protocol. The HTTP status is in the chain (StatusOf).
//
// Why not github.com/emersion/go-webdav, which the rest of the ecosystem
// uses: its client (v0.6.0) sends PUT without If-Match or If-None-Match,
// has no sync-collection for CalDAV, reports HTTP statuses through an
// error type in an internal package (so 401, 412 or 429 cannot be told
// apart from outside), parses multiget answers into go-vcard / go-ical
// values (one object it cannot parse fails the whole batch, and the bytes
// the server stored are lost) and does not ask for getctag, sync-token or
// supported-report-set. What would be left to use, three PROPFINDs in
// discovery, is less code than the glue around it; this package is plain
// net/http and encoding/xml.
//
// Limits: hrefs keep only their path, so every request goes to BaseURL's
// server; a home set on another host (iCloud answers with its
// pNN-caldav.icloud.com partition) is not followed yet. Bodies are read
// whole, up to 256 MiB per answer.
//
// Tested against Radicale 3.1 (internal/testpeer/radicale); see that
// package for the server's quirks.
package dav
