// Package imapsync is the IMAP connector: it implements mail.Mailbox,
// mail.Idler and mail.Appender over IMAP4rev1 (RFC 3501) with the
// extensions a synchronising client needs, and knows nothing of storage.
//
//	c, err := imapsync.Dial(ctx, imapsync.Config{Host: "imap.example.org", Username: u, Password: p})
//	if err != nil { ... connerr.KindOf(err) decides what the user sees ... }
//	defer c.Close()
//	st, _ := c.Select(ctx, "INBOX")
//	uids, _ := c.UIDs(ctx)
//	err = c.Fetch(ctx, uids[:100], func(m *Fetched) error { return parse(m.Body) })
//
// # Extensions
//
// CONDSTORE (RFC 7162) gives HIGHESTMODSEQ and FETCH ... (CHANGEDSINCE n);
// without it Changes returns the flags of every message. ESEARCH (RFC 4731)
// makes UID SEARCH answer with ranges. UIDPLUS (RFC 4315) gives the UID of an
// APPENDed message. SPECIAL-USE (RFC 6154) names the Sent, Drafts, ...
// folders; without it roles are guessed from common folder names. IDLE
// (RFC 2177) wakes the syncer on new mail; without it Idle polls with NOOP.
// QRESYNC is never enabled: go-imap v2 cannot parse VANISHED responses.
//
// # Failures
//
// Every error a Conn or Dial returns is a *connerr.Error (naming the server,
// host:port) whose Kind was decided here, once (see classify.go), except
// the caller's own: its context's
// error (context.Canceled, context.DeadlineExceeded) and the Fetch
// callback's error are returned as they are.
// Every command runs under a watchdog: if the server sends nothing for
// Config.CommandTimeout while a reply is awaited, the connection is closed
// and the call fails with connerr.Unreachable. A Conn whose connection was
// lost (or whose context ended mid-command: IMAP has no way to cancel a
// command but to hang up) keeps failing with that error; Dial a new one.
//
// # Memory
//
// Fetch streams each message's literal straight from the socket to the
// callback; nothing is buffered whole, whatever the message size.
package imapsync
