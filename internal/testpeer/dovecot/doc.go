// Package dovecot runs a throwaway Dovecot IMAP server for tests: one
// process tree per Start call, everything (config, certificate, users, mail,
// sockets, log) under the test's temporary directory, listening on free
// loopback ports only.
//
//	srv := dovecot.Start(t, nil)
//	user, pass := srv.User(1)
//	uid := srv.Append(t, user, "INBOX", raw, nil, time.Time{})
//	c := srv.Dial(t, user) // logged in, closed at the end of the test
//
// The server needs the dovecot binary (Debian: apt-get install
// dovecot-imapd). Without it Start skips the test, or fails it when the
// environment variable CI is "true", so a CI machine that lost the package
// cannot go green by skipping.
//
// Run as root (as CI does), the mail belongs to the user nobody and Dovecot
// drops privileges to the dovenull and dovecot users that the Debian package
// creates; run as a normal user, everything runs as that user.
//
// Users are user1..userN with passwords pass1..passN. Each has INBOX plus
// Drafts, Sent, Trash, Junk and Archive (special-use, auto-created and
// subscribed), Maildir storage, hierarchy separator "/".
//
// BulkLoad and ResetUIDValidity work on the Maildir files themselves, so
// they need folder names without a "." (Maildir++ keeps "a/b" as ".a.b").
//
// The helpers (Append, SetFlags, Expunge, UIDs, ...) play "another client"
// or "the mail server itself" in tests: each opens its own IMAP connection,
// so they are safe to call while the code under test holds connections of
// its own.
package dovecot
