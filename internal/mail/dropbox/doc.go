// Package dropbox is the inbound SMTP server of forwarding mode (DESIGN §7):
// it receives mail for per-user dropbox addresses, <token>@<Config.Domain>,
// and hands each accepted message to a Backend. It speaks the protocol only
// (RFC 5321, with SIZE from RFC 1870, STARTTLS from RFC 3207, ENHANCEDSTATUSCODES
// from RFC 2034/3463) and knows nothing of storage: the Backend finds the box a
// token names and stores what is delivered to it.
//
//	srv := dropbox.New(dropbox.Config{Addr: ":25", Domain: "in.crm.example"}, backend)
//	go srv.ListenAndServe()
//	defer srv.Close()
//
// # What is accepted
//
// RCPT TO must name Config.Domain (else 550 5.7.1 relay denied). Its local
// part is the box token, matched case-insensitively, and may carry a
// "+anything" suffix: "k3x9…+acme@in.crm.example" reaches the same box as
// "k3x9…@in.crm.example". An unknown token gets 550 5.1.1.
//
// A box accepts mail only from its owner's addresses (Box.OwnerAddresses),
// checked twice: the envelope sender at RCPT (550 5.7.1, before any data is
// sent) and, once the header block has been read, every address of the From
// header field at the end of DATA (550 5.7.1). Both must pass: a permitted
// envelope with a foreign From header is refused, and so is the reverse.
//
// # What this does not protect against
//
// Both the envelope sender and the From header are chosen by whoever
// connects: anyone who knows a dropbox address and one of its owner's
// addresses can forge both and be accepted. The real protection is the
// unguessable token in the local part (treat dropbox addresses as secrets;
// this package never logs them). The sender check only stops mail that
// reaches a dropbox by accident or from a leaked address without knowledge
// of the owner's addresses. Verifying that the sending domain really sent
// the message (SPF, RFC 7208; DKIM, RFC 6376; DMARC, RFC 7489) is left for
// later; so are reverse-DNS checks and rate limits.
//
// # Limits and malformed sessions
//
// SIZE (RFC 1870) is advertised; MAIL FROM ... SIZE= over
// Config.MaxMessageBytes, and a message that turns out larger, get 552
// 5.3.4. More than Config.MaxRecipients recipients get 452 4.5.3 (RFC 5321
// §4.5.3.1.10). Commands out of order get 502/503, bad syntax 501; after
// four unknown or unparsable commands the connection is closed, and a line
// over 4096 bytes (command or message data) closes it at once. Every read
// waits at most Config.ReadTimeout and a whole connection lasts at most
// Config.SessionTimeout: a client that stalls or trickles gets 421 4.4.2
// and is disconnected. Only <CR><LF>.<CR><LF> ends the message data (RFC
// 5321 §4.1.1.4), so a client that ends it with a bare <LF>.<LF> waits for
// the read timeout; this strictness is also what defeats SMTP smuggling.
//
// CHUNKING (BDAT, RFC 3030) is advertised too (go-smtp always does; Microsoft
// 365 uses it) and works, with one restriction working around a go-smtp
// race (see session.Data): after a chunked transfer aborted midway, the
// connection takes no further message.
//
// # Delivery
//
// Deliver is called once per box among the recipients, with the message as
// the client sent it after a Received header field (RFC 5321 §4.4). For a
// single box the message is streamed from the connection (only the header
// block, at most 256 KiB, is held in memory); for several it is read into
// memory first (at most MaxMessageBytes). Deliver's error decides the reply
// to the client: nil is 250, a *RejectError is sent as it is, and any other
// error is 451 4.3.0 so that the sender retries later. When several boxes
// are recipients and one fails temporarily, the whole message gets 451 and
// is sent again to all of them: Deliver should recognise a message it has
// already stored (its hash, or Message-ID).
//
// The reserved "postmaster" local part (RFC 5321 §4.5.1) gets no special
// treatment: it reaches the Backend's Lookup like any token.
package dropbox
