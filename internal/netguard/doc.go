// Package netguard is the one gate of every outbound connection crmsync
// makes on a user's behalf: IMAP and SMTP servers typed in by hand,
// CardDAV and CalDAV URLs, autoconfiguration fetches and probes, and next
// Graph and Google endpoints and webhooks (DESIGN §11).
//
// Why: a user who may type a host name or a URL can otherwise make the
// server connect to itself, to the cloud metadata service (169.254.169.254)
// or to the internal network, hand those services a password, read their
// answers back in an error message, and map open, closed and filtered
// ports. The guard refuses, before any packet is sent, every address that
// is not on the public Internet — loopback, private (RFC 1918, CGNAT),
// link-local, unique-local, unspecified, multicast, broadcast and the
// other special-purpose ranges — unless the operator lists it with
// --private-hosts.
//
// The check is made on the address actually connected to: a host name is
// resolved once, every address is checked, and the connection goes to
// the checked address (so DNS rebinding between the check and the connect
// cannot swap it), with the dialer's Control function checking it once
// more at the socket. Legacy IPv4 spellings that the C resolver accepts
// (127.1, 2130706433, 0177.0.0.1, 0x7f.0.0.1) are read as the address
// they name. An HTTP client built on Transport re-checks every redirect,
// because every redirect is a new dial.
//
// A refusal is a *connerr.Error of kind connerr.NotAllowed wrapping
// ErrNotAllowed; the API answers it 422 destination_not_allowed whatever
// the state of the port, since nothing was sent.
package netguard
