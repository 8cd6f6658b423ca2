package mailsync

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
	"github.com/crmsync/crmsync/internal/mail"
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
	// The original's hash and size are its own when it came attached
	// whole; otherwise what the sender sent is the message's identity.
	m := *res.Original
	if res.Kind != forwarded.KindAttached {
		m.Size, m.Hash = int64(len(sent)), hashOf(sent)
	}
	// Forwarded mail has no provider id: its content is its identity, so
	// an SMTP retry of the same message is stored once.
	e := Email(&m, mail.ID("fwd:"+m.Hash), mail.Flags{}, env.ReceivedAt)
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
