// Package mimeparse stream-parses one raw RFC 5322 message into the
// provider-neutral mail.Message that crmsync stores.
//
// Why a package of its own: every connector (IMAP first, later the
// forwarding mode that re-parses an attached message/rfc822) needs the same
// answer to "what is in this message", and mail in the wild is often broken.
// Three rules shape the code:
//
//   - Streaming. The raw message is read once, front to back; nothing
//     proportional to the message or an attachment is ever held in memory.
//     Headers are bounded by Options.MaxHeaderBytes, bodies by
//     MaxTextBytes / MaxHTMLBytes, kept attachments by KeepAttachmentsUnder,
//     and attachment sizes are counted while the bytes are discarded. Size and
//     Hash are computed on the raw bytes as they pass.
//
//   - Best effort. A malformed message never fails the sync: Parse returns an
//     error only when reading the input fails. Whatever could be parsed is
//     kept and every problem becomes a human-readable warning in
//     mail.Message.Warnings (a header line without a colon, an unknown
//     charset, bad base64, a multipart without its closing boundary…).
//
//   - Safe output. HTML is sanitized with bluemonday before it is stored,
//     text is valid UTF-8 without NUL bytes (PostgreSQL rejects them), and
//     bodies are cut on a UTF-8 boundary.
//
// The MIME layer uses go-message's header parser (textproto.ReadHeader),
// its charset tables and the standard library's RFC 2047 word decoder, but
// has its own lenient readers where go-message stops at the first problem:
// the multipart splitter (go-message's reads nested part headers without a
// size limit and cannot resume after a malformed part header), the
// quoted-printable and base64 decoders (the standard ones stop at the first
// bad byte or an over-long line), and the Content-Type parameter parser
// (the standard one drops RFC 2231 values in charsets other than UTF-8 and
// rejects a header with a duplicate parameter).
//
// Specifications: RFC 5322 (message format, dates, addresses, msg-id),
// RFC 2045 (Content-Type, Content-Transfer-Encoding), RFC 2046 (multipart,
// message/rfc822), RFC 2047 (encoded words), RFC 2183 (Content-Disposition),
// RFC 2231 (parameter continuations and charsets), RFC 2392 (Content-ID),
// RFC 6532 (raw UTF-8 headers).
package mimeparse
