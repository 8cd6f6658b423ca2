// Package carddav is the vCard codec of the contact sync (DESIGN §9): it
// reads a remote CardDAV contact (vCard 3.0 and 4.0, and the 2.1 of
// Outlook exports) into the engine's normalized pim.Fields, and writes
// Fields back into that same card.
//
//	c, err := carddav.Decode(body)                 // c.UID, c.Fields, c.Modified (REV)
//	out, err := carddav.Encode(body, c.UID, merged) // patch the remote card
//	out, err = carddav.Encode(nil, pim.StampUID(id), fields) // a new card
//
// # Why a patch, not a new card
//
// The CRM syncs a handful of fields; an address book holds much more — a
// photo, a birthday, Apple's labels, a second address. Writing a card
// made from Fields alone would delete all that on every sync. So Encode
// rewrites only the properties of the fields that changed and gives back
// every other line byte for byte. Writing back what a card reads as
// changes nothing at all, so the engine's own writes do not churn etags.
//
// # Mapping
//
//	first_name, last_name  N given and family names; when N has neither,
//	                       FN split at its last word ("Mary Ann Smith"),
//	                       unless FN is not a person's name: the card is a
//	                       company's (Apple X-ABShowAs:COMPANY, KIND:org) or
//	                       FN is its company, an email or a phone
//	company                ORG's first component
//	title                  TITLE
//	emails                 every EMAIL, the preferred first
//	phones                 every TEL, the preferred first; "tel:" of vCard
//	                       4 URIs dropped
//	address                the first ADR (the preferred), as
//	                       crm.PostalAddress.String(): post office box,
//	                       extended address and street are one street line
//	notes                  every NOTE, joined by line breaks
//	categories             every CATEGORIES, united (a set)
//
// "Preferred first" orders by vCard 4's PREF (1 is the most preferred,
// 100 the least, none after), with TYPE=pref (vCard 3, Apple, Google,
// Outlook; 2.1's bare PREF) as PREF=1 in any version, then by document
// order. Where one property is read (ORG, TITLE, ADR, N, FN), it is the
// first in that order.
//
// # What Encode writes
//
// A field that reads the same as in the previous card is not touched.
// Otherwise:
//
//   - N becomes family;given with its other components (middle name,
//     prefix, suffix) kept, and FN "given family" — or, since FN is
//     mandatory, the company, first email or first phone of a contact
//     without a name, which Decode does not take for a name. A nameless
//     card's FN that showed the old company follows the new one.
//   - ORG's first component is replaced; the department stays.
//   - EMAIL and TEL are written in the list's order, into the places the
//     old ones had. A value still there keeps its property as it was, group
//     and parameters included (EMAIL;TYPE=work stays TYPE=work); a new
//     value takes over the group and parameters of a removed one, as an
//     edit in an address book would (Apple's item1.EMAIL keeps its
//     item1.X-ABLabel); the first gets the version's preference marker
//     (4.0: PREF=1; 3.0: TYPE=pref; 2.1: PREF) and the others lose theirs.
//     A replaced TEL loses VALUE=uri: it is written as text.
//   - ADR: the first is written ;;street;city;region;postal code;country
//     with its TYPE and group kept but LABEL (a formatted address that
//     would be stale); the other ADRs stay.
//   - NOTE and CATEGORIES become one property each, in the place of the
//     first, or none when empty.
//   - A cleared ADR, ORG or TITLE is removed when it is the only one, and
//     left empty otherwise: removing it would make the next one the value.
//
// A rewritten property keeps its group and parameters, but its transfer
// encoding (ENCODING, CHARSET): what this package writes is plain UTF-8,
// escaped (\\ \, \; \n), folded at 75 octets, with CRLF line ends.
// VERSION, UID (uid only fills a missing one), PRODID and REV of the
// previous card are kept: Encode has no clock, and REV is the server's or
// the client's to bump. A card without VERSION gets 3.0.
//
// Encode decodes what it wrote and returns an error rather than a card
// that would not read as the fields given, so a bug here shows as a failed
// write, not as a value that changes back and forth between sync passes.
//
// # Reading leniently
//
// Inside the card Decode takes what clients write: lower-case names,
// groups, TYPE=INTERNET,WORK and type=INTERNET;type=WORK, quoted
// parameter values, QUOTED-PRINTABLE with soft line breaks, base64 text,
// Windows-1252 or ISO-8859-1 (read as Windows-1252, as browsers do) and
// any other invalid UTF-8, "\N", "\:", and backslashes that escape
// nothing (kept, as in "C:\Users"). A line it cannot read is ignored, and
// kept by Encode. A card nested in another (2.1 AGENT) is not read.
// Around the card it is strict: one BEGIN:VCARD … END:VCARD and blank
// lines, or an error.
//
// # Why not go-vcard's Card and Encoder
//
// github.com/emersion/go-vcard (the version in go.mod) gives a map of
// unescaped values, and cannot keep a card as it was: its Decoder
// unescapes "\\" and "\," before N, ADR and ORG are split at ";", and not
// "\;" at all ("N:O\;Neil;Mary\\;;;" reads as family "O\", given "Neil"),
// splits CATEGORIES at escaped commas, has no QUOTED-PRINTABLE and drops
// the lines after a soft break; its Encoder sorts properties by name (an
// item1 group comes apart), writes each TYPE value as its own parameter,
// does not fold, does not quote parameter values (a ":" in LABEL breaks
// the line), escapes the commas that separate CATEGORIES, and writes a CR
// in a value as is. TestGoVCardLimits pins each of these. This package
// therefore reads content lines itself (lex.go), keeping each property's
// lines, and uses go-vcard for its names of properties and parameters;
// the tests use go-vcard as an independent reader of what Encode writes.
//
// Limits: a 2.1 card stays 2.1, but its rewritten properties are in the
// 3.0 syntax (backslash escapes, UTF-8 without CHARSET), which old 2.1
// readers may misread; CardDAV servers hold 3.0 and 4.0 cards in
// practice. Parameter values' RFC 6868 escapes (^n, ^') are kept as
// written, not decoded: no mapped parameter uses them.
package carddav
