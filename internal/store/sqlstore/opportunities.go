package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const opportunityCols = `id, org_id, name, company_id, owner_id, status, amount, currency, created_at, updated_at`

func scanOpportunity(sc interface{ Scan(...any) error }) (crm.Opportunity, error) {
	var o crm.Opportunity
	var company sql.NullInt64
	var amount sql.NullString
	var created, updated int64
	if err := sc.Scan(&o.ID, &o.OrgID, &o.Name, &company, &o.OwnerID, &o.Status, &amount, &o.Currency, &created, &updated); err != nil {
		return o, err
	}
	o.CompanyID = fromOptInt(company)
	if amount.Valid {
		d := crm.Decimal(amount.String)
		o.Amount = &d
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	o.ContactIDs = []int64{}
	return o, nil
}

func optDecimal(d *crm.Decimal) any {
	if d == nil || *d == "" {
		return nil
	}
	return string(*d)
}

func (db *DB) checkOpportunityRefs(ctx context.Context, tx *sql.Tx, v crm.Viewer, o, old crm.Opportunity, isNew bool) error {
	if isNew || o.OwnerID != old.OwnerID {
		if err := db.checkOwner(ctx, tx, v, o.OwnerID); err != nil {
			return err
		}
	}
	if o.CompanyID != nil && (isNew || old.CompanyID == nil || *old.CompanyID != *o.CompanyID) {
		if err := db.checkVisibleRef(ctx, tx, v, "companies", *o.CompanyID, "company_id", "company"); err != nil {
			return err
		}
	}
	had := map[int64]bool{}
	for _, id := range old.ContactIDs {
		had[id] = true
	}
	for i, id := range o.ContactIDs {
		if had[id] {
			continue
		}
		if err := db.checkVisibleRef(ctx, tx, v, "contacts", id, fmt.Sprintf("contact_ids[%d]", i), "contact"); err != nil {
			return err
		}
	}
	return nil
}

// CreateOpportunity stores a new opportunity.
func (db *DB) CreateOpportunity(ctx context.Context, v crm.Viewer, o crm.Opportunity) (crm.Opportunity, error) {
	now := db.now()
	o.OrgID, o.CreatedAt, o.UpdatedAt = v.OrgID, now, now
	if o.ContactIDs == nil {
		o.ContactIDs = []int64{}
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkOpportunityRefs(ctx, tx, v, o, crm.Opportunity{}, true); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO opportunities (org_id, name, company_id, owner_id, status, amount, currency, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			o.OrgID, o.Name, optInt(o.CompanyID), o.OwnerID, string(o.Status), optDecimal(o.Amount), o.Currency, micros(now), micros(now)).Scan(&o.ID); err != nil {
			return err
		}
		if err := db.writeOpportunityContacts(ctx, tx, o); err != nil {
			return err
		}
		return db.logCreate(ctx, tx, recordRef{o.OrgID, store.KindOpportunity, o.ID, o.OwnerID}, byUser(v))
	})
	return o, err
}

func (db *DB) writeOpportunityContacts(ctx context.Context, tx *sql.Tx, o crm.Opportunity) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM opportunity_contacts WHERE opportunity_id = ?`), o.ID); err != nil {
		return err
	}
	for i, id := range o.ContactIDs {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO opportunity_contacts (opportunity_id, contact_id, org_id, pos) VALUES (?, ?, ?, ?)`),
			o.ID, id, o.OrgID, i); err != nil {
			if db.d.IsUnique(err) {
				return &store.FieldError{Field: "contact_ids", Code: "duplicate", Message: fmt.Sprintf("lists contact %d twice", id)}
			}
			return err
		}
	}
	return nil
}

func (db *DB) loadOpportunityContacts(ctx context.Context, q queryer, os []crm.Opportunity) error {
	if len(os) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(os))
	ids := make([]int64, len(os))
	for i, o := range os {
		idx[o.ID], ids[i] = i, o.ID
	}
	rows, err := q.QueryContext(ctx, db.q(`SELECT opportunity_id, contact_id FROM opportunity_contacts WHERE opportunity_id IN (`+placeholders(len(ids))+`) ORDER BY opportunity_id, pos`), int64Args(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid, cid int64
		if err := rows.Scan(&oid, &cid); err != nil {
			return err
		}
		os[idx[oid]].ContactIDs = append(os[idx[oid]].ContactIDs, cid)
	}
	return rows.Err()
}

func (db *DB) getOpportunity(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.Opportunity, error) {
	o, err := getVisible(ctx, db, q, "opportunities", opportunityCols, v, id, lock, scanOpportunity)
	if err != nil {
		return o, err
	}
	os := []crm.Opportunity{o}
	err = db.loadOpportunityContacts(ctx, q, os)
	return os[0], err
}

// GetOpportunity returns an opportunity v may see.
func (db *DB) GetOpportunity(ctx context.Context, v crm.Viewer, id int64) (crm.Opportunity, error) {
	return db.getOpportunity(ctx, db.r, v, id, "")
}

// UpdateOpportunity changes an opportunity in one transaction.
func (db *DB) UpdateOpportunity(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Opportunity) error) (crm.Opportunity, error) {
	var out crm.Opportunity
	err := db.tx(ctx, func(tx *sql.Tx) error {
		old, err := db.getOpportunity(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		o := old
		o.ContactIDs = append([]int64(nil), old.ContactIDs...)
		if err := apply(&o); err != nil {
			return err
		}
		o.ID, o.OrgID, o.CreatedAt = id, v.OrgID, old.CreatedAt
		if o.ContactIDs == nil {
			o.ContactIDs = []int64{}
		}
		if err := db.checkOpportunityRefs(ctx, tx, v, o, old, false); err != nil {
			return err
		}
		o.UpdatedAt = db.now()
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE opportunities SET name = ?, company_id = ?, owner_id = ?, status = ?, amount = ?, currency = ?, updated_at = ? WHERE id = ?`),
			o.Name, optInt(o.CompanyID), o.OwnerID, string(o.Status), optDecimal(o.Amount), o.Currency, micros(o.UpdatedAt), id); err != nil {
			return err
		}
		out = o
		if err := db.writeOpportunityContacts(ctx, tx, o); err != nil {
			return err
		}
		return db.logUpdate(ctx, tx, recordRef{o.OrgID, store.KindOpportunity, o.ID, o.OwnerID}, byUser(v), old, o)
	})
	return out, err
}

// DeleteOpportunity removes an opportunity.
func (db *DB) DeleteOpportunity(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, store.KindOpportunity, id, crm.LinkOpportunity)
}

// ListOpportunities pages through the opportunities v may see.
func (db *DB) ListOpportunities(ctx context.Context, v crm.Viewer, f store.OpportunityFilter) (store.Page[crm.Opportunity], error) {
	var w where
	visible(&w, v)
	if f.Q != "" {
		w.add(`lower(name) LIKE ? ESCAPE '\'`, likePattern(f.Q))
	}
	if f.CompanyID != nil {
		w.add(`company_id = ?`, *f.CompanyID)
	}
	if f.ContactID != nil {
		w.add(`id IN (SELECT opportunity_id FROM opportunity_contacts WHERE contact_id = ?)`, *f.ContactID)
	}
	if f.OwnerID != nil {
		w.add(`owner_id = ?`, *f.OwnerID)
	}
	if f.Status != "" {
		w.add(`status = ?`, string(f.Status))
	}
	page, err := listPage(ctx, db, `SELECT `+opportunityCols+` FROM opportunities`, w, f.ListParams, func(r *sql.Rows) (crm.Opportunity, int64, error) {
		o, err := scanOpportunity(r)
		return o, o.ID, err
	})
	if err != nil {
		return page, err
	}
	return page, db.loadOpportunityContacts(ctx, db.r, page.Items)
}
