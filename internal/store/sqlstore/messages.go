package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
	"github.com/crmsync/crmsync/internal/store"
)

const folderCols = `id, account_id, name, role, selected, cursor, syncing, server_count, missing, audited_at, stale, local`

func scanFolder(sc interface{ Scan(...any) error }) (store.Folder, error) {
	var f store.Folder
	var sel, syncing, stale, local int
	var sc2 int64
	var audited sql.NullInt64
	err := sc.Scan(&f.ID, &f.AccountID, &f.Name, &f.Role, &sel, &f.Cursor.Token, &syncing, &sc2, &f.Cursor.Missing, &audited, &stale, &local)
	f.Selected, f.Local = sel != 0, local != 0
	f.Cursor.Syncing, f.Stale = syncing != 0, stale != 0
	f.Cursor.ServerCount = uint32(sc2)
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
			// A server folder named like one of crmsync's own (the
			// dropbox) is left out rather than mixed with it.
			if fi.NoSelect || known[fi.Name].Local {
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
			if seen[name] || h.Local {
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
	syncing := 0
	if c.Syncing {
		syncing = 1
	}
	res, err := q.ExecContext(ctx, db.q(`UPDATE mail_folders SET cursor = ?, syncing = ?, server_count = ?, missing = ?, audited_at = ? WHERE id = ?`),
		c.Token, syncing, int64(c.ServerCount), c.Missing, optMicros(c.AuditedAt), folderID)
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
		var err error
		if res, err = db.saveBatch(ctx, tx, folderID, msgs); err != nil {
			return err
		}
		return db.writeCursor(ctx, tx, folderID, cur)
	})
	return res, err
}

// saveBatch stores and links messages of one folder: the one path by which
// mail enters the store, synced or forwarded.
func (db *DB) saveBatch(ctx context.Context, tx *sql.Tx, folderID int64, msgs []crm.Email) (store.SaveResult, error) {
	var res store.SaveResult
	var org, owner, account, epoch int64
	if err := tx.QueryRowContext(ctx, db.q(`SELECT f.org_id, a.owner_id, a.id, f.epoch FROM mail_folders f JOIN mail_accounts a ON a.id = f.account_id WHERE f.id = ?`), folderID).
		Scan(&org, &owner, &account, &epoch); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return res, store.ErrNotFound
		}
		return res, err
	}
	now := micros(db.now())
	// Two lookups for the whole batch instead of two per message: on
	// PostgreSQL every statement is a round trip.
	existing, err := db.storedIn(ctx, tx, folderID, epoch, msgs)
	if err != nil {
		return res, err
	}
	reattach, err := db.reattachCandidates(ctx, tx, account, folderID, epoch, msgs)
	if err != nil {
		return res, err
	}
	var inserted []int64
	var addrs []addressRow
	var fresh []*crm.Email // new rows, inserted together below
	for i := range msgs {
		m := &msgs[i]
		if m.RemoteID == "" {
			return res, &store.FieldError{Field: fmt.Sprintf("messages[%d].remote_id", i), Code: "required",
				Message: "a stored message needs its id on the provider (or, forwarded, its content's)"}
		}
		if id, ok := existing[m.RemoteID]; ok {
			m.ID = id
			res.Skipped++
			continue
		}
		// The same message expunged elsewhere (a move) or stored in this
		// folder's previous epoch: re-attach that row, found by its remote
		// id or its content.
		if id, ok := reattach.take(m.RemoteID, m.Hash); ok {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET folder_id = ?, remote_id = ?, epoch = ?, flags = ?, expunged_at = NULL, updated_at = ? WHERE id = ?`),
				folderID, m.RemoteID, epoch, m.Flags.Bits(), now, id); err != nil {
				return res, err
			}
			m.ID = id
			res.Reattached++
			continue
		}
		fresh = append(fresh, m)
	}
	if err := db.insertEmails(ctx, tx, org, owner, account, folderID, epoch, fresh, now, &addrs); err != nil {
		return res, err
	}
	for _, m := range fresh {
		inserted = append(inserted, m.ID)
	}
	res.Inserted = len(fresh)
	if err := db.insertAddresses(ctx, tx, addrs); err != nil {
		return res, err
	}
	// A webhook event per new message, in this transaction (DESIGN §15);
	// nothing is built when no endpoint wants them.
	if len(fresh) > 0 {
		subs, err := db.subscribed(ctx, tx, org, store.EventMessageStored)
		if err != nil {
			return res, err
		}
		if len(subs) > 0 {
			evs := make([]webhookEvent, 0, len(fresh))
			for _, m := range fresh {
				evs = append(evs, webhookEvent{Type: store.EventMessageStored, Data: messageStoredData{
					EmailID: m.ID, AccountID: account, FolderID: folderID, OwnerID: owner,
					MessageID: m.MessageID, Subject: m.Subject, From: firstAddress(m.Participants.From), Date: m.Date}})
			}
			if err := db.recordEvents(ctx, tx, org, evs); err != nil {
				return res, err
			}
		}
	}
	// New mail is linked in the same transaction: a crash never leaves a
	// stored email without its links.
	return res, db.linkEmails(ctx, tx, org, inserted)
}

// messageStoredData is the data of a message.stored event.
type messageStoredData struct {
	EmailID   int64     `json:"email_id"`
	AccountID int64     `json:"account_id"`
	FolderID  int64     `json:"folder_id"`
	OwnerID   int64     `json:"owner_id"`
	MessageID string    `json:"message_id,omitempty"`
	Subject   string    `json:"subject"`
	From      string    `json:"from,omitempty"`
	Date      time.Time `json:"date"`
}

func firstAddress(as []crm.Address) string {
	if len(as) == 0 {
		return ""
	}
	return as[0].Email
}

// emailCols are the columns insertEmails writes, one placeholder each.
const emailCols = 24

// emailsPerInsert is how many messages one INSERT writes: a statement per
// message was a round trip per message on PostgreSQL and most of the time
// of a batch; 40 rows of 24 parameters stay under SQLite's historical
// limit of 999 parameters a statement.
const emailsPerInsert = 40

// insertEmails inserts messages, many per statement, and sets their ids.
// Their address rows are appended to addrs for the caller to insert with
// the batch; with addrs nil they are inserted at once.
func (db *DB) insertEmails(ctx context.Context, tx *sql.Tx, org, owner, account, folderID, epoch int64, msgs []*crm.Email, now int64, addrs *[]addressRow) error {
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	nn := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	var rows []addressRow
	for lo := 0; lo < len(msgs); lo += emailsPerInsert {
		chunk := msgs[lo:min(lo+emailsPerInsert, len(msgs))]
		var q strings.Builder
		q.WriteString(`INSERT INTO messages (org_id, owner_id, account_id, folder_id, remote_id, epoch, message_id, in_reply_to, refs, subject, sent_at,
		from_name, from_email, participants, text_body, html_body, truncated, attachments, warnings, flags, size, hash, created_at, updated_at) VALUES `)
		args := make([]any, 0, len(chunk)*emailCols)
		for i, m := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
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
			args = append(args, org, owner, account, folderID, m.RemoteID, epoch, m.MessageID, js(nn(m.InReplyTo)), js(nn(m.References)), m.Subject, micros(m.Date),
				fromName, fromEmail, js(m.Participants), m.Text, m.HTML, trunc, js(m.Attachments), js(nn(m.Warnings)), m.Flags.Bits(), m.Size, m.Hash, now, now)
		}
		q.WriteString(` RETURNING id, remote_id`)
		if err := db.returnedIDs(ctx, tx, q.String(), args, chunk); err != nil {
			return err
		}
		for _, m := range chunk {
			rows = appendAddresses(rows, org, m)
		}
	}
	if addrs != nil {
		*addrs = append(*addrs, rows...)
		return nil
	}
	return db.insertAddresses(ctx, tx, rows)
}

// returnedIDs runs a multi-row INSERT … RETURNING id, remote_id and sets
// each message's id. Neither database promises the order of RETURNING, so
// rows are matched by remote id; the same id twice in one statement (a
// provider listing a message twice) takes the ids in ascending order, the
// order a statement's rows draw them from the sequence.
func (db *DB) returnedIDs(ctx context.Context, tx *sql.Tx, query string, args []any, msgs []*crm.Email) error {
	rs, err := tx.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	byRemote := make(map[string][]int64, len(msgs))
	n := 0
	for rs.Next() {
		var id int64
		var rid string
		if err := rs.Scan(&id, &rid); err != nil {
			return err
		}
		byRemote[rid] = append(byRemote[rid], id)
		n++
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if n != len(msgs) {
		return fmt.Errorf("inserting messages: %d rows returned for %d messages", n, len(msgs))
	}
	for _, ids := range byRemote {
		slices.Sort(ids)
	}
	for _, m := range msgs {
		ids := byRemote[m.RemoteID]
		if len(ids) == 0 {
			return fmt.Errorf("inserting messages: no id returned for %q", m.RemoteID)
		}
		m.ID, byRemote[m.RemoteID] = ids[0], ids[1:]
	}
	return nil
}

// appendAddresses appends the address rows of a stored message m.
func appendAddresses(rows []addressRow, org int64, m *crm.Email) []addressRow {
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
	return rows
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

// storedIn returns the ids of the batch's messages already stored in the
// folder's current epoch, by remote id.
func (db *DB) storedIn(ctx context.Context, tx *sql.Tx, folderID, epoch int64, msgs []crm.Email) (map[string]int64, error) {
	ids := make([]any, len(msgs))
	for i, m := range msgs {
		ids[i] = m.RemoteID
	}
	out := map[string]int64{}
	for lo := 0; lo < len(ids); lo += 500 {
		chunk := ids[lo:min(lo+500, len(ids))]
		rows, err := tx.QueryContext(ctx, db.q(`SELECT id, remote_id FROM messages WHERE folder_id = ? AND epoch = ? AND expunged_at IS NULL AND remote_id IN (`+placeholders(len(chunk))+`)`),
			append([]any{folderID, epoch}, chunk...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var rid string
			if err := rows.Scan(&id, &rid); err != nil {
				rows.Close()
				return nil, err
			}
			out[rid] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reattachable are the rows a batch's messages may take over, by remote id
// (this folder's) and by content hash (the account's), oldest first.
type reattachable struct {
	byID   map[string][]int64
	byHash map[string][]int64
	taken  map[int64]bool
}

// take removes and returns the row a message with this remote id and hash
// may take over: the same id first (a provider whose ids outlive a
// restart), else the same content.
func (r reattachable) take(remoteID, hash string) (int64, bool) {
	for _, l := range []struct {
		m   map[string][]int64
		key string
	}{{r.byID, remoteID}, {r.byHash, hash}} {
		if l.key == "" {
			continue
		}
		for _, id := range l.m[l.key] {
			if !r.taken[id] {
				r.taken[id] = true
				return id, true
			}
		}
	}
	return 0, false
}

// reattachCandidates returns the account's rows that a message of the
// batch may take over: expunged ones (a move between folders, by content)
// and this folder's rows of a previous epoch (a restart, by id or content);
// with global ids (crm.Email.GlobalID) also the account's rows under the
// same id in other folders (a move, by id).
func (db *DB) reattachCandidates(ctx context.Context, tx *sql.Tx, account, folderID, epoch int64, msgs []crm.Email) (reattachable, error) {
	out := reattachable{byID: map[string][]int64{}, byHash: map[string][]int64{}, taken: map[int64]bool{}}
	var hashes, ids []any
	seen := map[string]bool{}
	global := false
	for _, m := range msgs {
		global = global || m.GlobalID
		if m.Hash != "" && !seen["h"+m.Hash] {
			seen["h"+m.Hash] = true
			hashes = append(hashes, m.Hash)
		}
		if m.RemoteID != "" && !seen["i"+m.RemoteID] {
			seen["i"+m.RemoteID] = true
			ids = append(ids, m.RemoteID)
		}
	}
	query := func(keys []any, sqlText string, args func(chunk []any) []any, into map[string][]int64) error {
		for lo := 0; lo < len(keys); lo += 500 {
			chunk := keys[lo:min(lo+500, len(keys))]
			rows, err := tx.QueryContext(ctx, db.q(fmt.Sprintf(sqlText, placeholders(len(chunk)))), args(chunk)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				var k string
				if err := rows.Scan(&id, &k); err != nil {
					rows.Close()
					return err
				}
				into[k] = append(into[k], id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	err := query(hashes, `SELECT id, hash FROM messages WHERE account_id = ? AND hash IN (%s)
		AND (expunged_at IS NOT NULL OR folder_id = ? AND epoch < ?) ORDER BY id`,
		func(c []any) []any { return append(append([]any{account}, c...), folderID, epoch) }, out.byHash)
	if err != nil {
		return out, err
	}
	// By id: rows of the folder's previous epoch (a restart by a provider
	// whose ids outlive it). Expunged rows are found by content above.
	if global {
		// Ids that stay when a message moves (Graph's): any row of the
		// account under the id but this folder's current ones, which
		// storedIn found. A row still live in another folder is a move
		// seen here first; the old folder's removal then finds nothing.
		err = query(ids, `SELECT id, remote_id FROM messages WHERE account_id = ? AND remote_id IN (%s)
			AND NOT (folder_id = ? AND epoch >= ? AND expunged_at IS NULL) ORDER BY expunged_at IS NULL DESC, id`,
			func(c []any) []any { return append(append([]any{account}, c...), folderID, epoch) }, out.byID)
		return out, err
	}
	err = query(ids, `SELECT id, remote_id FROM messages WHERE folder_id = ? AND remote_id IN (%s)
		AND expunged_at IS NULL AND epoch < ? ORDER BY id`,
		func(c []any) []any { return append(append([]any{folderID}, c...), epoch) }, out.byID)
	return out, err
}

// StoredIDs lists the remote ids stored in a folder's current epoch.
func (db *DB) StoredIDs(ctx context.Context, folderID int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT remote_id FROM messages
		WHERE folder_id = ? AND epoch = (SELECT epoch FROM mail_folders WHERE id = ?) AND expunged_at IS NULL`), folderID, folderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ApplyFlagChanges records server flags, keeping pending local changes.
func (db *DB) ApplyFlagChanges(ctx context.Context, f store.Fence, folderID int64, changes []store.FlagUpdate, cur store.FolderCursor) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		now := micros(db.now())
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET flags = ?, updated_at = ? WHERE folder_id = ? AND remote_id = ? AND expunged_at IS NULL AND flags <> ?`),
				c.Flags.Bits(), now, folderID, c.RemoteID, c.Flags.Bits()); err != nil {
				return err
			}
		}
		return db.writeCursor(ctx, tx, folderID, cur)
	})
}

// RemoveMessages marks messages gone from the server.
func (db *DB) RemoveMessages(ctx context.Context, f store.Fence, folderID int64, ids []string) (int, error) {
	n := 0
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		now := micros(db.now())
		for lo := 0; lo < len(ids); lo += 500 {
			hi := min(lo+500, len(ids))
			args := []any{now, folderID}
			for _, id := range ids[lo:hi] {
				args = append(args, id)
			}
			res, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET expunged_at = ? WHERE folder_id = ? AND expunged_at IS NULL AND remote_id IN (`+placeholders(hi-lo)+`)`), args...)
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

// RestartFolder clears a folder's cursor and starts a new epoch.
func (db *DB) RestartFolder(ctx context.Context, f store.Fence, folderID int64) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE mail_folders SET cursor = '', syncing = 1, epoch = epoch + 1, stale = 1 WHERE id = ?`), folderID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// ExpungeStale expunges a folder's messages of earlier epochs.
func (db *DB) ExpungeStale(ctx context.Context, f store.Fence, folderID int64) (int, error) {
	var n int64
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE messages SET expunged_at = ? WHERE folder_id = ? AND expunged_at IS NULL
			AND epoch < (SELECT epoch FROM mail_folders WHERE id = ?)`), micros(db.now()), folderID, folderID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE mail_folders SET stale = 0 WHERE id = ?`), folderID)
		return err
	})
	return int(n), err
}

// PendingFlags lists local flag changes to push.
func (db *DB) PendingFlags(ctx context.Context, accountID int64, limit int) ([]store.PendingFlag, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT m.id, m.folder_id, f.name, m.remote_id, m.pending_flags FROM messages m JOIN mail_folders f ON f.id = m.folder_id
		WHERE m.account_id = ? AND m.pending_flags >= 0 AND m.expunged_at IS NULL ORDER BY m.id LIMIT ?`), accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PendingFlag
	for rows.Next() {
		var p store.PendingFlag
		var bits int64
		if err := rows.Scan(&p.EmailID, &p.FolderID, &p.Folder, &p.RemoteID, &bits); err != nil {
			return nil, err
		}
		p.Flags = crm.FlagsFromBits(bits)
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

const emailListCols = `m.id, m.org_id, m.owner_id, m.account_id, m.folder_id, COALESCE(f.name, ''), m.remote_id, m.message_id, m.in_reply_to, m.refs, m.subject, m.sent_at,
	m.participants, m.truncated, m.attachments, m.warnings, m.flags, m.pending_flags, m.size, m.hash, m.created_at`

func scanEmail(sc interface{ Scan(...any) error }, extra ...any) (crm.Email, error) {
	var e crm.Email
	var folder sql.NullInt64
	var sent, flags, pending, created int64
	var inReply, refs, parts, atts, warns string
	var trunc int
	dest := append([]any{&e.ID, &e.OrgID, &e.OwnerID, &e.AccountID, &folder, &e.Folder, &e.RemoteID, &e.MessageID, &inReply, &refs, &e.Subject, &sent,
		&parts, &trunc, &atts, &warns, &flags, &pending, &e.Size, &e.Hash, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return e, err
	}
	e.FolderID = fromOptInt(folder)
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
	e.Links, err = db.emailLinks(ctx, q, v, e.ID)
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
