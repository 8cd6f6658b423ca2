// Package mailsync is the mail sync engine (DESIGN §4): it brings one
// account's folders up to date through the neutral mail.Mailbox contract —
// new mail, flag changes both ways, removals, the initial sync newest
// first, the audit, restarts when a connector drops its cursor — sends the
// account's outbox, and stores forwarded mail, all through the same
// conversion (Email) and the same store path (SaveMessages).
//
// The engine knows no protocol: IMAP, Graph, Gmail and EWS connectors
// implement mail.Mailbox, and their cursors and ids are opaque here. It
// knows no scheduling either: package syncer holds the account's lease,
// dials the connector, runs Pass, waits (Idle) and records the account's
// status from the Result. Storage is reached through the Store port, the
// subset of store.Store the engine needs; every write carries the fence of
// the account's lease, so a loop that lost its lease cannot write.
package mailsync
