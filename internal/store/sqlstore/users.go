package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// CreateOrg creates an organisation, its admin and the admin's first API
// token in one transaction.
func (db *DB) CreateOrg(ctx context.Context, p store.CreateOrgParams) (org crm.Org, admin crm.User, tok crm.Token, err error) {
	now := db.now()
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if p.RequireEmpty {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM orgs`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return store.ErrAlreadyInitialized
			}
		}
		org = crm.Org{Name: p.Name, CreatedAt: now}
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO orgs (name, created_at) VALUES (?, ?) RETURNING id`),
			p.Name, micros(now)).Scan(&org.ID); err != nil {
			return err
		}
		var err error
		admin, err = db.insertUser(ctx, tx, org.ID, store.UserParams{
			Email: p.AdminEmail, Name: p.AdminName, Role: crm.RoleAdmin, PasswordHash: p.AdminPasswordHash,
		}, now)
		if err != nil {
			return err
		}
		tok, err = db.insertToken(ctx, tx, store.TokenParams{
			OrgID: org.ID, UserID: admin.ID, Name: p.TokenName, Kind: crm.TokenAPI,
			Hash: p.TokenHash, Prefix: p.TokenPrefix, CreatedAt: now,
		})
		return err
	})
	return org, admin, tok, err
}

// GetOrg returns an organisation.
func (db *DB) GetOrg(ctx context.Context, orgID int64) (crm.Org, error) {
	var o crm.Org
	var created int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, name, created_at FROM orgs WHERE id = ?`), orgID).Scan(&o.ID, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return o, store.ErrNotFound
	}
	o.CreatedAt = fromMicros(created)
	return o, err
}

const userCols = `id, org_id, email, name, role, manager_id, deactivated_at, created_at, updated_at, language`

func scanUser(sc interface{ Scan(...any) error }, extra ...any) (crm.User, error) {
	var u crm.User
	var mgr, deactivated sql.NullInt64
	var created, updated int64
	dest := append([]any{&u.ID, &u.OrgID, &u.Email, &u.Name, &u.Role, &mgr, &deactivated, &created, &updated, &u.Language}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return u, err
	}
	u.ManagerID = fromOptInt(mgr)
	if deactivated.Valid {
		at := fromMicros(deactivated.Int64)
		u.DeactivatedAt = &at
	}
	u.Active = u.DeactivatedAt == nil
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

func (db *DB) insertUser(ctx context.Context, tx *sql.Tx, orgID int64, p store.UserParams, now time.Time) (crm.User, error) {
	p.Email = strings.ToLower(strings.TrimSpace(p.Email))
	if p.ManagerID != nil {
		if err := db.checkUserRef(ctx, tx, orgID, *p.ManagerID, "manager_id"); err != nil {
			return crm.User{}, err
		}
	}
	u := crm.User{OrgID: orgID, Email: p.Email, Name: p.Name, Role: p.Role, ManagerID: p.ManagerID, Language: p.Language, Active: true, CreatedAt: now, UpdatedAt: now}
	err := tx.QueryRowContext(ctx, db.q(`INSERT INTO users (org_id, email, name, role, manager_id, password_hash, created_at, updated_at, language)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		orgID, p.Email, p.Name, string(p.Role), optInt(p.ManagerID), p.PasswordHash, micros(now), micros(now), p.Language).Scan(&u.ID)
	if err != nil {
		if db.d.IsUnique(err) {
			return u, &store.FieldError{Field: "email", Code: "duplicate", Message: "another user already signs in with this email address"}
		}
		return u, err
	}
	return u, nil
}

// checkUserRef verifies that a user newly referenced (as a record's owner,
// a user's manager) is an active user of the organisation. A deactivated
// user is refused: they cannot sign in to see what is given to them, and
// offboarding has just handed their holdings to someone else. A reference
// already stored is not checked again, so a deactivated user's records
// stay editable.
func (db *DB) checkUserRef(ctx context.Context, q queryer, orgID, id int64, field string) error {
	u, err := db.lockUser(ctx, q, orgID, id, false)
	if errors.Is(err, store.ErrNotFound) {
		return &store.FieldError{Field: field, Code: "not_found", Message: fmt.Sprintf("no user with id %d in this organisation", id)}
	}
	if err != nil {
		return err
	}
	if !u.Active {
		return &store.FieldError{Field: field, Code: "inactive", Message: fmt.Sprintf(
			"%s is deactivated; choose an active user, or reactivate %s first", u.Name, u.Name)}
	}
	return nil
}

// CreateUser adds a user to an organisation.
func (db *DB) CreateUser(ctx context.Context, orgID int64, p store.UserParams) (u crm.User, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		u, err = db.insertUser(ctx, tx, orgID, p, db.now())
		return err
	})
	return u, err
}

// GetUser returns a user of the organisation.
func (db *DB) GetUser(ctx context.Context, orgID, id int64) (crm.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+userCols+` FROM users WHERE id = ? AND org_id = ?`), id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	}
	return u, err
}

// UserForLogin finds a user by email, whatever their organisation.
func (db *DB) UserForLogin(ctx context.Context, email string) (crm.User, string, error) {
	var hash string
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+userCols+`, password_hash FROM users WHERE email = ?`),
		strings.ToLower(strings.TrimSpace(email))), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", store.ErrNotFound
	}
	return u, hash, err
}

// UpdateUser applies a change to a user in one transaction. A new manager
// must be in the organisation and must not report to the user (no cycles).
func (db *DB) UpdateUser(ctx context.Context, orgID, id int64, apply func(*store.UserParams) error) (crm.User, error) {
	var out crm.User
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var hash string
		u, err := scanUser(tx.QueryRowContext(ctx, db.q(`SELECT `+userCols+`, password_hash FROM users WHERE id = ? AND org_id = ?`+db.d.ForUpdate), id, orgID), &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		p := store.UserParams{Email: u.Email, Name: u.Name, Role: u.Role, ManagerID: u.ManagerID, PasswordHash: hash, Language: u.Language}
		if err := apply(&p); err != nil {
			return err
		}
		p.Email = strings.ToLower(strings.TrimSpace(p.Email))
		if u.Role == crm.RoleAdmin && p.Role != crm.RoleAdmin {
			if err := db.checkOtherAdmin(ctx, tx, orgID, id); err != nil {
				return err
			}
		}
		if p.ManagerID != nil && (u.ManagerID == nil || *u.ManagerID != *p.ManagerID) {
			if *p.ManagerID == id {
				return &store.FieldError{Field: "manager_id", Code: "cycle", Message: "a user cannot be their own manager"}
			}
			if err := db.checkUserRef(ctx, tx, orgID, *p.ManagerID, "manager_id"); err != nil {
				return err
			}
			team, err := db.team(ctx, tx, orgID, id)
			if err != nil {
				return err
			}
			if team[*p.ManagerID] {
				return &store.FieldError{Field: "manager_id", Code: "cycle", Message: fmt.Sprintf("user %d reports to this user, so cannot be their manager", *p.ManagerID)}
			}
		}
		if !p.SetPassword {
			p.PasswordHash = hash
		}
		now := db.now()
		_, err = tx.ExecContext(ctx, db.q(`UPDATE users SET email = ?, name = ?, role = ?, manager_id = ?, password_hash = ?, language = ?, updated_at = ? WHERE id = ?`),
			p.Email, p.Name, string(p.Role), optInt(p.ManagerID), p.PasswordHash, p.Language, micros(now), id)
		if err != nil {
			if db.d.IsUnique(err) {
				return &store.FieldError{Field: "email", Code: "duplicate", Message: "another user already signs in with this email address"}
			}
			return err
		}
		u.Email, u.Name, u.Role, u.ManagerID, u.Language, u.UpdatedAt = p.Email, p.Name, p.Role, p.ManagerID, p.Language, now
		out = u
		return nil
	})
	return out, err
}

// checkOtherAdmin refuses to leave an organisation without an admin. The
// admins' rows are locked first, so two admins demoting each other at the
// same moment cannot both succeed.
func (db *DB) checkOtherAdmin(ctx context.Context, tx *sql.Tx, orgID, except int64) error {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id FROM users WHERE org_id = ? AND role = 'admin' AND deactivated_at IS NULL`+db.d.ForUpdate), orgID)
	if err != nil {
		return err
	}
	defer rows.Close()
	others := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if id != except {
			others++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if others == 0 {
		return &store.FieldError{Field: "role", Code: "last_admin", Message: "this is the organisation's only admin; make another user admin first"}
	}
	return nil
}

// DeleteUser removes a user who holds nothing (no record, report,
// mailbox or PIM account: store.UserHoldings); their tokens go with them.
func (db *DB) DeleteUser(ctx context.Context, orgID, id int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM users WHERE id = ? AND org_id = ?`), id, orgID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		var role string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT role FROM users WHERE id = ?`), id).Scan(&role); err != nil {
			return err
		}
		if role == string(crm.RoleAdmin) {
			if err := db.checkOtherAdmin(ctx, tx, orgID, id); err != nil {
				return err
			}
		}
		h, err := db.holdings(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if h.Records()+h.Reports+h.MailAccounts+h.PIMAccounts > 0 {
			return store.ErrInUse
		}
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM api_tokens WHERE user_id = ?`), id)
		if err == nil {
			_, err = tx.ExecContext(ctx, db.q(`DELETE FROM users WHERE id = ?`), id)
		}
		return err
	})
}

// ListUsers pages through an organisation's users.
func (db *DB) ListUsers(ctx context.Context, orgID int64, f store.UserFilter) (store.Page[crm.User], error) {
	var w where
	w.add(`org_id = ?`, orgID)
	if f.Q != "" {
		p := likePattern(f.Q)
		w.add(`(lower(name) LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\')`, p, p)
	}
	if f.Role != "" {
		w.add(`role = ?`, string(f.Role))
	}
	if f.ManagerID != nil {
		w.add(`manager_id = ?`, *f.ManagerID)
	}
	return listPage(ctx, db, `SELECT `+userCols+` FROM users`, w, f.ListParams, func(r *sql.Rows) (crm.User, int64, error) {
		u, err := scanUser(r)
		return u, u.ID, err
	})
}
