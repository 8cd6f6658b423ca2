// Package mail is the provider-neutral model of a mailbox: messages as
// crmsync stores them, folders and their sync cursors, the Mailbox
// connector interface each provider implements (IMAP, Graph, Gmail, EWS),
// and the typed errors that decide how a sync loop reacts to a failure.
//
// Connectors translate their protocol into these types and know nothing of
// storage; the syncer drives them and writes through the store.
package mail

import (
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Address is one participant of a message, with its display name decoded
// (RFC 2047) and its address lower-cased.
type Address = crm.Address

// Attachment describes one attachment (or inline part with a file name).
// Its content is not kept by default: it is fetched again from the server
// on demand, or stored when it is under the account's size limit. Index is
// its position among the message's attachments in MIME tree order: stable
// for a given raw message, so it names the attachment for fetching.
type Attachment = crm.AttachmentInfo

// Message is a parsed email. Bodies are bounded (see the parser's limits);
// anything cut or unreadable is said in Warnings, never silently dropped.
type Message struct {
	MessageID  string    `json:"message_id"` // without angle brackets; "" if none
	InReplyTo  []string  `json:"in_reply_to"`
	References []string  `json:"references"`
	Subject    string    `json:"subject"`
	Date       time.Time `json:"date"` // the Date header, else the server's internal date
	From       []Address `json:"from"`
	Sender     []Address `json:"sender"`
	ReplyTo    []Address `json:"reply_to"`
	To         []Address `json:"to"`
	Cc         []Address `json:"cc"`
	Bcc        []Address `json:"bcc"`
	Text       string    `json:"text"`
	HTML       string    `json:"html"` // sanitized: safe to show in a sandboxed frame
	// TextTruncated / HTMLTruncated report a body cut at the size limit.
	TextTruncated bool         `json:"text_truncated"`
	HTMLTruncated bool         `json:"html_truncated"`
	Attachments   []Attachment `json:"attachments"`
	// Size is the raw message's size in bytes; Hash its SHA-256 (hex), used
	// to recognise the same message in two folders or after a UIDVALIDITY
	// change.
	Size     int64    `json:"size"`
	Hash     string   `json:"hash"`
	Warnings []string `json:"warnings"`
}

// Flags are the message states synchronised both ways.
type Flags = crm.Flags
