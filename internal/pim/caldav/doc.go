// Package caldav is the iCalendar codec of the CalDAV connector: it
// translates a calendar object resource — one UID: a VTODO, or a VEVENT
// master with its overridden occurrences — to the sync engine's normalized
// Fields (package pim) and back, and expands recurring events.
//
// # Mapping
//
// Events (VEVENT):
//
//	summary, description, location  SUMMARY, DESCRIPTION, LOCATION
//	start                            DTSTART
//	end                              DTEND, else DTSTART + DURATION, else the
//	                                 next day (all-day) or the start (timed)
//	rrule                            RRULE, canonical (see canonicalRRule)
//	exdates, rdates                  every EXDATE / RDATE value (an RDATE
//	                                 PERIOD stands for its start)
//	overrides                        the RECURRENCE-ID components, as the JSON
//	                                 of []crm.EventOverride sorted by
//	                                 RecurrenceID
//	attendees                        ATTENDEE mailto: addresses
//	categories                       CATEGORIES
//
// Tasks (VTODO): summary, description, categories as above; due ← DUE;
// status ← STATUS (NEEDS-ACTION, IN-PROCESS, COMPLETED, CANCELLED as
// crm.TaskStatus); priority ← PRIORITY "1".."9" (0 is undefined: "");
// completed ← COMPLETED, in UTC.
//
// Times are crm.When strings, in the form iCalendar wrote them: a DATE is
// "2026-11-21", a UTC DATE-TIME "2026-11-21T09:00:00Z", one with a TZID
// "2026-11-21T10:00:00[Europe/Paris]" (the TZID mapped to an IANA name by
// IANAZone: Windows names from Outlook and Exchange, Lightning's
// "/mozilla.org/…/Europe/Paris"), a floating one "2026-11-21T10:00:00".
// A TZID that names no zone is read with the offset of its VTIMEZONE's
// STANDARD observance, as a UTC time. Encode writes each form back the same
// way, TZIDs as IANA names with a VTIMEZONE generated from Go's zone data.
//
// An override holds only what differs from the series: its texts where
// they are not the master's (clients copy every property into an
// override), its Start where it is not its RECURRENCE-ID, its End where it
// is not the RECURRENCE-ID plus the series' duration; STATUS:CANCELLED is
// Cancelled. So a series renamed in the CRM renames the occurrences that
// had its name, and an override that only moved keeps nothing else.
//
// # Round trip
//
// Encode patches the remote's current body rather than rewriting it: a
// mapped property is rewritten only when what Decode reads from it is not
// the wanted value, so an unchanged value keeps its exact property (a
// Windows TZID, a DURATION, an EXDATE list, the PARTSTAT of an attendee),
// and everything Fields do not map (VALARMs, VTIMEZONEs, X- properties,
// ORGANIZER, SEQUENCE…) is kept. Decode(Encode(prev, uid, typ,
// Decode(prev).Fields)) gives the same Fields, and so does Encode without
// prev: the fuzz target FuzzDecode checks both on whatever parses.
//
// # go-ical and rrule-go
//
// Components and properties are parsed and written with go-ical, which
// needs some help:
//
//   - its decoder panics on some malformed content lines ("X;A=b" with no
//     value); the panic is recovered as an error;
//   - it builds parameter values a byte at a time, in quadratic time, so
//     over-long parameters are refused before parsing (see longParams);
//   - its encoder refuses a tree that breaks RFC 5545's cardinalities (two
//     SUMMARYs, DTEND with DURATION, a VTIMEZONE without observance, a
//     VEVENT without DTSTAMP) and lines with a bare CR; parsed trees are
//     tidied the way a lenient reader reads them (see tidy) and missing
//     required properties added before writing (see fillRequired);
//     components it cannot write at all inside a VEVENT or VTODO (RFC 9073
//     VLOCATION, PARTICIPANT) are dropped;
//   - it does not fold lines (fold does, at 75 octets, on UTF-8 boundaries);
//   - Prop.Text splits on commas and refuses unknown escapes, and SetText
//     turns bytes that are not UTF-8 into U+FFFD; text is read and
//     escaped here instead;
//   - Prop.DateTime only knows IANA TZIDs, and Component.RecurrenceSet
//     reads RDATEs from the EXDATE properties and a single value per
//     property; times are read here, and recurrences expanded with
//     rrule-go directly.
//
// rrule-go expands a rule in the location of its start (so 10:00 in Paris
// stays 10:00 across daylight-saving changes), but it has no lazy end and
// does not count DTSTART as an occurrence when the rule does not give it:
// Occurrences stops each rule at its window and adds DTSTART itself.
package caldav
