// Package pim is the provider-neutral core of the two-way sync of contacts,
// tasks and events between the CRM and a user's address book and calendar
// (DESIGN §9). It holds pure functions only: no storage, no protocol, no
// clock. Connectors (pim/carddav, pim/caldav, pim/graph, pim/google)
// translate items to Fields; pim/engine runs a pass and writes through
// its storage port; both decide with the functions here, so every
// provider behaves the same. pim/pimfake is an in-memory Remote for the
// engine's tests.
//
// # Records and base snapshots
//
// A record on either side is a Fields map of normalized values (see
// Normalize): scalars trimmed, emails lower-cased, phones in a simple
// E.164-ish form, lists deduplicated in their order (the first is the
// primary), sets sorted. Normalizing first means a provider that re-spells
// a value ("John.Doe@X.com", "+33 6 12-34") has not changed it.
//
// For each item the store keeps a mapping: crm id ↔ remote id, the remote
// etag, and the base — the Fields both sides held at the end of the last
// sync — plus, per collection, a cursor (sync token, delta link). A change
// is a difference from the base, field by field (Diff), never just a new
// etag: a client that rewrites an item without changing anything the CRM
// syncs (a new photo, a reordered vCard) changes nothing here.
//
// # Three-way merge
//
// Merge(base, crm, remote, …) decides each field on its own:
//
//	changed on neither side            → unchanged
//	changed on one side                → that side's value, under every policy
//	changed on both, to the same value → that value, no conflict
//	changed on both, differently       → the account's Policy
//
// Lists and sets are merged element by element: an email added in the CRM
// and another removed in Outlook both apply; an element is only dropped
// when a side removed it. The one conflict is an element both sides
// replaced differently (email a became b in the CRM and c in Outlook):
// the policy's winner keeps its replacement, and under NewestWins the
// other is kept in "replaced_email_<date>". The policy also picks the
// order of a List that both sides reordered.
//
// The policies, set per PIM account, are those users of CRM plug-ins know
// (Zoho CRM for Outlook: "Zoho wins", "Outlook wins"; Zendesk Sell and
// Exchange: the most recent data is kept and the replaced data put in a new
// custom field):
//
//   - NewestWins (default): the side whose record changed last wins, and the
//     value it overwrote — from either side — is reported in
//     MergeResult.Replaced; the engine stores it in a custom field of the CRM
//     record named by CustomFieldName ("replaced_title_2026-11-21", "_2" on
//     a second one the same day; ReplacedCustomFields). Nothing a user typed
//     is lost.
//   - CRMWins, ProviderWins: that side's value overwrites the other's.
//
// Policies apply to updates only. A new record is copied to the other side
// as it is: Merge with an empty base and an empty other side does exactly
// that under any policy (no field can have changed on both sides). Two
// records found to be the same item with no base yet (ActionLink) are
// merged with an empty base: fields that differ are conflicts, which is how
// Sell's "merge matching contacts" behaves.
//
// # No echo
//
// After a merge, both sides and the base hold the same values
// (MergeResult.CRM, .Remote, .Base). The engine stores the new base in the
// same transaction as its last write of the item (the CRM record, or the
// etag the provider returned for the remote write), so the base is always
// what the engine wrote. The next pass then sees, on each side, exactly the
// base: the engine's own writes are not changes and never come back as an
// update. A base stored apart from the write it describes would let the
// engine's own write look like a user's edit on the next pass — an echo at
// best, a false conflict at worst. The order of the writes is under "A
// pass, per item".
//
// Remote writes are conditional (If-Match with the mapping's etag; creates
// If-None-Match: *); a 412 means the item changed meanwhile: refetch and
// merge again. Creates carry the idempotency stamp (StampUID, ParseStamp),
// so a retried create or a full listing after an expired sync token (410,
// syncStateNotFound, invalid sync-token) finds the item it already made
// instead of making a second one.
//
// # Deletions are never propagated
//
// An item deleted on one side is recorded (Tombstone) and nothing else: the
// other side's copy is not deleted, and the engine never recreates the
// deleted one. Decide and OnMissing hold that table; Action has no value
// that deletes or recreates. To remove an item everywhere, a user deletes
// it on both sides (as Zendesk Sell documents for its Exchange sync).
//
// # Fixed categories
//
// The CRM's status of a record is written to the provider as categories
// with fixed names, those of Zendesk Sell's Exchange integration: Base
// Person, Base Company, Base Current Prospect, Base Lost Prospect, Base
// Current Customer, Base Past Customer, Base Lead (CategoriesFor gives the
// mapping from lifecycle and opportunity outcomes). They belong to the CRM:
// they are not part of the merged "categories" field, and RestoreFixed puts
// them back on every write, so one a user removed or renamed is restored on
// the next sync. The other categories are the user's: ImportFilter decides
// which new remote items come into the CRM (the account's
// import_categories; empty means all), ImportedCategories which categories
// the merge sees, and RemoteCategories composes what is written back,
// keeping the ones the user did not import untouched.
//
// # A pass, per item
//
//  1. Decide(ItemState) → merge, create, link, tombstone or ignore.
//  2. For a merge: the remote's Fields with "categories" set to
//     ImportedCategories; Merge(base, crm, remote, the CRM record's
//     updated_at, the remote item's last-modified, the account's policy).
//  3. One transaction: ToCRM and ReplacedCustomFields on the CRM record,
//     with, on the mapping, an intermediate base — the remote as the merge
//     saw it — and the record still marked as changed. It comes before
//     the remote write so that a value NewestWins replaced on the remote
//     is kept even if the pass stops right after that write.
//  4. ToRemote, with categories from RemoteCategories, as a conditional
//     write; a 412 refetches the item and merges again from 2, against
//     the intermediate base.
//  5. One transaction: the new Base and the etag on the mapping. When
//     ToRemote is empty, 3 and 5 are one transaction. The collection's
//     cursor moves once the whole collection is done.
//
// A pass stopped between 3 and 5 leaves the CRM ahead of the base; the
// next pass merges the CRM's side of that merge against what the remote
// held then (the intermediate base), so the engine's own CRM write is not
// taken for a user's edit of the fields the remote changed, and only what
// changed on the remote since is merged with it.
package pim
