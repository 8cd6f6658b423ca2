package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

const pimCollectionCols = `id, account_id, href, kind, display_name, sync_token, ctag`

func scanPIMCollection(sc interface{ Scan(...any) error }) (store.PIMCollection, error) {
	var c store.PIMCollection
	err := sc.Scan(&c.ID, &c.AccountID, &c.Href, &c.Kind, &c.DisplayName, &c.SyncToken, &c.CTag)
	return c, err
}

// PIMCollections lists an account's collections, by id.
func (db *DB) PIMCollections(ctx context.Context, accountID int64) ([]store.PIMCollection, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+pimCollectionCols+` FROM pim_collections WHERE account_id = ? ORDER BY id`), accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.PIMCollection{}
	for rows.Next() {
		c, err := scanPIMCollection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutPIMCollection inserts or updates a collection by (account, href,
// kind). The cursor (sync token and ctag, a pair) is replaced only when c
// carries one (either part not empty); otherwise the stored one stays.
func (db *DB) PutPIMCollection(ctx context.Context, f store.Fence, c store.PIMCollection) (store.PIMCollection, error) {
	var out store.PIMCollection
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		// INSERT … SELECT takes the organisation from the account (and
		// inserts nothing when there is no such account). The WHERE clause
		// also keeps SQLite from reading ON CONFLICT as a join constraint.
		var err error
		out, err = scanPIMCollection(tx.QueryRowContext(ctx, db.q(`INSERT INTO pim_collections (org_id, account_id, href, kind, display_name, sync_token, ctag)
			SELECT org_id, id, ?, ?, ?, ?, ? FROM pim_accounts WHERE id = ?
			ON CONFLICT (account_id, href, kind) DO UPDATE SET display_name = excluded.display_name,
				sync_token = CASE WHEN excluded.sync_token <> '' OR excluded.ctag <> '' THEN excluded.sync_token ELSE pim_collections.sync_token END,
				ctag = CASE WHEN excluded.sync_token <> '' OR excluded.ctag <> '' THEN excluded.ctag ELSE pim_collections.ctag END
			RETURNING `+pimCollectionCols),
			c.Href, c.Kind, c.DisplayName, c.SyncToken, c.CTag, c.AccountID))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	return out, err
}

// SetPIMCursor writes a collection's cursor.
func (db *DB) SetPIMCursor(ctx context.Context, f store.Fence, collectionID int64, syncToken, ctag string) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE pim_collections SET sync_token = ?, ctag = ? WHERE id = ?`), syncToken, ctag, collectionID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

const pimItemCols = `id, account_id, collection_id, record_type, crm_id, href, uid, etag, base, raw, crm_updated_at, tombstone_side, tombstoned_at, error`

func scanPIMItem(sc interface{ Scan(...any) error }) (store.PIMItem, error) {
	var it store.PIMItem
	var base string
	var raw []byte
	var crmUpdated int64
	var tomb sql.NullInt64
	err := sc.Scan(&it.ID, &it.AccountID, &it.CollectionID, &it.RecordType, &it.CRMID, &it.Href, &it.UID, &it.ETag, &base, &raw,
		&crmUpdated, &it.TombstoneSide, &tomb, &it.Error)
	if err != nil {
		return it, err
	}
	if base != "" {
		it.Base = []byte(base)
	}
	if len(raw) > 0 {
		it.Raw = raw
	}
	if crmUpdated != 0 {
		it.CRMUpdatedAt = fromMicros(crmUpdated)
	}
	it.TombstonedAt = fromOptMicros(tomb)
	return it, nil
}

// PIMItems returns every mapping of a collection, tombstones included, by
// id.
func (db *DB) PIMItems(ctx context.Context, collectionID int64) ([]store.PIMItem, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+pimItemCols+` FROM pim_items WHERE collection_id = ? ORDER BY id`), collectionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.PIMItem{}
	for rows.Next() {
		it, err := scanPIMItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// PIMItemStats counts an account's mappings in one grouped query and
// reads the first items in error.
func (db *DB) PIMItemStats(ctx context.Context, accountID int64, maxErrors int) (store.PIMStats, error) {
	st := store.PIMStats{Synced: map[pim.RecordType]int64{}}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT record_type,
		CASE WHEN tombstone_side <> '' THEN 't' WHEN crm_id = 0 OR href = '' THEN 'n' ELSE 's' END AS k,
		COUNT(*), SUM(CASE WHEN error <> '' THEN 1 ELSE 0 END)
		FROM pim_items WHERE account_id = ? GROUP BY record_type, k`), accountID)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, k string
		var n, errs int64
		if err := rows.Scan(&typ, &k, &n, &errs); err != nil {
			return st, err
		}
		st.Errors += errs
		switch k {
		case "t":
			st.Tombstoned += n
		case "n":
			st.NotImported += n
		default:
			st.Synced[pim.RecordType(typ)] += n
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	erows, err := db.r.QueryContext(ctx, db.q(`SELECT id, record_type, crm_id, href, error FROM pim_items
		WHERE account_id = ? AND error <> '' ORDER BY id LIMIT ?`), accountID, maxErrors)
	if err != nil {
		return st, err
	}
	defer erows.Close()
	for erows.Next() {
		it := store.PIMItem{AccountID: accountID}
		if err := erows.Scan(&it.ID, &it.RecordType, &it.CRMID, &it.Href, &it.Error); err != nil {
			return st, err
		}
		st.ItemErrors = append(st.ItemErrors, it)
	}
	return st, erows.Err()
}

// optMicrosZero is micros(t), 0 for the zero time (crm_updated_at is NOT
// NULL, 0 meaning never).
func optMicrosZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func optBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ApplyPIMWrite writes a CRM record and its mapping in one fenced
// transaction. The record goes through the same code as the API's writes
// (validation, visibility, child tables); a replacement is refused with
// store.ErrStale when the record changed since the engine read it. A
// mapping that would give a collection two items with the same href, or
// map one record twice in a collection, is refused with store.ErrConflict
// (the engine's mistake, not a user's: no FieldError), and then nothing
// is written.
func (db *DB) ApplyPIMWrite(ctx context.Context, f store.Fence, v crm.Viewer, w store.PIMWrite) (store.PIMWrite, error) {
	out, err := db.ApplyPIMWrites(ctx, f, v, []store.PIMWrite{w})
	if err != nil {
		return store.PIMWrite{}, err
	}
	return out[0], nil
}

// ApplyPIMWrites makes several writes in one fenced transaction: all or
// none. A first sync imports thousands of records; one commit per record
// would make it as slow as the database's fsync.
func (db *DB) ApplyPIMWrites(ctx context.Context, f store.Fence, v crm.Viewer, ws []store.PIMWrite) ([]store.PIMWrite, error) {
	for _, w := range ws {
		n := 0
		for _, set := range []bool{w.Contact != nil, w.Task != nil, w.Event != nil} {
			if set {
				n++
			}
		}
		if n > 1 {
			return nil, errors.New("sqlstore: a PIM write holds at most one of contact, task and event")
		}
	}
	var outs []store.PIMWrite
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		outs = make([]store.PIMWrite, len(ws))
		var evs []webhookEvent
		for i, w := range ws {
			out, err := db.applyPIMWrite(ctx, tx, v, w)
			if err != nil {
				return err
			}
			outs[i] = out
			if ev, ok := pimSynced(w, out); ok {
				evs = append(evs, ev)
			}
		}
		return db.recordEvents(ctx, tx, v.OrgID, evs)
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

func (db *DB) applyPIMWrite(ctx context.Context, tx *sql.Tx, v crm.Viewer, w store.PIMWrite) (store.PIMWrite, error) {
	var out store.PIMWrite
	var it *store.PIMItem
	if w.Item != nil {
		cp := *w.Item
		it = &cp
		if err := db.checkPIMItemCollection(ctx, tx, v, it); err != nil {
			return out, err
		}
	}
	// The author of the record's change, for its history: the account
	// the write names, or else the one its mapping belongs to.
	a := byAccount(w.AccountID)
	if a.accountID == 0 && it != nil {
		a = byAccount(it.AccountID)
	}
	var (
		recType    pim.RecordType
		recID      int64
		recOwner   int64
		recUpdated time.Time
	)
	switch {
	case w.Contact != nil:
		c, err := db.pimWriteContact(ctx, tx, v, a, *w.Contact)
		if err != nil {
			return out, err
		}
		out.Contact = &c
		recType, recID, recOwner, recUpdated = pim.RecordContact, c.ID, c.OwnerID, c.UpdatedAt
	case w.Task != nil:
		t, err := db.pimWriteTask(ctx, tx, v, a, *w.Task)
		if err != nil {
			return out, err
		}
		out.Task = &t
		recType, recID, recOwner, recUpdated = pim.RecordTask, t.ID, t.OwnerID, t.UpdatedAt
	case w.Event != nil:
		e, err := db.pimWriteEvent(ctx, tx, v, a, *w.Event)
		if err != nil {
			return out, err
		}
		out.Event = &e
		recType, recID, recOwner, recUpdated = pim.RecordEvent, e.ID, e.OwnerID, e.UpdatedAt
	}
	if err := db.logPIMConflicts(ctx, tx, v, a, w, recType, recID, recOwner); err != nil {
		return out, err
	}
	if it == nil {
		return out, nil
	}
	if recType != "" {
		if it.RecordType == "" {
			it.RecordType = recType
		} else if it.RecordType != recType {
			return out, fmt.Errorf("sqlstore: PIM write of a %s mapped as a %s", recType, it.RecordType)
		}
		it.CRMID = recID
		if !w.Pending {
			it.CRMUpdatedAt = recUpdated
		}
	}
	if err := db.putPIMItem(ctx, tx, v.OrgID, it); err != nil {
		return out, err
	}
	out.Item = it
	return out, nil
}

// checkPIMItemCollection verifies that the item's collection is one of v's
// organisation and fills the item's account from it.
func (db *DB) checkPIMItemCollection(ctx context.Context, tx *sql.Tx, v crm.Viewer, it *store.PIMItem) error {
	var org, account int64
	err := tx.QueryRowContext(ctx, db.q(`SELECT org_id, account_id FROM pim_collections WHERE id = ?`), it.CollectionID).Scan(&org, &account)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && org != v.OrgID) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if it.AccountID != 0 && it.AccountID != account {
		return fmt.Errorf("sqlstore: PIM item of account %d in a collection of account %d", it.AccountID, account)
	}
	it.AccountID = account
	return nil
}

// putPIMItem inserts (ID 0) or replaces a mapping, every column.
func (db *DB) putPIMItem(ctx context.Context, tx *sql.Tx, orgID int64, it *store.PIMItem) error {
	args := []any{it.AccountID, it.CollectionID, it.RecordType, it.CRMID, it.Href, it.UID, it.ETag, string(it.Base), optBytes(it.Raw),
		optMicrosZero(it.CRMUpdatedAt), it.TombstoneSide, optMicros(it.TombstonedAt), it.Error}
	var err error
	if it.ID == 0 {
		err = tx.QueryRowContext(ctx, db.q(`INSERT INTO pim_items (account_id, collection_id, record_type, crm_id, href, uid, etag, base, raw,
			crm_updated_at, tombstone_side, tombstoned_at, error, org_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			append(args, orgID)...).Scan(&it.ID)
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, db.q(`UPDATE pim_items SET account_id = ?, collection_id = ?, record_type = ?, crm_id = ?, href = ?, uid = ?, etag = ?,
			base = ?, raw = ?, crm_updated_at = ?, tombstone_side = ?, tombstoned_at = ?, error = ? WHERE id = ? AND org_id = ?`),
			append(args, it.ID, orgID)...)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrNotFound
			}
		}
	}
	if err != nil && db.d.IsUnique(err) {
		return fmt.Errorf("%w: a PIM item with this href or record is already in this collection", store.ErrConflict)
	}
	if err == nil {
		// What the database keeps.
		if it.TombstonedAt != nil {
			t := it.TombstonedAt.UTC().Truncate(time.Microsecond)
			it.TombstonedAt = &t
		}
		if !it.CRMUpdatedAt.IsZero() {
			it.CRMUpdatedAt = it.CRMUpdatedAt.UTC().Truncate(time.Microsecond)
		}
		if len(it.Base) == 0 {
			it.Base = nil
		}
		if len(it.Raw) == 0 {
			it.Raw = nil
		}
	}
	return err
}

// PIMRecordOutcomes returns, per contact of the organisation, the statuses
// of the opportunities it is on or that belong to its company, each
// opportunity once, by opportunity id.
func (db *DB) PIMRecordOutcomes(ctx context.Context, orgID int64) (map[int64][]crm.OpportunityStatus, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT contact_id, opportunity_id, status FROM (
			SELECT oc.contact_id AS contact_id, o.id AS opportunity_id, o.status AS status
			FROM opportunity_contacts oc JOIN opportunities o ON o.id = oc.opportunity_id
			WHERE oc.org_id = ? AND o.org_id = ?
			UNION
			SELECT c.id, o.id, o.status
			FROM contacts c JOIN opportunities o ON o.company_id = c.company_id
			WHERE c.org_id = ? AND o.org_id = ?
		) x ORDER BY contact_id, opportunity_id`), orgID, orgID, orgID, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]crm.OpportunityStatus{}
	for rows.Next() {
		var contact, opp int64
		var st crm.OpportunityStatus
		if err := rows.Scan(&contact, &opp, &st); err != nil {
			return nil, err
		}
		out[contact] = append(out[contact], st)
	}
	return out, rows.Err()
}

// pimSyncedData is the data of contact.synced, task.synced and
// event.synced: a record written by a sync (CRMChanged), or its mapping to
// the remote item brought up to date (the record sent to the server).
type pimSyncedData struct {
	RecordID     int64  `json:"record_id"`
	PIMAccountID int64  `json:"pim_account_id,omitempty"`
	CollectionID int64  `json:"collection_id,omitempty"`
	CRMChanged   bool   `json:"crm_changed"`
	Pending      bool   `json:"pending,omitempty"`
	Href         string `json:"href,omitempty"`
}

// pimSynced is the event of one PIM write, if it concerns a record.
func pimSynced(w store.PIMWrite, out store.PIMWrite) (webhookEvent, bool) {
	d := pimSyncedData{PIMAccountID: w.AccountID, Pending: w.Pending}
	var rt pim.RecordType
	switch {
	case out.Contact != nil:
		rt, d.RecordID, d.CRMChanged = pim.RecordContact, out.Contact.ID, true
	case out.Task != nil:
		rt, d.RecordID, d.CRMChanged = pim.RecordTask, out.Task.ID, true
	case out.Event != nil:
		rt, d.RecordID, d.CRMChanged = pim.RecordEvent, out.Event.ID, true
	case out.Item != nil && out.Item.CRMID != 0:
		rt, d.RecordID = out.Item.RecordType, out.Item.CRMID
	default:
		return webhookEvent{}, false
	}
	if out.Item != nil {
		d.CollectionID, d.Href = out.Item.CollectionID, out.Item.Href
		if d.PIMAccountID == 0 {
			d.PIMAccountID = out.Item.AccountID
		}
	}
	typ := map[pim.RecordType]string{pim.RecordContact: store.EventContactSynced, pim.RecordTask: store.EventTaskSynced, pim.RecordEvent: store.EventEventSynced}[rt]
	if typ == "" {
		return webhookEvent{}, false
	}
	return webhookEvent{Type: typ, Data: d}, true
}
