package mailconn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/dropbox"
	"github.com/crmsync/crmsync/internal/mail/forwarded"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/store"
)

// DropboxStore is what forwarding mode reads and writes.
type DropboxStore interface {
	store.Forwarding
	GetUser(ctx context.Context, orgID, id int64) (crm.User, error)
}

// Dropbox is the inbound SMTP server's backend (DESIGN §7): it finds a
// forwarding account by its dropbox token and stores what its owner
// forwards, with the original participants and date, linked like synced
// mail.
type Dropbox struct {
	Store  DropboxStore
	Logger *slog.Logger
}

var _ dropbox.Backend = (*Dropbox)(nil)

// Lookup finds the box of a token. Its owner may send from the account's
// address and from their primary CRM address.
func (d *Dropbox) Lookup(ctx context.Context, localPart string) (dropbox.Box, error) {
	a, err := d.Store.MailAccountByDropbox(ctx, localPart)
	if errors.Is(err, store.ErrNotFound) {
		return dropbox.Box{}, dropbox.ErrNoSuchBox
	}
	if err != nil {
		return dropbox.Box{}, err
	}
	u, err := d.Store.GetUser(ctx, a.OrgID, a.UserID)
	if err != nil {
		return dropbox.Box{}, err
	}
	owners := []string{strings.ToLower(a.Email)}
	if e := strings.ToLower(u.Email); !slices.Contains(owners, e) {
		owners = append(owners, e)
	}
	return dropbox.Box{AccountID: a.ID, OwnerAddresses: owners}, nil
}

// Deliver stores a forwarded message (or a BCC copy) once: an SMTP retry
// of the same message finds it stored.
func (d *Dropbox) Deliver(ctx context.Context, box dropbox.Box, env dropbox.Envelope, raw io.Reader) error {
	b, err := io.ReadAll(raw)
	if err != nil {
		return err
	}
	// The dropbox prepends its own Received field, which differs at each
	// attempt: the message's identity is what the sender sent.
	sent := withoutFirstField(b)
	outer, _, _ := mimeparse.Parse(bytes.NewReader(b), nil)
	res := forwarded.Extract(b, outer, &forwarded.Options{Dropbox: env.Recipients})
	m := res.Original
	e := crm.Email{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References, Subject: m.Subject, Date: m.Date.UTC(),
		Participants: crm.Participants{From: m.From, Sender: m.Sender, ReplyTo: m.ReplyTo, To: m.To, Cc: m.Cc, Bcc: m.Bcc},
		Text:         m.Text, HTML: m.HTML, Truncated: m.TextTruncated || m.HTMLTruncated, Attachments: m.Attachments,
		Warnings: m.Warnings, Size: int64(len(sent)), Hash: hashOf(sent),
	}
	if res.Kind == forwarded.KindAttached {
		e.Size = m.Size
		e.Hash = m.Hash
	}
	if e.Date.IsZero() {
		e.Date = env.ReceivedAt.UTC()
	}
	stored, isNew, err := d.Store.StoreForwarded(ctx, box.AccountID, e)
	if err != nil {
		return err
	}
	if d.Logger != nil {
		d.Logger.LogAttrs(ctx, slog.LevelInfo, "dropbox message stored", slog.Int64("account", box.AccountID), slog.Int64("email", stored.ID),
			slog.String("kind", string(res.Kind)), slog.Bool("new", isNew), slog.String("from", fmt.Sprint(env.MailFrom)))
	}
	return nil
}

// withoutFirstField drops the first header field (with its folded
// continuation lines).
func withoutFirstField(b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && (b[i+1] == ' ' || b[i+1] == '\t') {
			continue
		}
		return b[i+1:]
	}
	return b
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
