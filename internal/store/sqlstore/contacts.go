package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const contactCols = `id, org_id, first_name, last_name, phones, company_id, owner_id, lifecycle, custom_fields, created_at, updated_at`

func scanContact(sc interface{ Scan(...any) error }) (crm.Contact, error) {
	var c crm.Contact
	var phones, custom string
	var company sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&c.ID, &c.OrgID, &c.FirstName, &c.LastName, &phones, &company, &c.OwnerID, &c.Lifecycle, &custom, &created, &updated); err != nil {
		return c, err
	}
	c.CompanyID = fromOptInt(company)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.Emails = []string{}
	if err := json.Unmarshal([]byte(phones), &c.Phones); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(custom), &c.CustomFields); err != nil {
		return c, err
	}
	if c.Phones == nil {
		c.Phones = []string{}
	}
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	return c, nil
}

func contactJSON(c *crm.Contact) (phones, custom string) {
	if c.Phones == nil {
		c.Phones = []string{}
	}
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	if c.Emails == nil {
		c.Emails = []string{}
	}
	p, _ := json.Marshal(c.Phones)
	m, _ := json.Marshal(c.CustomFields)
	return string(p), string(m)
}

// checkContactRefs verifies owner and company of a contact being written.
func (db *DB) checkContactRefs(ctx context.Context, tx *sql.Tx, v crm.Viewer, c, old crm.Contact, isNew bool) error {
	if isNew || c.OwnerID != old.OwnerID {
		if err := db.checkOwner(ctx, tx, v, c.OwnerID); err != nil {
			return err
		}
	}
	if c.CompanyID != nil && (isNew || old.CompanyID == nil || *old.CompanyID != *c.CompanyID) {
		return db.checkVisibleRef(ctx, tx, v, "companies", *c.CompanyID, "company_id", "company")
	}
	return nil
}

// CreateContact stores a new contact.
func (db *DB) CreateContact(ctx context.Context, v crm.Viewer, c crm.Contact) (crm.Contact, error) {
	now := db.now()
	c.OrgID, c.CreatedAt, c.UpdatedAt = v.OrgID, now, now
	phones, custom := contactJSON(&c)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkContactRefs(ctx, tx, v, c, crm.Contact{}, true); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO contacts (org_id, first_name, last_name, phones, company_id, owner_id, lifecycle, custom_fields, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			c.OrgID, c.FirstName, c.LastName, phones, optInt(c.CompanyID), c.OwnerID, string(c.Lifecycle), custom, micros(now), micros(now)).Scan(&c.ID); err != nil {
			return err
		}
		return db.writeEmails(ctx, tx, c)
	})
	return c, err
}

func (db *DB) writeEmails(ctx context.Context, tx *sql.Tx, c crm.Contact) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM contact_emails WHERE contact_id = ?`), c.ID); err != nil {
		return err
	}
	for i, e := range c.Emails {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO contact_emails (contact_id, org_id, email, pos) VALUES (?, ?, ?, ?)`),
			c.ID, c.OrgID, strings.ToLower(e), i); err != nil {
			if db.d.IsUnique(err) {
				return &store.FieldError{Field: "emails", Code: "duplicate", Message: "lists the address " + e + " twice"}
			}
			return err
		}
	}
	return nil
}

func (db *DB) loadEmails(ctx context.Context, q queryer, cs []crm.Contact) error {
	if len(cs) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(cs))
	ids := make([]int64, len(cs))
	for i, c := range cs {
		idx[c.ID], ids[i] = i, c.ID
	}
	rows, err := q.QueryContext(ctx, db.q(`SELECT contact_id, email FROM contact_emails WHERE contact_id IN (`+placeholders(len(ids))+`) ORDER BY contact_id, pos`), int64Args(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var e string
		if err := rows.Scan(&id, &e); err != nil {
			return err
		}
		cs[idx[id]].Emails = append(cs[idx[id]].Emails, e)
	}
	return rows.Err()
}

func (db *DB) getContact(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.Contact, error) {
	var w where
	w.add(`id = ?`, id)
	visible(&w, v)
	c, err := scanContact(q.QueryRowContext(ctx, db.q(`SELECT `+contactCols+` FROM contacts`+w.sql()+lock), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	cs := []crm.Contact{c}
	err = db.loadEmails(ctx, q, cs)
	return cs[0], err
}

// GetContact returns a contact v may see.
func (db *DB) GetContact(ctx context.Context, v crm.Viewer, id int64) (crm.Contact, error) {
	return db.getContact(ctx, db.r, v, id, "")
}

// UpdateContact changes a contact in one transaction.
func (db *DB) UpdateContact(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Contact) error) (crm.Contact, error) {
	var out crm.Contact
	err := db.tx(ctx, func(tx *sql.Tx) error {
		old, err := db.getContact(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		c := old
		c.Emails = append([]string(nil), old.Emails...)
		c.Phones = append([]string(nil), old.Phones...)
		c.CustomFields = make(map[string]string, len(old.CustomFields))
		for k, val := range old.CustomFields {
			c.CustomFields[k] = val
		}
		if err := apply(&c); err != nil {
			return err
		}
		c.ID, c.OrgID, c.CreatedAt = id, v.OrgID, old.CreatedAt
		if err := db.checkContactRefs(ctx, tx, v, c, old, false); err != nil {
			return err
		}
		c.UpdatedAt = db.now()
		phones, custom := contactJSON(&c)
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE contacts SET first_name = ?, last_name = ?, phones = ?, company_id = ?, owner_id = ?, lifecycle = ?, custom_fields = ?, updated_at = ? WHERE id = ?`),
			c.FirstName, c.LastName, phones, optInt(c.CompanyID), c.OwnerID, string(c.Lifecycle), custom, micros(c.UpdatedAt), id); err != nil {
			return err
		}
		out = c
		return db.writeEmails(ctx, tx, c)
	})
	return out, err
}

// DeleteContact removes a contact; it leaves the opportunities it was on.
func (db *DB) DeleteContact(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, "contacts", id, crm.LinkContact)
}

// ListContacts pages through the contacts v may see.
func (db *DB) ListContacts(ctx context.Context, v crm.Viewer, f store.ContactFilter) (store.Page[crm.Contact], error) {
	var w where
	visible(&w, v)
	if f.Q != "" {
		p := likePattern(f.Q)
		w.add(`(lower(first_name) LIKE ? ESCAPE '\' OR lower(last_name) LIKE ? ESCAPE '\' OR lower(first_name || ' ' || last_name) LIKE ? ESCAPE '\'
			OR id IN (SELECT contact_id FROM contact_emails WHERE org_id = ? AND email LIKE ? ESCAPE '\'))`, p, p, p, v.OrgID, p)
	}
	if f.Email != "" {
		w.add(`id IN (SELECT contact_id FROM contact_emails WHERE org_id = ? AND email = ?)`, v.OrgID, f.Email)
	}
	if f.CompanyID != nil {
		w.add(`company_id = ?`, *f.CompanyID)
	}
	if f.OwnerID != nil {
		w.add(`owner_id = ?`, *f.OwnerID)
	}
	if f.Lifecycle != "" {
		w.add(`lifecycle = ?`, string(f.Lifecycle))
	}
	page, err := listPage(ctx, db, `SELECT `+contactCols+` FROM contacts`, w, f.ListParams, func(r *sql.Rows) (crm.Contact, int64, error) {
		c, err := scanContact(r)
		return c, c.ID, err
	})
	if err != nil {
		return page, err
	}
	return page, db.loadEmails(ctx, db.r, page.Items)
}
