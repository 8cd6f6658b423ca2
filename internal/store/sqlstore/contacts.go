package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const contactCols = `id, org_id, first_name, last_name, phones, company_id, owner_id, lifecycle, title, notes, address, categories, custom_fields, created_at, updated_at`

func scanContact(sc interface{ Scan(...any) error }) (crm.Contact, error) {
	var c crm.Contact
	var phones, address, categories, custom string
	var company sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&c.ID, &c.OrgID, &c.FirstName, &c.LastName, &phones, &company, &c.OwnerID, &c.Lifecycle,
		&c.Title, &c.Notes, &address, &categories, &custom, &created, &updated); err != nil {
		return c, err
	}
	if address != "" {
		if err := json.Unmarshal([]byte(address), &c.Address); err != nil {
			return c, err
		}
	}
	if err := json.Unmarshal([]byte(categories), &c.Categories); err != nil {
		return c, err
	}
	if c.Categories == nil {
		c.Categories = []string{}
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

// contactJSON fills c's nil collections, normalizes its categories and
// returns the values of its JSON columns (address is "" when zero).
func contactJSON(c *crm.Contact) (phones, address, categories, custom string) {
	if c.Phones == nil {
		c.Phones = []string{}
	}
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	if c.Emails == nil {
		c.Emails = []string{}
	}
	c.Categories = normCategories(c.Categories)
	p, _ := json.Marshal(c.Phones)
	m, _ := json.Marshal(c.CustomFields)
	if !c.Address.IsZero() {
		a, _ := json.Marshal(c.Address)
		address = string(a)
	}
	return string(p), address, jsonList(c.Categories), string(m)
}

// normCategories trims categories and drops the empty ones and those equal,
// ignoring case, to one before them; the order is kept. It never returns
// nil.
func normCategories(cs []string) []string {
	out := make([]string, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		c = strings.TrimSpace(c)
		k := strings.ToLower(c)
		if c == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, c)
	}
	return out
}

// jsonList returns the JSON of a list, "[]" for nil.
func jsonList[T any](xs []T) string {
	if xs == nil {
		return "[]"
	}
	b, _ := json.Marshal(xs)
	return string(b)
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
	var out crm.Contact
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.createContactTx(ctx, tx, v, byUser(v), c)
		return err
	})
	return out, err
}

// createContactTx is CreateContact inside tx (also the PIM sync's writes).
// a is who makes the change, for the record's history.
func (db *DB) createContactTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, c crm.Contact) (crm.Contact, error) {
	now := db.now()
	c.OrgID, c.CreatedAt, c.UpdatedAt = v.OrgID, now, now
	phones, address, categories, custom := contactJSON(&c)
	if err := db.checkContactRefs(ctx, tx, v, c, crm.Contact{}, true); err != nil {
		return c, err
	}
	if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO contacts (org_id, first_name, last_name, phones, company_id, owner_id, lifecycle, title, notes, address, categories, custom_fields, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		c.OrgID, c.FirstName, c.LastName, phones, optInt(c.CompanyID), c.OwnerID, string(c.Lifecycle),
		c.Title, c.Notes, address, categories, custom, micros(now), micros(now)).Scan(&c.ID); err != nil {
		return c, err
	}
	if err := db.writeEmails(ctx, tx, c); err != nil {
		return c, err
	}
	return c, db.logCreate(ctx, tx, recordRef{c.OrgID, store.KindContact, c.ID, c.OwnerID}, a)
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
	c, err := getVisible(ctx, db, q, "contacts", contactCols, v, id, lock, scanContact)
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
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.updateContactTx(ctx, tx, v, byUser(v), id, apply)
		return err
	})
	return out, err
}

// updateContactTx is UpdateContact inside tx (also the PIM sync's writes):
// it reads the contact with the dialect's row lock, lets apply change it
// and writes it back.
func (db *DB) updateContactTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, id int64, apply func(*crm.Contact) error) (crm.Contact, error) {
	old, err := db.getContact(ctx, tx, v, id, db.d.ForUpdate)
	if err != nil {
		return old, err
	}
	c := old
	c.Emails = append([]string(nil), old.Emails...)
	c.Phones = append([]string(nil), old.Phones...)
	c.Categories = append([]string(nil), old.Categories...)
	c.CustomFields = make(map[string]string, len(old.CustomFields))
	for k, val := range old.CustomFields {
		c.CustomFields[k] = val
	}
	if err := apply(&c); err != nil {
		return old, err
	}
	c.ID, c.OrgID, c.CreatedAt = id, v.OrgID, old.CreatedAt
	if err := db.checkContactRefs(ctx, tx, v, c, old, false); err != nil {
		return old, err
	}
	c.UpdatedAt = db.now()
	phones, address, categories, custom := contactJSON(&c)
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE contacts SET first_name = ?, last_name = ?, phones = ?, company_id = ?, owner_id = ?, lifecycle = ?,
		title = ?, notes = ?, address = ?, categories = ?, custom_fields = ?, updated_at = ? WHERE id = ?`),
		c.FirstName, c.LastName, phones, optInt(c.CompanyID), c.OwnerID, string(c.Lifecycle),
		c.Title, c.Notes, address, categories, custom, micros(c.UpdatedAt), id); err != nil {
		return old, err
	}
	if err := db.writeEmails(ctx, tx, c); err != nil {
		return old, err
	}
	return c, db.logUpdate(ctx, tx, recordRef{c.OrgID, store.KindContact, c.ID, c.OwnerID}, a, old, c)
}

// DeleteContact removes a contact; it leaves the opportunities it was on.
func (db *DB) DeleteContact(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, store.KindContact, id, crm.LinkContact)
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
