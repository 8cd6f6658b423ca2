package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// ownedTables are the CRM records a user owns (owner_id REFERENCES users),
// each with where its count goes in store.UserHoldings.
var ownedTables = []struct {
	kind  store.RecordKind
	count func(*store.UserHoldings) *int64
}{
	{store.KindCompany, func(h *store.UserHoldings) *int64 { return &h.Companies }},
	{store.KindContact, func(h *store.UserHoldings) *int64 { return &h.Contacts }},
	{store.KindOpportunity, func(h *store.UserHoldings) *int64 { return &h.Opportunities }},
	{store.KindTask, func(h *store.UserHoldings) *int64 { return &h.Tasks }},
	{store.KindEvent, func(h *store.UserHoldings) *int64 { return &h.Events }},
}

// UserHoldings counts everything that refers to a user.
func (db *DB) UserHoldings(ctx context.Context, orgID, id int64) (store.UserHoldings, error) {
	if _, err := db.lockUser(ctx, db.r, orgID, id, false); err != nil {
		return store.UserHoldings{}, err
	}
	return db.holdings(ctx, db.r, orgID, id)
}

func (db *DB) holdings(ctx context.Context, q queryer, orgID, id int64) (store.UserHoldings, error) {
	var h store.UserHoldings
	err := q.QueryRowContext(ctx, db.q(`SELECT
		(SELECT COUNT(*) FROM companies WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM contacts WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM opportunities WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM tasks WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM events WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM users WHERE org_id = ? AND manager_id = ?),
		(SELECT COUNT(*) FROM mail_accounts WHERE org_id = ? AND owner_id = ?),
		(SELECT COUNT(*) FROM mail_accounts WHERE org_id = ? AND owner_id = ? AND disconnected_at IS NULL),
		(SELECT COUNT(*) FROM pim_accounts WHERE org_id = ? AND owner_id = ?)`),
		orgID, id, orgID, id, orgID, id, orgID, id, orgID, id, orgID, id, orgID, id, orgID, id, orgID, id).
		Scan(&h.Companies, &h.Contacts, &h.Opportunities, &h.Tasks, &h.Events, &h.Reports,
			&h.MailAccounts, &h.ConnectedMailAccounts, &h.PIMAccounts)
	return h, err
}

// lockUser reads a user of the organisation, locking the row (on
// PostgreSQL) when lock is set; ErrNotFound when there is none.
func (db *DB) lockUser(ctx context.Context, q queryer, orgID, id int64, lock bool) (crm.User, error) {
	suffix := ""
	if lock {
		suffix = db.d.ForUpdate
	}
	u, err := scanUser(q.QueryRowContext(ctx, db.q(`SELECT `+userCols+` FROM users WHERE id = ? AND org_id = ?`+suffix), id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	}
	return u, err
}

// OffboardUser deactivates or deletes a user, handing what they hold to a
// successor, in one transaction.
func (db *DB) OffboardUser(ctx context.Context, orgID, id int64, p store.OffboardParams) (store.OffboardResult, error) {
	var out store.OffboardResult
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = store.OffboardResult{}
		u, err := db.lockUser(ctx, tx, orgID, id, true)
		if err != nil {
			return err
		}
		if u.Role == crm.RoleAdmin && u.Active {
			if err := db.checkOtherAdmin(ctx, tx, orgID, id); err != nil {
				return err
			}
		}
		at := micros(p.At)
		if p.ReassignTo != nil {
			if out.Reassigned, err = db.reassign(ctx, tx, u, *p.ReassignTo, p.By, p.Delete, at); err != nil {
				return err
			}
		}
		if p.Delete {
			h, err := db.holdings(ctx, tx, orgID, id)
			if err != nil {
				return err
			}
			if h.Records()+h.Reports+h.MailAccounts+h.PIMAccounts > 0 {
				return store.ErrInUse
			}
		}
		res, err := tx.ExecContext(ctx, db.q(`UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`), at, id)
		if err != nil {
			return err
		}
		if out.TokensRevoked, err = res.RowsAffected(); err != nil {
			return err
		}
		if p.Delete {
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM api_tokens WHERE user_id = ?`), id); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, db.q(`DELETE FROM users WHERE id = ?`), id)
			out.User = u
			return err
		}
		if u.Active {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE users SET deactivated_at = ?, updated_at = ? WHERE id = ?`), at, at, id); err != nil {
				return err
			}
		}
		out.User, err = db.lockUser(ctx, tx, orgID, id, false)
		return err
	})
	return out, err
}

// reassign hands u's records and reports, and on delete their (already
// disconnected) mailboxes, to the user with id to, on behalf of the admin
// with id by.
//
// Each record changes owner in bulk SQL and gains an owner_id entry in its
// history, written by the same kind of statement (reassignHistory), so a
// leaver with thousands of records is one statement per table, not a
// read-diff-write per record. Nothing is woken: the successor's PIM loops
// list the records they now own at their next pass and push them then.
func (db *DB) reassign(ctx context.Context, tx *sql.Tx, u crm.User, to, by int64, withMail bool, at int64) (store.UserHoldings, error) {
	var h store.UserHoldings
	if to == u.ID {
		return h, &store.FieldError{Field: "reassign_to", Code: "same_user", Message: "choose another user than the one leaving to take over their records"}
	}
	succ, err := db.lockUser(ctx, tx, u.OrgID, to, true)
	if errors.Is(err, store.ErrNotFound) {
		return h, &store.FieldError{Field: "reassign_to", Code: "not_found", Message: fmt.Sprintf("no user with id %d in this organisation", to)}
	}
	if err != nil {
		return h, err
	}
	if !succ.Active {
		return h, &store.FieldError{Field: "reassign_to", Code: "inactive", Message: fmt.Sprintf(
			"%s is deactivated and cannot take over records; choose an active user, or reactivate %s first", succ.Name, succ.Name)}
	}
	if by == 0 {
		return h, errors.New("sqlstore: an offboarding that hands records over names no admin to write in their history")
	}
	for _, t := range ownedTables {
		if err := db.reassignHistory(ctx, tx, t.kind, u, succ, by, at); err != nil {
			return h, err
		}
		res, err := tx.ExecContext(ctx, db.q(`UPDATE `+recordTables[t.kind]+` SET owner_id = ?, updated_at = ? WHERE org_id = ? AND owner_id = ?`), to, at, u.OrgID, u.ID)
		if err != nil {
			return h, err
		}
		if *t.count(&h), err = res.RowsAffected(); err != nil {
			return h, err
		}
	}
	if h.Reports, err = db.handOverReports(ctx, tx, u, succ, at); err != nil {
		return h, err
	}
	if withMail {
		h.MailAccounts, err = db.handOverMailboxes(ctx, tx, u, succ)
	}
	return h, err
}

// reassignHistory writes, for each record of a kind that u owns, the
// update entry of its change of owner to succ, as logUpdate would (field
// owner_id, ids as text), with a note saying why. It runs before the
// update, while the records are still found by their old owner. A record
// whose history is full gains one entry over store.MaxHistoryPerRecord
// until its next change trims it (writeHistory).
func (db *DB) reassignHistory(ctx context.Context, tx *sql.Tx, kind store.RecordKind, u, succ crm.User, by, at int64) error {
	note := fmt.Sprintf("offboarding: %s's records handed to %s", u.Name, succ.Name)
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO record_history (org_id, record_type, record_id, owner_id, changed_at, action, field,
		old_value, new_value, user_id, pim_account_id, note)
		SELECT org_id, ?, id, ?, ?, ?, 'owner_id', ?, ?, ?, NULL, ? FROM `+recordTables[kind]+` WHERE org_id = ? AND owner_id = ?`),
		string(kind), succ.ID, at, store.HistoryUpdate, strconv.FormatInt(u.ID, 10), strconv.FormatInt(succ.ID, 10), by,
		*capValue(&note), u.OrgID, u.ID)
	return err
}

// handOverReports makes succ the manager of u's reports. A successor who
// reported to u directly takes u's place under u's own manager; one
// deeper in u's team would end up managing their own manager, so is
// refused.
func (db *DB) handOverReports(ctx context.Context, tx *sql.Tx, u, succ crm.User, at int64) (int64, error) {
	team, err := db.team(ctx, tx, u.OrgID, u.ID)
	if err != nil {
		return 0, err
	}
	if team[succ.ID] {
		if succ.ManagerID == nil || *succ.ManagerID != u.ID {
			return 0, &store.FieldError{Field: "reassign_to", Code: "cycle", Message: fmt.Sprintf(
				"%s reports to %s through someone else, so would end up managing their own manager; choose someone outside %s's team, or change %s's manager first",
				succ.Name, u.Name, u.Name, succ.Name)}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE users SET manager_id = ?, updated_at = ? WHERE id = ?`), optInt(u.ManagerID), at, succ.ID); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, db.q(`UPDATE users SET manager_id = ?, updated_at = ? WHERE org_id = ? AND manager_id = ?`), succ.ID, at, u.OrgID, u.ID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if team[succ.ID] {
		n++ // the successor was one of the reports too
	}
	return n, err
}

// handOverMailboxes gives u's disconnected mailboxes, their messages and
// their outbox to succ until their retention ends. A mailbox still
// connected is left, so the delete that follows is refused (ErrInUse).
func (db *DB) handOverMailboxes(ctx context.Context, tx *sql.Tx, u, succ crm.User) (int64, error) {
	var email string
	err := tx.QueryRowContext(ctx, db.q(`SELECT a.email FROM mail_accounts a JOIN mail_accounts b ON b.email = a.email AND b.owner_id = ?
		WHERE a.owner_id = ? AND a.org_id = ? LIMIT 1`), succ.ID, u.ID, u.OrgID).Scan(&email)
	switch {
	case err == nil:
		return 0, &store.FieldError{Field: "reassign_to", Code: "duplicate", Message: fmt.Sprintf(
			"%s and %s both have the mailbox %s; choose another user to take over, or have %s disconnect it and wait for its retention to end",
			u.Name, succ.Name, email, succ.Name)}
	case !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}
	const mine = ` WHERE org_id = ? AND account_id IN (SELECT id FROM mail_accounts WHERE owner_id = ? AND disconnected_at IS NOT NULL)`
	for _, t := range []string{"messages", "outbox"} {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE `+t+` SET owner_id = ?`+mine), succ.ID, u.OrgID, u.ID); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, db.q(`UPDATE mail_accounts SET owner_id = ? WHERE org_id = ? AND owner_id = ? AND disconnected_at IS NOT NULL`), succ.ID, u.OrgID, u.ID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ReactivateUser lets a deactivated user sign in again.
func (db *DB) ReactivateUser(ctx context.Context, orgID, id int64) (u crm.User, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if u, err = db.lockUser(ctx, tx, orgID, id, true); err != nil || u.Active {
			return err
		}
		now := micros(db.now())
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE users SET deactivated_at = NULL, updated_at = ? WHERE id = ?`), now, id); err != nil {
			return err
		}
		u, err = db.lockUser(ctx, tx, orgID, id, false)
		return err
	})
	return u, err
}
