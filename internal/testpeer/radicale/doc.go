// Package radicale runs a throwaway Radicale CardDAV/CalDAV server for
// tests: one process per Start call, everything (config, users, collections,
// log) under the test's temporary directory, listening on a free loopback
// port only.
//
//	srv := radicale.Start(t, nil)
//	user, pass := srv.User(1)
//	book := srv.CreateAddressBook(t, user, "contacts", "Contacts")
//	etag := srv.Put(t, user, book+"alice.vcf", vcard) // "another client" writes
//	srv.Delete(t, user, book+"alice.vcf")
//
// The server needs Radicale 3 (Debian: apt-get install radicale). Start
// looks for the radicale command, then for a python3 that can import the
// radicale module (python3 -m radicale). Without either it skips the test,
// or fails it when the environment variable CI is "true", so a CI machine
// that lost the package cannot go green by skipping.
//
// Users are user1..userN with passwords pass1..passN (htpasswd file, plain
// passwords, no delay after a failed login). Rights are owner_only: userK
// sees only /userK/..., which is also its principal and the home of its
// address books and calendars. Radicale creates the principal collection on
// the user's first authenticated request.
//
// The helpers (CreateAddressBook, CreateCalendar, Put, Delete, Get, Request,
// ExpireSyncTokens) play "another client" or "the server itself": they speak
// plain HTTP with their own connections and fail the test on error, so call
// them from the test's goroutine.
//
// Things about Radicale 3.1 that tests run into:
//
//   - It re-serializes what it stores: a GET returns the object as its
//     vobject library writes it, properties sorted by name (BEGIN:VCARD,
//     VERSION, PRODID, UID, then ADR, BDAY, ...), folding and parameter
//     spelling its own. The ETag returned by PUT is that of the stored
//     form. Compare content, not bytes.
//   - If-Match is compared as an exact string with the quoted ETag; a PUT
//     with If-Match on a missing item is 412 (not 404).
//   - Two objects with the same UID in one collection are refused with 409
//     and a CARDDAV/CALDAV no-uid-conflict precondition (without the href of
//     the existing object).
//   - An unknown, malformed or expired sync token is 403 (not 409) with a
//     DAV:valid-sync-token precondition element (RFC 6578 §3.2).
//   - A sync-collection REPORT without a token (a full sync) also lists
//     objects deleted earlier, as 404 responses, for as long as Radicale
//     keeps their history.
//   - Sync tokens name a hash of the collection state; the state behind a
//     token is kept under .Radicale.cache/sync-token for
//     max_sync_token_age (30 days by default). A token that names the
//     current state is accepted even when its file is gone (nothing
//     changed, so nothing to report): ExpireSyncTokens bites only once the
//     collection has changed.
//   - /.well-known/caldav and /.well-known/carddav are 301 redirects to "/".
//   - It answers in HTTP/1.0 and closes every connection: no keep-alive.
//   - Objects that hold only overridden instances (RECURRENCE-ID without a
//     master) are refused ("Main component missing").
package radicale
