// Package forwarded recovers the original message from mail a user sent to
// their forwarding-mode dropbox (DESIGN §7), so that it is stored and
// linked (DESIGN §6) with its original participants and date rather than
// as "from the user, to the dropbox".
//
// Extract sorts a dropbox message into one of three kinds:
//
//   - KindAttached: the message carries an attached message/rfc822 (or an
//     .eml file). The attachment is read with mimeparse.Attachment and
//     parsed with mimeparse.Parse: its own header gives the participants,
//     date and Message-ID exactly. When a message has both an attachment and
//     an inline forward, the attachment wins.
//   - KindInline: the body holds a forwarded header block, as mail clients
//     write it when forwarding inline. The participants, date and subject
//     are read from that block (human-written, localized text), the
//     original's text is what follows it and the forwarder's note what
//     precedes it. No Message-ID is known.
//   - KindNone: a BCC copy or a message the user wrote; it is used as it is
//     and linked through its own recipients.
//
// # Header blocks recognised
//
// Labels are matched in English, French and German (and a few Spanish,
// Italian and Dutch ones), in any order, bold ("*From:*", the text Gmail
// makes of bold HTML) or not, behind "> " quote marks or indentation, with
// a space or no-break space before the colon (French typography):
//
//	Gmail        ---------- Forwarded message ---------     (FR "Message transféré", DE "Weitergeleitete Nachricht")
//	             From: Name <addr>  Date: Mon, Mar 2, 2026 at 10:15 AM  Subject:  To:  Cc:
//	Outlook      ________________________________   or   -----Original Message-----   or no separator
//	             From: Name <addr>  Sent: Monday, March 2, 2026 10:15 AM  To: a; b  Cc:  Subject:
//	             (FR De/Envoyé/À/Cc/Objet, DE Von/Gesendet/An/Cc/Betreff)
//	Apple Mail   Begin forwarded message:                   (FR "Début du message réexpédié :", DE "Anfang der weitergeleiteten Nachricht:")
//	             From:  Subject:  Date: March 2, 2026 at 10:15:03 AM GMT+1  To:  Cc:
//	Thunderbird  -------- Forwarded Message --------
//	             Subject:  Date: Mon, 2 Mar 2026 10:15:03 +0100  From:  To:  CC:
//
// The block is looked for in the text body first, then in text derived
// from the HTML body (an HTML-only message already has its text derived by
// mimeparse). Outlook's blocks are also what it writes above a quoted
// reply, so a block without an unambiguous forward marker (Gmail's, Apple
// Mail's, Thunderbird's) counts as a forward only when the subject does not
// say reply: "RE: Quote" with an Outlook header inside is a BCC copy of a
// reply, "FW: Quote" a forward. For a forward of a forward the innermost
// block is the original; blocks below a reply ("RE:") are its quoted
// history and are not followed.
//
// Addresses: "Name <addr>", "<addr>", a bare address, "Name [mailto:addr]",
// Outlook's plain-text "Name <addr<mailto:addr>>", recipients separated by
// ";" (Outlook) or ",", and a list wrapped onto the next lines. Outlook
// writes only a display name for senders it resolved in the organisation's
// address book; the name is kept with an empty address and a warning says
// that it cannot be linked.
//
// Dates: RFC 5322 (Thunderbird), ISO 8601, and the human forms of the
// clients in English, French and German (month and weekday names, "at",
// "à", "um … Uhr", AM/PM, "GMT+1", "UTC+01:00", "CET", "MEZ"; numeric
// "02.03.2026" and "2026-03-02"). Gmail and Outlook write no time zone: the
// time is then read in the zone of the dropbox message, with a warning. A
// date that cannot be read is replaced by the dropbox message's date, with
// a warning.
//
// # Bounds
//
// Extract never fails: anything it cannot read becomes a warning and, at
// worst, the message is returned as KindNone. The forwarded block is
// looked for in the first Options.MaxScanBytes of text (256 KiB), each
// candidate block is at most 40 lines, and at most 20 nested forwards are
// followed, so the work is linear in the text scanned whatever its shape.
package forwarded
