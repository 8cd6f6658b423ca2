// Package secret encrypts the credentials crmsync keeps (mailbox passwords,
// OAuth tokens) so that the database, or a dump of it, never holds one in
// clear. It is the only package that sees both a key and a plaintext secret.
//
// # Format
//
// Seal uses AES-256-GCM with a random 96-bit nonce. A ciphertext is
//
//	0x01 | len(kid) | kid | nonce (12 bytes) | ciphertext and tag (16 bytes)
//
// The key id (kid) in clear lets Open pick the right key among several,
// lets rotation skip rows already under the active key, and lets
// `crmsync keys usage` count rows per key without any key at hand. GCM
// authenticates the header (version and kid) together with the caller's
// associated data, so neither can be altered. For credentials that data is
// CredentialAD(id): a ciphertext moved to another row does not open.
//
// # Keys
//
// Keys come from CRMSYNC_SECRET_KEY or from the file named by
// CRMSYNC_SECRET_KEY_FILE (setting both is an error). Both hold entries of
// the form
//
//	<kid> <base64 of 32 random bytes>
//
// one per line (the variable also takes commas between entries); blank lines
// and # comments are ignored; a bare base64 key gets the kid made of the first
// 8 hex digits of its SHA-256. The last key is active: it seals. Every key
// opens. A key file must have mode 0600 or stricter. With SQLite and no key
// configured, `crmsync init` creates KeyFileFor(database) with one key and
// says so; back that file up apart from the database, since a dump without
// it cannot be decrypted, which is the point.
//
// # Rotation with a key file
//
//  1. Run `crmsync keys rotate`. It appends a new key to the file (written
//     anew and renamed into place, mode 0600), so it becomes active.
//  2. Running servers pick it up on their own: Seal notices the changed file,
//     and Open re-reads the file when it meets a key id it does not know.
//     No restart, no window where a row cannot be read.
//  3. The command then re-encrypts every credential not under the active key
//     (package keys), with a compare-and-swap per row so a credential saved
//     meanwhile is never overwritten.
//  4. Old keys stay in the file. Remove one only once `crmsync keys usage`
//     shows no credential under it; if a row was written under the old key
//     during the run, run `crmsync keys rotate` again first.
//
// Several machines sharing one PostgreSQL database must hold the same key
// file, so step 1 cannot run on one machine alone: add a line from
// `crmsync keys generate` last in the file on every machine (servers pick it
// up, no restart), then run `crmsync keys rotate --no-new-key`, which only
// re-encrypts.
//
// # Rotation with CRMSYNC_SECRET_KEY
//
//  1. Run `crmsync keys generate`; it prints a new "<kid> <key>" line.
//  2. Add that line last in CRMSYNC_SECRET_KEY of every process, keeping the
//     old keys, and restart the processes one by one. Until all have
//     restarted, some seal under the old key and some under the new; all can
//     open both.
//  3. Run `crmsync keys rotate` to re-encrypt every credential under the new
//     key (with the keys in the environment it adds no key, only
//     re-encrypts), and `crmsync keys usage` to check the old one is unused before
//     removing it from the variable.
package secret
