package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
	"github.com/crmsync/crmsync/internal/store"
)

const folderCols = `id, account_id, name, role, selected, uidvalidity, uidnext, highestmodseq, backfill_below, server_count, missing, audited_at`

func scanFolder(sc interface{ Scan(...any) error }) (store.Folder, error) {
	var f store.Folder
	var sel int
	var uv, un, bb, sc2 int64
	var audited sql.NullInt64
	var hm int64
	err := sc.Scan(&f.ID, &f.AccountID, &f.Name, &f.Role, &sel, &uv, &un, &hm, &bb, &sc2, &f.Cursor.Missing, &audited)
	f.Selected = sel != 0
	f.Cursor.UIDValidity, f.Cursor.UIDNext, f.Cursor.BackfillBelow, f.Cursor.ServerCount = uint32(uv), uint32(un), uint32(bb), uint32(sc2)
	f.Cursor.HighestModSeq = uint64(hm)
	f.Cursor.AuditedAt = fromOptMicros(audited)
	f.Missing = f.Cursor.Missing
	return f, err
}

// Folders lists an account's folders.
func (db *DB) Folders(ctx context.Context, accountID int64) ([]store.Folder, error) {
	return db.folders(ctx, db.r, accountID)
}

func (db *DB) folders(ctx context.Context, q queryer, accountID int64) ([]store.Folder, error) {
	rows, err := q.QueryContext(ctx, db.q(`SELECT `+folderCols+` FROM mail_folders WHERE account_id = ? ORDER BY name`), accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Folder{}
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SyncFolders records the server's folder list.
func (db *DB) SyncFolders(ctx context.Context, f store.Fence, accountID int64, list []store.FolderInfo, autoSelect []string) ([]store.Folder, error) {
	var out []store.Folder
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		var org int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT org_id FROM mail_accounts WHERE id = ?`), accountID).Scan(&org); err != nil {
			return err
		}
		have, err := db.folders(ctx, tx, accountID)
		if err != nil {
			return err
		}
		known := map[string]store.Folder{}
		for _, h := range have {
			known[h.Name] = h
		}
		auto := map[string]bool{}
		for _, r := range autoSelect {
			auto[r] = true
		}
		seen := map[string]bool{}
		for _, fi := range list {
			if fi.NoSelect {
				continue
			}
			seen[fi.Name] = true
			if h, ok := known[fi.Name]; ok {
				if h.Role != fi.Role {
					if _, err := tx.ExecContext(ctx, db.q(`UPDATE mail_folders SET role = ? WHERE id = ?`), fi.Role, h.ID); err != nil {
						return err
					}
				}
				continue
			}
			sel := 0
			if auto[fi.Role] {
				sel = 1
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mail_folders (org_id, account_id, name, role, selected) VALUES (?, ?, ?, ?, ?)`),
				org, accountID, fi.Name, fi.Role, sel); err != nil {
				return err
			}
		}
		// A folder gone from the server: its messages stay (marked
		// expunged, so a move re-attaches them); the folder row goes.
		for name, h := range known {
			if seen[name] {
				continue
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET expunged_at = ? WHERE folder_id = ? AND expunged_at IS NULL`), micros(db.now()), h.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM mail_folders WHERE id = ?`), h.ID); err != nil {
				return err
			}
		}
		out, err = db.folders(ctx, tx, accountID)
		return err
	})
	return out, err
}

// SelectFolders sets which folders are synced.
func (db *DB) SelectFolders(ctx context.Context, v crm.Viewer, accountID int64, names []string) ([]store.Folder, error) {
	var out []store.Folder
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := db.getMailAccount(ctx, tx, v, accountID, ""); err != nil {
			return err
		}
		have, err := db.folders(ctx, tx, accountID)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, h := range have {
			known[h.Name] = true
		}
		want := map[string]bool{}
		for i, n := range names {
			if !known[n] {
				return &store.FieldError{Field: "folders[" + itoa(i) + "]", Code: "not_found", Message: "no folder named " + n + " on this mailbox"}
			}
			want[n] = true
		}
		for _, h := range have {
			sel := 0
			if want[h.Name] {
				sel = 1
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE mail_folders SET selected = ? WHERE id = ?`), sel, h.ID); err != nil {
				return err
			}
		}
		out, err = db.folders(ctx, tx, accountID)
		return err
	})
	return out, err
}

func (db *DB) writeCursor(ctx context.Context, q queryer, folderID int64, c store.FolderCursor) error {
	res, err := q.ExecContext(ctx, db.q(`UPDATE mail_folders SET uidvalidity = ?, uidnext = ?, highestmodseq = ?, backfill_below = ?, server_count = ?, missing = ?, audited_at = ? WHERE id = ?`),
		int64(c.UIDValidity), int64(c.UIDNext), int64(c.HighestModSeq), int64(c.BackfillBelow), int64(c.ServerCount), c.Missing, optMicros(c.AuditedAt), folderID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SetFolderCursor writes a folder's cursor.
func (db *DB) SetFolderCursor(ctx context.Context, f store.Fence, folderID int64, c store.FolderCursor) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error { return db.writeCursor(ctx, tx, folderID, c) })
}

// SaveMessages stores a batch and the folder cursor atomically.
func (db *DB) SaveMessages(ctx context.Context, f store.Fence, folderID int64, cur store.FolderCursor, msgs []crm.Email) (store.SaveResult, error) {
	var res store.SaveResult
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res = store.SaveResult{}
		var org, owner, account int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT f.org_id, a.owner_id, a.id FROM mail_folders f JOIN mail_accounts a ON a.id = f.account_id WHERE f.id = ?`), folderID).
			Scan(&org, &owner, &account); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		now := micros(db.now())
		// Two lookups for the whole batch instead of two per message: on
		// PostgreSQL every statement is a round trip.
		existing, err := db.storedIn(ctx, tx, folderID, msgs)
		if err != nil {
			return err
		}
		reattach, err := db.reattachCandidates(ctx, tx, account, folderID, msgs)
		if err != nil {
			return err
		}
		var inserted []int64
		var addrs []addressRow
		for i := range msgs {
			m := &msgs[i]
			if id, ok := existing[remoteKey{m.UIDValidity, m.UID}]; ok {
				m.ID = id
				res.Skipped++
				continue
			}
			// Same content, expunged elsewhere (a move) or stored under this
			// folder's previous UIDVALIDITY: re-attach that row.
			if id, ok := takeCandidate(reattach, m.Hash, m.UIDValidity); ok {
				if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET folder_id = ?, uidvalidity = ?, uid = ?, flags = ?, modseq = ?, expunged_at = NULL, updated_at = ? WHERE id = ?`),
					folderID, int64(m.UIDValidity), int64(m.UID), m.Flags.Bits(), int64(m.ModSeq), now, id); err != nil {
					return err
				}
				m.ID = id
				res.Reattached++
				continue
			}
			if err := db.insertEmail(ctx, tx, org, owner, account, folderID, m, now, &addrs); err != nil {
				return err
			}
			inserted = append(inserted, m.ID)
			res.Inserted++
		}
		if err := db.insertAddresses(ctx, tx, addrs); err != nil {
			return err
		}
		// New mail is linked in the same transaction: a crash never leaves
		// a stored email without its links.
		if err := db.linkEmails(ctx, tx, org, inserted); err != nil {
			return err
		}
		return db.writeCursor(ctx, tx, folderID, cur)
	})
	return res, err
}

// insertEmail inserts a message. Its address rows are appended to addrs
// for the caller to insert with the batch; with addrs nil they are
// inserted at once.
func (db *DB) insertEmail(ctx context.Context, tx *sql.Tx, org, owner, account, folderID int64, m *crm.Email, now int64, addrs *[]addressRow) error {
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	nn := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	var fromName, fromEmail string
	if len(m.Participants.From) > 0 {
		fromName, fromEmail = m.Participants.From[0].Name, m.Participants.From[0].Email
	}
	trunc := 0
	if m.Truncated {
		trunc = 1
	}
	if m.Attachments == nil {
		m.Attachments = []crm.AttachmentInfo{}
	}
	err := tx.QueryRowContext(ctx, db.q(`INSERT INTO messages (org_id, owner_id, account_id, folder_id, uidvalidity, uid, message_id, in_reply_to, refs, subject, sent_at,
		from_name, from_email, participants, text_body, html_body, truncated, attachments, warnings, flags, modseq, size, hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		org, owner, account, folderID, int64(m.UIDValidity), int64(m.UID), m.MessageID, js(nn(m.InReplyTo)), js(nn(m.References)), m.Subject, micros(m.Date),
		fromName, fromEmail, js(m.Participants), m.Text, m.HTML, trunc, js(m.Attachments), js(nn(m.Warnings)), m.Flags.Bits(), int64(m.ModSeq), m.Size, m.Hash, now, now).Scan(&m.ID)
	if err != nil {
		return err
	}
	var rows []addressRow
	pos := 0
	for _, g := range []struct {
		kind  string
		addrs []crm.Address
	}{{"from", m.Participants.From}, {"sender", m.Participants.Sender}, {"reply_to", m.Participants.ReplyTo},
		{"to", m.Participants.To}, {"cc", m.Participants.Cc}, {"bcc", m.Participants.Bcc}} {
		for _, a := range g.addrs {
			if a.Email == "" {
				continue
			}
			email := strings.ToLower(a.Email)
			rows = append(rows, addressRow{m.ID, org, g.kind, email, a.Name, pos, linker.Domain(email)})
			pos++
		}
	}
	if addrs != nil {
		*addrs = append(*addrs, rows...)
		return nil
	}
	return db.insertAddresses(ctx, tx, rows)
}

// addressRow is one row of message_addresses.
type addressRow struct {
	messageID, org int64
	kind, email    string
	name           string
	pos            int
	domain         string
}

// insertAddresses inserts address rows, many per statement.
func (db *DB) insertAddresses(ctx context.Context, tx *sql.Tx, rows []addressRow) error {
	const per = 200 // 7 parameters each: well under every driver's limit
	for lo := 0; lo < len(rows); lo += per {
		chunk := rows[lo:min(lo+per, len(rows))]
		var q strings.Builder
		q.WriteString(`INSERT INTO message_addresses (message_id, org_id, kind, email, name, pos, domain) VALUES `)
		args := make([]any, 0, len(chunk)*7)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
			args = append(args, r.messageID, r.org, r.kind, r.email, r.name, r.pos, r.domain)
		}
		if _, err := tx.ExecContext(ctx, db.q(q.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

type remoteKey struct{ uidvalidity, uid uint32 }

// storedIn returns the ids of the batch's messages already stored in the
// folder, by (uidvalidity, uid).
func (db *DB) storedIn(ctx context.Context, tx *sql.Tx, folderID int64, msgs []crm.Email) (map[remoteKey]int64, error) {
	byValidity := map[uint32][]any{}
	for _, m := range msgs {
		byValidity[m.UIDValidity] = append(byValidity[m.UIDValidity], int64(m.UID))
	}
	out := map[remoteKey]int64{}
	for uv, uids := range byValidity {
		for lo := 0; lo < len(uids); lo += 500 {
			chunk := uids[lo:min(lo+500, len(uids))]
			rows, err := tx.QueryContext(ctx, db.q(`SELECT id, uid FROM messages WHERE folder_id = ? AND uidvalidity = ? AND expunged_at IS NULL AND uid IN (`+placeholders(len(chunk))+`)`),
				append([]any{folderID, int64(uv)}, chunk...)...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var id, uid int64
				if err := rows.Scan(&id, &uid); err != nil {
					rows.Close()
					return nil, err
				}
				out[remoteKey{uv, uint32(uid)}] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// takeCandidate removes and returns the first row a message may take over:
// expunged, or of another UIDVALIDITY than the message's.
func takeCandidate(c map[string][]reattachRow, hash string, uidvalidity uint32) (int64, bool) {
	if hash == "" {
		return 0, false
	}
	rows := c[hash]
	for i, r := range rows {
		if r.uidvalidity != uidvalidity {
			c[hash] = append(rows[:i:i], rows[i+1:]...)
			return r.id, true
		}
	}
	return 0, false
}

type reattachRow struct {
	id          int64
	uidvalidity uint32
}

// reattachCandidates returns, by content hash, the account's rows a
// message of the batch may take over: expunged ones (a move between
// folders) and this folder's rows of another UIDVALIDITY, oldest first.
func (db *DB) reattachCandidates(ctx context.Context, tx *sql.Tx, account, folderID int64, msgs []crm.Email) (map[string][]reattachRow, error) {
	var hashes []any
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Hash != "" && !seen[m.Hash] {
			seen[m.Hash] = true
			hashes = append(hashes, m.Hash)
		}
	}
	out := map[string][]reattachRow{}
	for lo := 0; lo < len(hashes); lo += 500 {
		chunk := hashes[lo:min(lo+500, len(hashes))]
		rows, err := tx.QueryContext(ctx, db.q(`SELECT id, hash, uidvalidity, expunged_at IS NOT NULL FROM messages WHERE account_id = ? AND hash IN (`+placeholders(len(chunk))+`)
			AND (expunged_at IS NOT NULL OR folder_id = ?) ORDER BY id`), append(append([]any{account}, chunk...), folderID)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, uv int64
			var h string
			var expunged bool
			if err := rows.Scan(&id, &h, &uv, &expunged); err != nil {
				rows.Close()
				return nil, err
			}
			r := reattachRow{id: id, uidvalidity: uint32(uv)}
			if expunged {
				r.uidvalidity = 0 // any validity may take an expunged row
			}
			out[h] = append(out[h], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StoredUIDs lists a folder's stored UIDs at a UIDVALIDITY.
func (db *DB) StoredUIDs(ctx context.Context, folderID int64, uidvalidity uint32) ([]uint32, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT uid FROM messages WHERE folder_id = ? AND uidvalidity = ? AND expunged_at IS NULL ORDER BY uid`), folderID, int64(uidvalidity))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, uint32(u))
	}
	return out, rows.Err()
}

// ApplyFlagChanges records server flags, keeping pending local changes.
func (db *DB) ApplyFlagChanges(ctx context.Context, f store.Fence, folderID int64, uidvalidity uint32, changes []store.FlagUpdate, cur store.FolderCursor) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		now := micros(db.now())
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET flags = ?, modseq = ?, updated_at = ? WHERE folder_id = ? AND uidvalidity = ? AND uid = ? AND expunged_at IS NULL AND flags <> ?`),
				c.Flags.Bits(), int64(c.ModSeq), now, folderID, int64(uidvalidity), int64(c.UID), c.Flags.Bits()); err != nil {
				return err
			}
		}
		return db.writeCursor(ctx, tx, folderID, cur)
	})
}

// ExpungeUIDs marks messages gone from the server.
func (db *DB) ExpungeUIDs(ctx context.Context, f store.Fence, folderID int64, uidvalidity uint32, uids []uint32) (int, error) {
	n := 0
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		now := micros(db.now())
		for lo := 0; lo < len(uids); lo += 500 {
			hi := min(lo+500, len(uids))
			args := []any{now, folderID, int64(uidvalidity)}
			for _, u := range uids[lo:hi] {
				args = append(args, int64(u))
			}
			res, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET expunged_at = ? WHERE folder_id = ? AND uidvalidity = ? AND expunged_at IS NULL AND uid IN (`+placeholders(hi-lo)+`)`), args...)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// ExpungeOtherValidities marks messages of earlier UIDVALIDITYs expunged.
func (db *DB) ExpungeOtherValidities(ctx context.Context, f store.Fence, folderID int64, uidvalidity uint32) (int, error) {
	var n int64
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET expunged_at = ? WHERE folder_id = ? AND uidvalidity <> ? AND expunged_at IS NULL`),
			micros(db.now()), folderID, int64(uidvalidity))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// PendingFlags lists local flag changes to push.
func (db *DB) PendingFlags(ctx context.Context, accountID int64, limit int) ([]store.PendingFlag, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT m.id, m.folder_id, f.name, m.uidvalidity, m.uid, m.pending_flags FROM messages m JOIN mail_folders f ON f.id = m.folder_id
		WHERE m.account_id = ? AND m.pending_flags >= 0 AND m.expunged_at IS NULL ORDER BY m.id LIMIT ?`), accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PendingFlag
	for rows.Next() {
		var p store.PendingFlag
		var uv, uid, bits int64
		if err := rows.Scan(&p.EmailID, &p.FolderID, &p.Folder, &uv, &uid, &bits); err != nil {
			return nil, err
		}
		p.UIDValidity, p.UID, p.Flags = uint32(uv), uint32(uid), crm.FlagsFromBits(bits)
		out = append(out, p)
	}
	return out, rows.Err()
}

// AckFlags records pushed flags unless they changed again meanwhile.
func (db *DB) AckFlags(ctx context.Context, f store.Fence, emailID int64, pushed crm.Flags) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET flags = ?, pending_flags = -1, updated_at = ? WHERE id = ? AND pending_flags = ?`),
			pushed.Bits(), micros(db.now()), emailID, pushed.Bits())
		return err
	})
}

const emailListCols = `m.id, m.org_id, m.owner_id, m.account_id, m.folder_id, COALESCE(f.name, ''), m.uidvalidity, m.uid, m.message_id, m.in_reply_to, m.refs, m.subject, m.sent_at,
	m.participants, m.truncated, m.attachments, m.warnings, m.flags, m.pending_flags, m.modseq, m.size, m.hash, m.created_at`

func scanEmail(sc interface{ Scan(...any) error }, extra ...any) (crm.Email, error) {
	var e crm.Email
	var folder sql.NullInt64
	var uv, uid, sent, flags, pending, modseq, created int64
	var inReply, refs, parts, atts, warns string
	var trunc int
	dest := append([]any{&e.ID, &e.OrgID, &e.OwnerID, &e.AccountID, &folder, &e.Folder, &uv, &uid, &e.MessageID, &inReply, &refs, &e.Subject, &sent,
		&parts, &trunc, &atts, &warns, &flags, &pending, &modseq, &e.Size, &e.Hash, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return e, err
	}
	e.FolderID = fromOptInt(folder)
	e.UIDValidity, e.UID, e.ModSeq = uint32(uv), uint32(uid), uint64(modseq)
	e.Date, e.CreatedAt = fromMicros(sent), fromMicros(created)
	e.Truncated = trunc != 0
	if pending >= 0 {
		flags = pending // what the user set is the truth shown, until pushed
	}
	e.Flags = crm.FlagsFromBits(flags)
	for _, p := range []struct {
		raw string
		v   any
	}{{inReply, &e.InReplyTo}, {refs, &e.References}, {parts, &e.Participants}, {atts, &e.Attachments}, {warns, &e.Warnings}} {
		if err := json.Unmarshal([]byte(p.raw), p.v); err != nil {
			return e, err
		}
	}
	return e, nil
}

// ListEmails lists emails v may see, newest first.
func (db *DB) ListEmails(ctx context.Context, v crm.Viewer, f store.EmailFilter) (store.Page[crm.Email], error) {
	var page store.Page[crm.Email]
	var w where
	visibleAs(&w, v, "m.")
	w.add(`m.expunged_at IS NULL`)
	if f.AccountID != nil {
		w.add(`m.account_id = ?`, *f.AccountID)
	}
	if f.Folder != "" {
		w.add(`f.name = ?`, f.Folder)
	}
	if f.LinkedTo != nil {
		w.add(`m.id IN (SELECT message_id FROM email_links WHERE org_id = ? AND target_type = ? AND target_id = ? AND state = 'linked')`, v.OrgID, string(f.LinkedTo.Type), f.LinkedTo.ID)
	}
	if f.Q != "" {
		p := likePattern(f.Q)
		w.add(`(lower(m.subject) LIKE ? ESCAPE '\' OR m.id IN (SELECT message_id FROM message_addresses WHERE org_id = ? AND (email LIKE ? ESCAPE '\' OR lower(name) LIKE ? ESCAPE '\')))`, p, v.OrgID, p, p)
	}
	t, id, ok, err := store.DecodeTimeCursor(f.Cursor)
	if err != nil {
		return page, err
	}
	if ok {
		w.add(`(m.sent_at < ? OR (m.sent_at = ? AND m.id < ?))`, micros(t), micros(t), id)
	}
	limit := store.NormLimit(f.Limit)
	args := append(w.args, limit+1)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+emailListCols+` FROM messages m LEFT JOIN mail_folders f ON f.id = m.folder_id`+w.sql()+` ORDER BY m.sent_at DESC, m.id DESC LIMIT ?`), args...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	page.Items = make([]crm.Email, 0, limit)
	for rows.Next() {
		if len(page.Items) == limit {
			last := page.Items[limit-1]
			page.NextCursor = store.EncodeTimeCursor(last.Date, last.ID)
			break
		}
		e, err := scanEmail(rows)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, e)
	}
	return page, rows.Err()
}

func (db *DB) getEmail(ctx context.Context, q queryer, v crm.Viewer, id int64) (crm.Email, error) {
	var w where
	w.add(`m.id = ?`, id)
	visibleAs(&w, v, "m.")
	var text, html string
	e, err := scanEmail(q.QueryRowContext(ctx, db.q(`SELECT `+emailListCols+`, m.text_body, m.html_body FROM messages m LEFT JOIN mail_folders f ON f.id = m.folder_id`+w.sql()), w.args...), &text, &html)
	if errors.Is(err, sql.ErrNoRows) {
		return e, store.ErrNotFound
	}
	if err != nil {
		return e, err
	}
	e.Text, e.HTML = text, html
	e.Links, err = db.emailLinks(ctx, q, e.ID)
	return e, err
}

// GetEmail returns an email with its bodies.
func (db *DB) GetEmail(ctx context.Context, v crm.Viewer, id int64) (crm.Email, error) {
	return db.getEmail(ctx, db.r, v, id)
}

// SetEmailFlags changes flags locally and queues them for the server.
func (db *DB) SetEmailFlags(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Flags)) (crm.Email, error) {
	var out crm.Email
	err := db.tx(ctx, func(tx *sql.Tx) error {
		e, err := db.getEmail(ctx, tx, v, id)
		if err != nil {
			return err
		}
		apply(&e.Flags)
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET pending_flags = ?, updated_at = ? WHERE id = ?`), e.Flags.Bits(), micros(db.now()), id); err != nil {
			return err
		}
		out = e
		return nil
	})
	if err != nil {
		return out, err
	}
	return db.GetEmail(ctx, v, id)
}

// FolderCounts counts stored messages per folder.
func (db *DB) FolderCounts(ctx context.Context, accountID int64) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT f.name, COUNT(m.id) FROM mail_folders f LEFT JOIN messages m ON m.folder_id = f.id AND m.expunged_at IS NULL
		WHERE f.account_id = ? GROUP BY f.name`), accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var c int64
		if err := rows.Scan(&n, &c); err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, rows.Err()
}

func itoa(i int) string { return strconv.Itoa(i) }
