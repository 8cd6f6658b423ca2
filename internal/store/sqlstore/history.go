package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// The record history (store.History) is written here, by the record
// writes, inside their transaction: a retried transaction rolls back its
// entries with the rest, so each attempt writes them afresh and a change
// is never logged twice or without its entries.

// author is who makes a change: a user (through the API) or a PIM
// account (the sync engine, on its owner's behalf).
type author struct {
	userID, accountID int64
}

// byUser is the author of a change made through the API by v.
func byUser(v crm.Viewer) author { return author{userID: v.UserID} }

// byAccount is the author of a change a PIM account's sync makes.
func byAccount(id int64) author { return author{accountID: id} }

func (a author) args() (user, account any) {
	if a.accountID != 0 {
		return nil, a.accountID
	}
	return a.userID, nil
}

// recordTables are the tables of the kinds of record with a history.
var recordTables = map[store.RecordKind]string{
	store.KindCompany:     "companies",
	store.KindContact:     "contacts",
	store.KindOpportunity: "opportunities",
	store.KindTask:        "tasks",
	store.KindEvent:       "events",
}

// historyEntry is an entry about to be written.
type historyEntry struct {
	action, field, note string
	old, new            *string
}

// ignoredFields are the JSON fields of a record that are not its content:
// identity, bookkeeping, and values derived from others (an event is
// all-day when its start is a date).
var ignoredFields = map[string]bool{"id": true, "org_id": true, "created_at": true, "updated_at": true, "all_day": true}

// diffRecords compares two versions of a record field by field, as the API
// shows them (their JSON), so that one function serves every kind of
// record and a field added to a type is in its history without a line
// here. An object-valued field (custom fields, an address) is compared key
// by key ("custom_fields.replaced_email_2024-05-01"). The changes come in
// the order of the field names.
func diffRecords(old, new any) ([]historyEntry, error) {
	o, err := flatJSON(old)
	if err != nil {
		return nil, err
	}
	n, err := flatJSON(new)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o)+len(n))
	for k := range o {
		names = append(names, k)
	}
	for k := range n {
		if _, ok := o[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []historyEntry
	for _, k := range names {
		ov, nv := o[k], n[k]
		if ov == nil && nv == nil || ov != nil && nv != nil && *ov == *nv {
			continue
		}
		out = append(out, historyEntry{action: store.HistoryUpdate, field: k, old: ov, new: nv})
	}
	return out, nil
}

// flatJSON returns a record's fields as text, objects spread one level
// ("address.city"); an empty value (null, "", [], {}) is nil.
func flatJSON(rec any) (map[string]*string, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	out := make(map[string]*string, len(fields))
	for k, raw := range fields {
		if ignoredFields[k] {
			continue
		}
		var sub map[string]json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) && json.Unmarshal(raw, &sub) == nil {
			for sk, sraw := range sub {
				out[k+"."+sk] = jsonText(sraw)
			}
			continue
		}
		out[k] = jsonText(raw)
	}
	return out, nil
}

// jsonText is a JSON value as a person reads it: a string as itself,
// anything else as compact JSON; nil when empty.
func jsonText(raw json.RawMessage) *string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return &s
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	switch t := buf.String(); t {
	case "null", "[]", "{}":
		return nil
	default:
		return &t
	}
}

// capValue cuts a value past store.MaxHistoryValue characters, saying how
// many were left out.
func capValue(s *string) *string {
	if s == nil || utf8.RuneCountInString(*s) <= store.MaxHistoryValue {
		return s
	}
	r := []rune(*s)
	out := string(r[:store.MaxHistoryValue]) + fmt.Sprintf("… [cut: %d more characters]", len(r)-store.MaxHistoryValue)
	return &out
}

// recordRef is the record a history write is about.
type recordRef struct {
	orgID   int64
	kind    store.RecordKind
	id      int64
	ownerID int64
}

// writeHistory adds entries to a record's history and, when it grew past
// store.MaxHistoryPerRecord, drops its oldest.
func (db *DB) writeHistory(ctx context.Context, tx *sql.Tx, ref recordRef, a author, es []historyEntry) error {
	if len(es) == 0 {
		return nil
	}
	if a.userID == 0 && a.accountID == 0 {
		return errors.New("sqlstore: a change to a record names no author (a PIM write without an account)")
	}
	user, account := a.args()
	at := micros(db.now())
	for _, e := range es {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO record_history (org_id, record_type, record_id, owner_id, changed_at, action, field,
			old_value, new_value, user_id, pim_account_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			ref.orgID, string(ref.kind), ref.id, ref.ownerID, at, e.action, e.field, capValue(e.old), capValue(e.new), user, account,
			*capValue(&e.note)); err != nil {
			return err
		}
	}
	if es[0].action == store.HistoryCreate {
		return nil // a new record has nothing to drop
	}
	_, err := tx.ExecContext(ctx, db.q(`DELETE FROM record_history WHERE org_id = ? AND record_type = ? AND record_id = ? AND id <= (
		SELECT id FROM record_history WHERE org_id = ? AND record_type = ? AND record_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`),
		ref.orgID, string(ref.kind), ref.id, ref.orgID, string(ref.kind), ref.id, store.MaxHistoryPerRecord)
	return err
}

// logCreate records a record's creation.
func (db *DB) logCreate(ctx context.Context, tx *sql.Tx, ref recordRef, a author) error {
	return db.writeHistory(ctx, tx, ref, a, []historyEntry{{action: store.HistoryCreate}})
}

// logUpdate records, field by field, what changed from old to new (both
// the same kind of crm record); nothing when nothing did.
func (db *DB) logUpdate(ctx context.Context, tx *sql.Tx, ref recordRef, a author, old, new any) error {
	es, err := diffRecords(old, new)
	if err != nil {
		return err
	}
	return db.writeHistory(ctx, tx, ref, a, es)
}

// logDelete records a deletion with the record as it was (its JSON), so
// that a deleted record's values stay findable.
func (db *DB) logDelete(ctx context.Context, tx *sql.Tx, ref recordRef, a author, old any) error {
	b, err := json.Marshal(old)
	if err != nil {
		return err
	}
	s := string(b)
	return db.writeHistory(ctx, tx, ref, a, []historyEntry{{action: store.HistoryDelete, old: &s}})
}

// conflictEntries are the history entries of sync conflicts: the value
// lost as old, the value kept as new, and a note naming the sides.
func conflictEntries(cs []pim.Conflict) []historyEntry {
	out := make([]historyEntry, 0, len(cs))
	for _, c := range cs {
		kept, lost := c.CRM, c.Remote
		if c.Winner == pim.SideRemote {
			kept, lost = c.Remote, c.CRM
		}
		k, l := kept.String(), lost.String()
		out = append(out, historyEntry{
			action: store.HistoryConflict, field: c.Field, old: optText(l), new: optText(k),
			note: fmt.Sprintf("conflict: kept %s (%s), lost %s (%s)", strconv.Quote(k), sideName(c.Winner), strconv.Quote(l), sideName(c.Winner.Other())),
		})
	}
	return out
}

// sideName names a side of a sync for a person.
func sideName(s pim.Side) string {
	if s == pim.SideRemote {
		return "the server's value"
	}
	return "the CRM's value"
}

func optText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// recordOwner returns the owner of a record of the organisation, whoever
// may see it; store.ErrNotFound when there is none.
func (db *DB) recordOwner(ctx context.Context, q queryer, orgID int64, kind store.RecordKind, id int64) (int64, error) {
	table, ok := recordTables[kind]
	if !ok {
		return 0, store.ErrNotFound
	}
	var owner int64
	err := q.QueryRowContext(ctx, db.q(`SELECT owner_id FROM `+table+` WHERE id = ? AND org_id = ?`), id, orgID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return owner, err
}

// RecordHistory pages through a record's history, newest first. A record
// that exists is readable by whoever may see it; a deleted one by whoever
// could see it when it was deleted (its owner then, their managers,
// admins).
func (db *DB) RecordHistory(ctx context.Context, v crm.Viewer, kind store.RecordKind, id int64, lp store.ListParams) (store.Page[store.HistoryEntry], error) {
	var page store.Page[store.HistoryEntry]
	table, ok := recordTables[kind]
	if !ok {
		return page, store.ErrNotFound
	}
	before, err := store.DecodeCursor(lp.Cursor)
	if err != nil {
		return page, err
	}
	var w where
	if _, err := db.recordOwner(ctx, db.r, v.OrgID, kind, id); err == nil {
		w.add(`id = ?`, id)
	} else if errors.Is(err, store.ErrNotFound) {
		table = "record_history"
		w.add(`record_type = ? AND record_id = ? AND action = ?`, string(kind), id, store.HistoryDelete)
	} else {
		return page, err
	}
	visible(&w, v)
	var one int
	err = db.r.QueryRowContext(ctx, db.q(`SELECT 1 FROM `+table+w.sql()+` LIMIT 1`), w.args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return page, store.ErrNotFound
	}
	if err != nil {
		return page, err
	}

	var h where
	h.add(`org_id = ? AND record_type = ? AND record_id = ?`, v.OrgID, string(kind), id)
	if before > 0 {
		h.add(`id < ?`, before)
	}
	limit := store.NormLimit(lp.Limit)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id, changed_at, action, field, old_value, new_value, user_id, pim_account_id, note
		FROM record_history`+h.sql()+` ORDER BY id DESC LIMIT ?`), append(h.args, limit+1)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	page.Items = make([]store.HistoryEntry, 0, limit)
	for rows.Next() {
		if len(page.Items) == limit {
			page.NextCursor = store.EncodeCursor(page.Items[limit-1].ID)
			break
		}
		e := store.HistoryEntry{RecordType: kind, RecordID: id}
		var at int64
		var old, new sql.NullString
		var user, account sql.NullInt64
		if err := rows.Scan(&e.ID, &at, &e.Action, &e.Field, &old, &new, &user, &account, &e.Note); err != nil {
			return page, err
		}
		e.At = fromMicros(at)
		if old.Valid {
			e.Old = &old.String
		}
		if new.Valid {
			e.New = &new.String
		}
		e.UserID, e.PIMAccountID = fromOptInt(user), fromOptInt(account)
		page.Items = append(page.Items, e)
	}
	return page, rows.Err()
}

// lockRecord reads a record of a kind that v may see, with the dialect's
// row lock, and its owner: what a deletion writes to the history.
func (db *DB) lockRecord(ctx context.Context, tx *sql.Tx, v crm.Viewer, kind store.RecordKind, id int64) (any, int64, error) {
	lock := db.d.ForUpdate
	switch kind {
	case store.KindCompany:
		r, err := db.getCompany(ctx, tx, v, id, lock)
		return r, r.OwnerID, err
	case store.KindContact:
		r, err := db.getContact(ctx, tx, v, id, lock)
		return r, r.OwnerID, err
	case store.KindOpportunity:
		r, err := db.getOpportunity(ctx, tx, v, id, lock)
		return r, r.OwnerID, err
	case store.KindTask:
		r, err := db.getTask(ctx, tx, v, id, lock)
		return r, r.OwnerID, err
	case store.KindEvent:
		r, err := db.getEvent(ctx, tx, v, id, lock)
		return r, r.OwnerID, err
	}
	return nil, 0, store.ErrNotFound
}

// logPIMConflicts writes the conflicts a PIM write carries to the history
// of the record it wrote (recType and recID; "" when none), or else of
// the record its mapping names.
func (db *DB) logPIMConflicts(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, w store.PIMWrite,
	recType pim.RecordType, recID, recOwner int64) error {
	if len(w.Conflicts) == 0 {
		return nil
	}
	if recType == "" {
		if w.Item == nil || w.Item.CRMID == 0 {
			return errors.New("sqlstore: a PIM write's conflicts name no record")
		}
		recType, recID = w.Item.RecordType, w.Item.CRMID
		owner, err := db.recordOwner(ctx, tx, v.OrgID, store.RecordKind(recType), recID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile: its deletion kept its values
		}
		if err != nil {
			return err
		}
		recOwner = owner
	}
	return db.writeHistory(ctx, tx, recordRef{v.OrgID, store.RecordKind(recType), recID, recOwner}, a, conflictEntries(w.Conflicts))
}
