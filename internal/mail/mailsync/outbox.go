package mailsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/store"
)

// Sending (the outbox). Messages are queued by the API with their raw
// bytes and a fixed Message-ID; the account's sync loop sends them, under
// the account's lease, on the connection it already holds:
//
//   - An item is marked "sending" (committed) before the server (SMTP,
//     or the provider's API such as Graph's sendMail) is contacted, and "sent" as soon as the server took it. An item found
//     "sending" was left by a process that died mid-attempt (or an attempt
//     whose outcome could not be recorded): it is looked for in the Sent
//     folder by its Message-ID, and marked sent if there, failed with an
//     explanation if not. It is never sent again automatically: a message
//     is never sent twice.
//   - A transient failure (4xx, network) puts it back in the queue with a
//     backoff; a permanent one (5xx, login refused) fails it, with the
//     server's answer for the user. A connection lost after the whole
//     message was handed over is uncertain: handled like a dead process.
//   - Once sent, the message is appended to the Sent folder unless the
//     server saved it there itself (Gmail, Microsoft 365, any connector
//     that is a mail.SentSaver): then that copy is found by its
//     Message-ID and is the one stored. Either way it is stored at the
//     id the server gave it (so the sync does not fetch it again), and
//     linked to the records the user chose.
const (
	// outboxStaleSending is how long an item may stay "sending" before it
	// is taken for abandoned. Its only cost is that of recovering: it is
	// checked against the Sent folder, never sent again.
	outboxStaleSending = 2 * time.Minute
	// outboxBatch is how many items one pass sends, so that the sync goes
	// on between large batches.
	outboxBatch = 20
	// outboxGiveUp: an item still refused transiently this long after it
	// was queued fails.
	outboxGiveUp = 24 * time.Hour
	// How long to look for the copy a server that saves sent mail itself
	// puts in the Sent folder.
	outboxSavedWait = 5 * time.Second
	// outboxFileTimeout bounds filing a sent message (Sent folder, store,
	// links), which goes on when the loop is stopping.
	outboxFileTimeout = 2 * time.Minute
)

// sendOutbox works on this account's due outbox items. It returns an error
// only for what ends the pass: the mailbox connection or the store failed,
// or the lease is lost. SMTP failures are the items' own. worked reports
// that some item was worked on, so the folders' counts may have changed.
func (e *Engine) sendOutbox(ctx context.Context) (worked bool, err error) {
	if e.Config.Send == nil {
		return false, nil
	}
	due, err := e.Store.DueOutbox(ctx, e.Account.ID, e.Config.Now(), outboxStaleSending, outboxBatch)
	if err != nil {
		return false, err
	}
	for _, it := range due {
		worked = true
		down, err := e.sendItem(ctx, it)
		if err != nil {
			return worked, err
		}
		if down {
			// The server cannot be reached or is busy: the other items
			// wait for the next pass rather than hold up the sync.
			break
		}
	}
	return worked, nil
}

// sendItem makes one attempt at an item, or recovers an abandoned one.
// down reports that the SMTP server could not be reached or is busy.
func (e *Engine) sendItem(ctx context.Context, it crm.OutboxItem) (down bool, err error) {
	switch it.State {
	case crm.OutboxSending:
		return false, e.recoverItem(ctx, it, "crmsync was interrupted while handing this message to the mail server")
	case crm.OutboxQueued:
	default:
		return false, nil
	}
	now := e.Config.Now()
	if it.Attempts > 0 && now.Sub(it.CreatedAt) > outboxGiveUp {
		it.State = crm.OutboxFailed
		it.LastError = fmt.Sprintf("Not sent: the mail server refused it for %s. Its last answer: %s", outboxGiveUp, it.LastError)
		return false, e.failItem(ctx, it)
	}
	// Committed before the server is contacted: if this process dies
	// from here on, the next one knows an attempt may have been made.
	it.State, it.Attempts = crm.OutboxSending, it.Attempts+1
	if err := e.Store.UpdateOutbox(ctx, e.Fence, it); err != nil {
		return false, err
	}
	err = e.Config.Send(ctx, e.Account, it.From.Email, compose.Recipients(it.Request), it.Raw)
	// The outcome is recorded even when the loop is stopping (the lease is
	// released only after this returns).
	wctx := context.WithoutCancel(ctx)
	if err == nil {
		return false, e.itemSent(wctx, it)
	}
	msg := connerr.Message(err)
	switch {
	case errors.Is(err, mail.ErrUncertain):
		e.Log.LogAttrs(ctx, slog.LevelWarn, "outbox: outcome of an SMTP submission unknown", slog.Int64("outbox", it.ID), slog.Any("err", err))
		return false, e.recoverItem(wctx, it, msg)
	case ctx.Err() != nil:
		// Stopping before the message was handed over: not an attempt.
		it.State, it.Attempts = crm.OutboxQueued, it.Attempts-1
		if werr := e.Store.UpdateOutbox(wctx, e.Fence, it); werr != nil {
			return false, werr
		}
		return false, ctx.Err()
	case permanent(err):
		it.State, it.LastError = crm.OutboxFailed, msg
		return false, e.failItem(wctx, it)
	}
	it.State, it.LastError = crm.OutboxQueued, msg
	it.NextAttemptAt = now.Add(connerr.RetryOf(err, it.Attempts))
	e.Log.LogAttrs(ctx, slog.LevelInfo, "outbox: sending failed; will retry", slog.Int64("outbox", it.ID), slog.Int("attempts", it.Attempts),
		slog.Time("next_attempt", it.NextAttemptAt), slog.Any("err", err))
	kind := connerr.KindOf(err)
	return kind == connerr.Unreachable || kind == connerr.Throttled, e.Store.UpdateOutbox(wctx, e.Fence, it)
}

// recoverItem decides an item whose attempt has no known outcome: sent if
// its Message-ID is in the Sent folder, failed otherwise, never sent again.
func (e *Engine) recoverItem(ctx context.Context, it crm.OutboxItem, why string) error {
	sent, err := e.sentFolder(ctx)
	if err != nil {
		return err
	}
	if sent != nil {
		id, err := e.findInSent(ctx, *sent, it.MessageID)
		if err != nil {
			return err
		}
		if id != "" {
			e.Log.LogAttrs(ctx, slog.LevelInfo, "outbox: interrupted message found in Sent", slog.Int64("outbox", it.ID))
			return e.itemSent(ctx, it)
		}
	}
	it.State = crm.OutboxFailed
	it.LastError = strings.TrimSuffix(why, ".") + ", and it is not in your Sent folder, so crmsync cannot tell whether it was sent. " +
		"It will not be sent again automatically: check your Sent folder or ask a recipient, and send it again if it did not arrive."
	return e.failItem(ctx, it)
}

// failItem records a failed item and tells the account's history.
func (e *Engine) failItem(ctx context.Context, it crm.OutboxItem) error {
	if err := e.Store.UpdateOutbox(ctx, e.Fence, it); err != nil {
		return err
	}
	e.event(ctx, "send_failed", fmt.Sprintf("Not sent: %s to %s — %s", quoteSubject(it.Request.Subject), recipientList(it.Request), it.LastError))
	return nil
}

// itemSent records that the server took the message, then files it in the
// Sent folder, stores and links it. The caller passes a context that a
// stopping loop does not cancel: once sent, the copy is filed.
func (e *Engine) itemSent(ctx context.Context, it crm.OutboxItem) error {
	it.State, it.LastError = crm.OutboxSent, ""
	if err := e.Store.UpdateOutbox(ctx, e.Fence, it); err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, outboxFileTimeout)
	defer cancel()
	id, note, err := e.fileSent(fctx, it)
	if err != nil {
		e.event(ctx, "sent", fmt.Sprintf("Sent %s to %s, but saving it in crmsync failed (%s); it will appear with the next sync of the Sent folder, without its manual links.",
			quoteSubject(it.Request.Subject), recipientList(it.Request), connerr.Message(err)))
		return err
	}
	msg := fmt.Sprintf("Sent: %s to %s", quoteSubject(it.Request.Subject), recipientList(it.Request))
	if note != "" {
		msg += " (" + note + ")"
	}
	if id != 0 {
		it.EmailID = &id
		if err := e.Store.UpdateOutbox(ctx, e.Fence, it); err != nil {
			return err
		}
	}
	e.event(ctx, "sent", msg)
	return nil
}

// fileSent puts the sent message in the Sent folder (unless the server did)
// and stores it there with the request's manual links. It returns the
// stored email's id (0 if it could not be stored now) and a note for the
// user.
func (e *Engine) fileSent(ctx context.Context, it crm.OutboxItem) (int64, string, error) {
	folder, err := e.sentFolder(ctx)
	if err != nil {
		return 0, "", err
	}
	if folder == nil {
		return 0, "this mailbox has no Sent folder, so no copy was kept", nil
	}
	id, err := e.findInSent(ctx, *folder, it.MessageID)
	if err != nil {
		return 0, "", err
	}
	saves := savesSentMail(e.Account)
	if s, ok := e.Mailbox.(mail.SentSaver); ok && s.SavesSentMail() {
		saves = true
	}
	for deadline := time.Now().Add(outboxSavedWait); id == "" && saves && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(time.Second):
		}
		if id, err = e.findInSent(ctx, *folder, it.MessageID); err != nil {
			return 0, "", err
		}
	}
	var em crm.Email
	switch {
	case id != "":
		// The server saved it (or an earlier attempt did): store its copy
		// as the sync would.
		found := false
		err := e.Mailbox.Fetch(ctx, folder.Name, []mail.ID{id}, func(m *mail.Fetched) error {
			p, err := e.Config.Parse(m.Body)
			if err != nil {
				return err
			}
			em, found = Email(p, m.ID, m.Flags, m.InternalDate), true
			return nil
		})
		if err != nil {
			return 0, "", err
		}
		if !found {
			return 0, "", nil // gone meanwhile; the sync will tell
		}
	case saves:
		return 0, "the server keeps the copy in Sent; crmsync will pick it up with the next sync", nil
	default:
		ap, ok := e.Mailbox.(mail.Appender)
		if !ok {
			return 0, "", nil
		}
		if id, err = ap.Append(ctx, folder.Name, bytes.NewReader(it.Raw), int64(len(it.Raw)), mail.Flags{Seen: true}, time.Time{}); err != nil {
			return 0, "", err
		}
		if id == "" {
			// The server does not say where it put it: find it.
			if id, err = e.findInSent(ctx, *folder, it.MessageID); err != nil || id == "" {
				return 0, "", err
			}
		}
		p, err := e.Config.Parse(bytes.NewReader(it.Raw))
		if err != nil {
			return 0, "", err
		}
		em = Email(p, id, mail.Flags{Seen: true}, e.Config.Now())
	}
	// Bcc recipients are in no header; the sender knows them.
	em.Participants.Bcc = it.Request.Bcc
	// The folder's cursor is written back unchanged: the message is stored
	// under its id, and the next pass over the folder skips it (stored)
	// while the cursor stays the sync's own.
	batch := []crm.Email{em}
	res, err := e.Store.SaveMessages(ctx, e.Fence, folder.ID, folder.Cursor, batch)
	if err != nil {
		return 0, "", err
	}
	e.inserted.Add(int64(res.Inserted))
	if err := e.countFiled(ctx, *folder, res); err != nil {
		return 0, "", err
	}
	stored := batch[0].ID // SaveMessages fills in the ids of the batch it stores
	if stored == 0 {
		return 0, "", nil
	}
	return stored, e.linkSent(ctx, it, stored), nil
}

// countFiled adds the message just stored in the Sent folder to the
// folder's server count: it is on the server too, and the count the last
// pass recorded does not know it, so without this the folder would show
// more stored than on the server, and the account's progress would be
// wrong, until the next pass. A message that was already stored (the pass
// got there first, or an earlier attempt) is in the count already.
func (e *Engine) countFiled(ctx context.Context, folder store.Folder, res store.SaveResult) error {
	added := res.Inserted + res.Reattached
	if added == 0 {
		return nil
	}
	cur := folder.Cursor
	cur.ServerCount += uint32(added)
	return e.Store.SetFolderCursor(ctx, e.Fence, folder.ID, cur)
}

// linkSent adds the request's manual links as the account's owner, who sees
// their own email. A record they may not see is skipped, and said.
func (e *Engine) linkSent(ctx context.Context, it crm.OutboxItem, emailID int64) string {
	if len(it.Request.Links) == 0 {
		return ""
	}
	v := crm.Viewer{OrgID: e.Account.OrgID, UserID: e.Account.UserID, Role: crm.RoleMember}
	if u, err := e.Store.GetUser(ctx, e.Account.OrgID, e.Account.UserID); err == nil {
		v.Role = u.Role
	}
	var skipped []string
	for _, r := range it.Request.Links {
		if err := e.Store.SetLink(ctx, v, emailID, r.Type, r.ID, true); err != nil {
			e.Log.LogAttrs(ctx, slog.LevelInfo, "outbox: link skipped", slog.Int64("email", emailID), slog.String("type", string(r.Type)), slog.Int64("id", r.ID), slog.Any("err", err))
			skipped = append(skipped, fmt.Sprintf("%s %d", r.Type, r.ID))
		}
	}
	if len(skipped) == 0 {
		return ""
	}
	return "not linked to " + strings.Join(skipped, ", ") + ": no longer there, or not visible to the sender"
}

// sentFolder returns the account's folder with role sent, nil if none.
func (e *Engine) sentFolder(ctx context.Context) (*store.Folder, error) {
	folders, err := e.Store.Folders(ctx, e.Account.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range folders {
		if f.Role == string(mail.RoleSent) {
			return &f, nil
		}
	}
	return nil, nil
}

// findInSent looks for a Message-ID in the Sent folder; "" when it is
// not there or the connector cannot search.
func (e *Engine) findInSent(ctx context.Context, f store.Folder, messageID string) (mail.ID, error) {
	s, ok := e.Mailbox.(mail.Searcher)
	if !ok {
		return "", nil
	}
	ids, err := s.SearchMessageID(ctx, f.Name, messageID)
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[len(ids)-1], nil
}

// savesSentMail reports whether the account's submission server files sent
// mail in the Sent folder itself, so that appending would make a second
// copy: Gmail (over SMTP or its API, provider "google") and Microsoft 365
// do; Dovecot, Postfix and most others do
// not.
func savesSentMail(a crm.MailAccount) bool {
	switch a.Provider {
	case "gmail", "google", "office365", "exchange":
		return true
	}
	if a.Settings.SMTP == nil {
		return false
	}
	switch strings.ToLower(strings.TrimSuffix(a.Settings.SMTP.Host, ".")) {
	case "smtp.gmail.com", "smtp.googlemail.com", "smtp.office365.com", "outlook.office365.com", "smtp-mail.outlook.com":
		return true
	}
	return false
}

// permanent reports whether trying again cannot help.
func permanent(err error) bool {
	if errors.Is(err, mail.ErrPermanent) {
		return true
	}
	return !connerr.KindOf(err).Transient()
}

// recipientList names the recipients for the history: the first three,
// then how many more.
func recipientList(r crm.SendRequest) string {
	all := compose.Recipients(r)
	if len(all) > 3 {
		return strings.Join(all[:3], ", ") + fmt.Sprintf(" and %d more", len(all)-3)
	}
	return strings.Join(all, ", ")
}

func quoteSubject(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(no subject)"
	}
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "") + "…"
	}
	return `"` + s + `"`
}
