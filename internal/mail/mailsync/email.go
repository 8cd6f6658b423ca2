package mailsync

import (
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
)

// Email turns a parsed message into the stored form: the one conversion
// from mail.Message to crm.Email, for synced, sent and forwarded mail
// alike. The date is the message's own (Date header), else when the
// provider received it, else now.
func Email(p *mail.Message, id mail.ID, flags mail.Flags, received time.Time) crm.Email {
	date := p.Date
	if date.IsZero() {
		date = received
	}
	if date.IsZero() {
		date = time.Now()
	}
	return crm.Email{
		RemoteID: string(id), MessageID: p.MessageID, InReplyTo: p.InReplyTo, References: p.References,
		Subject: p.Subject, Date: date.UTC(),
		Participants: crm.Participants{From: p.From, Sender: p.Sender, ReplyTo: p.ReplyTo, To: p.To, Cc: p.Cc, Bcc: p.Bcc},
		Text:         p.Text, HTML: p.HTML, Truncated: p.TextTruncated || p.HTMLTruncated, Attachments: p.Attachments,
		Warnings: p.Warnings, Flags: flags, Size: p.Size, Hash: p.Hash,
	}
}
