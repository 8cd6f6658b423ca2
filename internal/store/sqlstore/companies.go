package sqlstore

import (
	"context"
	"database/sql"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const companyCols = `id, org_id, name, owner_id, created_at, updated_at`

func scanCompany(sc interface{ Scan(...any) error }) (crm.Company, error) {
	var c crm.Company
	var created, updated int64
	err := sc.Scan(&c.ID, &c.OrgID, &c.Name, &c.OwnerID, &created, &updated)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.Domains = []string{}
	return c, err
}

// CreateCompany stores a new company owned by c.OwnerID (checked against v).
func (db *DB) CreateCompany(ctx context.Context, v crm.Viewer, c crm.Company) (crm.Company, error) {
	now := db.now()
	c.OrgID, c.CreatedAt, c.UpdatedAt = v.OrgID, now, now
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkOwner(ctx, tx, v, c.OwnerID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO companies (org_id, name, owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
			c.OrgID, c.Name, c.OwnerID, micros(now), micros(now)).Scan(&c.ID); err != nil {
			return err
		}
		if err := db.writeDomains(ctx, tx, c); err != nil {
			return err
		}
		return db.logCreate(ctx, tx, recordRef{c.OrgID, store.KindCompany, c.ID, c.OwnerID}, byUser(v))
	})
	if c.Domains == nil {
		c.Domains = []string{}
	}
	return c, err
}

func (db *DB) writeDomains(ctx context.Context, tx *sql.Tx, c crm.Company) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM company_domains WHERE company_id = ?`), c.ID); err != nil {
		return err
	}
	for i, d := range c.Domains {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO company_domains (company_id, org_id, domain, pos) VALUES (?, ?, ?, ?)`),
			c.ID, c.OrgID, d, i); err != nil {
			if db.d.IsUnique(err) {
				return &store.FieldError{Field: "domains", Code: "duplicate", Message: "lists the domain " + d + " twice"}
			}
			return err
		}
	}
	return nil
}

// loadDomains fills the domains of the given companies in one query.
func (db *DB) loadDomains(ctx context.Context, q queryer, cs []crm.Company) error {
	if len(cs) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(cs))
	ids := make([]int64, len(cs))
	for i, c := range cs {
		idx[c.ID], ids[i] = i, c.ID
	}
	rows, err := q.QueryContext(ctx, db.q(`SELECT company_id, domain FROM company_domains WHERE company_id IN (`+placeholders(len(ids))+`) ORDER BY company_id, pos`), int64Args(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var d string
		if err := rows.Scan(&id, &d); err != nil {
			return err
		}
		cs[idx[id]].Domains = append(cs[idx[id]].Domains, d)
	}
	return rows.Err()
}

func (db *DB) getCompany(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.Company, error) {
	c, err := getVisible(ctx, db, q, "companies", companyCols, v, id, lock, scanCompany)
	if err != nil {
		return c, err
	}
	cs := []crm.Company{c}
	err = db.loadDomains(ctx, q, cs)
	return cs[0], err
}

// GetCompany returns a company v may see.
func (db *DB) GetCompany(ctx context.Context, v crm.Viewer, id int64) (crm.Company, error) {
	return db.getCompany(ctx, db.r, v, id, "")
}

// UpdateCompany changes a company in one transaction.
func (db *DB) UpdateCompany(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Company) error) (crm.Company, error) {
	var out crm.Company
	err := db.tx(ctx, func(tx *sql.Tx) error {
		old, err := db.getCompany(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		c := old
		c.Domains = append([]string(nil), old.Domains...)
		owner := c.OwnerID
		if err := apply(&c); err != nil {
			return err
		}
		c.ID, c.OrgID = id, v.OrgID
		if c.OwnerID != owner {
			if err := db.checkOwner(ctx, tx, v, c.OwnerID); err != nil {
				return err
			}
		}
		c.UpdatedAt = db.now()
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE companies SET name = ?, owner_id = ?, updated_at = ? WHERE id = ?`),
			c.Name, c.OwnerID, micros(c.UpdatedAt), id); err != nil {
			return err
		}
		if c.Domains == nil {
			c.Domains = []string{}
		}
		out = c
		if err := db.writeDomains(ctx, tx, c); err != nil {
			return err
		}
		return db.logUpdate(ctx, tx, recordRef{c.OrgID, store.KindCompany, c.ID, c.OwnerID}, byUser(v), old, c)
	})
	return out, err
}

// DeleteCompany removes a company; its contacts and opportunities stay,
// without a company.
func (db *DB) DeleteCompany(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, store.KindCompany, id, crm.LinkCompany)
}

// deleteVisible deletes a record of a kind that v may see, writes it to
// its history, and removes its email links when lt names the kind of
// record emails link to ("" for tasks and events, which none do). Child
// rows go by ON DELETE CASCADE / SET NULL.
func (db *DB) deleteVisible(ctx context.Context, v crm.Viewer, kind store.RecordKind, id int64, lt crm.LinkType) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		old, owner, err := db.lockRecord(ctx, tx, v, kind, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM `+recordTables[kind]+` WHERE id = ? AND org_id = ?`), id, v.OrgID); err != nil {
			return err
		}
		if err := db.logDelete(ctx, tx, recordRef{v.OrgID, kind, id, owner}, byUser(v), old); err != nil {
			return err
		}
		if lt == "" {
			return nil
		}
		return db.unlinkDeleted(ctx, tx, v.OrgID, lt, id)
	})
}

// ListCompanies pages through the companies v may see.
func (db *DB) ListCompanies(ctx context.Context, v crm.Viewer, f store.CompanyFilter) (store.Page[crm.Company], error) {
	var w where
	visible(&w, v)
	if f.Q != "" {
		p := likePattern(f.Q)
		w.add(`(lower(name) LIKE ? ESCAPE '\' OR id IN (SELECT company_id FROM company_domains WHERE org_id = ? AND domain LIKE ? ESCAPE '\'))`, p, v.OrgID, p)
	}
	if f.Domain != "" {
		w.add(`id IN (SELECT company_id FROM company_domains WHERE org_id = ? AND domain = ?)`, v.OrgID, f.Domain)
	}
	if f.OwnerID != nil {
		w.add(`owner_id = ?`, *f.OwnerID)
	}
	page, err := listPage(ctx, db, `SELECT `+companyCols+` FROM companies`, w, f.ListParams, func(r *sql.Rows) (crm.Company, int64, error) {
		c, err := scanCompany(r)
		return c, c.ID, err
	})
	if err != nil {
		return page, err
	}
	return page, db.loadDomains(ctx, db.r, page.Items)
}
