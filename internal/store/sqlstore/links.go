package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
	"github.com/crmsync/crmsync/internal/store"
)

// linkKinds is linker.Kinds as an SQL list.
var linkKinds = "'" + strings.Join(linker.Kinds, "', '") + "'"

// LinkingRules returns the organisation's own and extra free-mail domains.
func (db *DB) LinkingRules(ctx context.Context, orgID int64) (own, freemail []string, err error) {
	return db.linkingRules(ctx, db.r, orgID)
}

func (db *DB) linkingRules(ctx context.Context, q queryer, orgID int64) (own, freemail []string, err error) {
	var o, f string
	err = q.QueryRowContext(ctx, db.q(`SELECT own_domains, freemail_domains FROM org_settings WHERE org_id = ?`), orgID).Scan(&o, &f)
	if errors.Is(err, sql.ErrNoRows) {
		return []string{}, []string{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal([]byte(o), &own); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal([]byte(f), &freemail); err != nil {
		return nil, nil, err
	}
	return own, freemail, nil
}

// PutLinkingRules sets them.
func (db *DB) PutLinkingRules(ctx context.Context, orgID int64, own, freemail []string) error {
	if own == nil {
		own = []string{}
	}
	if freemail == nil {
		freemail = []string{}
	}
	o, _ := json.Marshal(own)
	f, _ := json.Marshal(freemail)
	_, err := db.exec(ctx, db.q(`INSERT INTO org_settings (org_id, own_domains, freemail_domains, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET own_domains = excluded.own_domains, freemail_domains = excluded.freemail_domains, updated_at = excluded.updated_at`),
		orgID, string(o), string(f), micros(db.now()))
	return err
}

// LinkEmails computes the automatic links of new emails.
func (db *DB) LinkEmails(ctx context.Context, orgID int64, emailIDs []int64) error {
	if len(emailIDs) == 0 {
		return nil
	}
	return db.tx(ctx, func(tx *sql.Tx) error { return db.linkEmails(ctx, tx, orgID, emailIDs) })
}

// linkEmails (re)computes the automatic links of emails: contacts by
// address, companies by domain, then open opportunities of both. Rows that
// exist already — manual links, manual unlinks — are left as they are.
//
// The queries start from the emails (CROSS JOIN fixes the join order in
// SQLite, and a unary + — || ” on text — keeps it from using the
// organisation-wide indexes on the other terms; PostgreSQL plans it alike):
// linking a batch costs what the batch holds, not what the organisation
// holds.
func (db *DB) linkEmails(ctx context.Context, tx *sql.Tx, orgID int64, emailIDs []int64) error {
	return db.linkEmailsAfter(ctx, tx, orgID, emailIDs, nil)
}

// linkKey is one link of an email.
type linkKey struct {
	email  int64
	target string
	id     int64
}

// linkEmailsAfter is linkEmails reporting, as message.linked events, the
// links it made that are not in before (the links a relink dropped and
// made again are not news).
func (db *DB) linkEmailsAfter(ctx context.Context, tx *sql.Tx, orgID int64, emailIDs []int64, before map[linkKey]bool) error {
	now := micros(db.now())
	if err := db.linkEmailsOnly(ctx, tx, orgID, emailIDs, now); err != nil {
		return err
	}
	subs, err := db.subscribed(ctx, tx, orgID, store.EventMessageLinked)
	if err != nil || len(subs) == 0 {
		return err
	}
	var evs []webhookEvent
	for lo := 0; lo < len(emailIDs); lo += 400 {
		chunk := emailIDs[lo:min(lo+400, len(emailIDs))]
		rows, err := tx.QueryContext(ctx, db.q(`SELECT message_id, target_type, target_id FROM email_links
			WHERE message_id IN (`+placeholders(len(chunk))+`) AND state = 'linked' AND source = 'auto' AND created_at = ? ORDER BY message_id, target_type, target_id`),
			append(int64Args(chunk), now)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k linkKey
			if err := rows.Scan(&k.email, &k.target, &k.id); err != nil {
				rows.Close()
				return err
			}
			if !before[k] {
				evs = append(evs, webhookEvent{Type: store.EventMessageLinked, Data: messageLinkedData{EmailID: k.email, TargetType: k.target, TargetID: k.id, Source: "auto"}})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return db.recordEvents(ctx, tx, orgID, evs)
}

// messageLinkedData is the data of a message.linked event.
type messageLinkedData struct {
	EmailID    int64  `json:"email_id"`
	TargetType string `json:"target_type"` // company, contact or opportunity
	TargetID   int64  `json:"target_id"`
	Source     string `json:"source"` // auto or manual
}

// linkEmailsOnly writes the links (linkEmails without events).
func (db *DB) linkEmailsOnly(ctx context.Context, tx *sql.Tx, orgID int64, emailIDs []int64, now int64) error {
	own, extra, err := db.linkingRules(ctx, tx, orgID)
	if err != nil {
		return err
	}
	rules := linker.NewRules(extra, own)
	for lo := 0; lo < len(emailIDs); lo += 400 {
		chunk := emailIDs[lo:min(lo+400, len(emailIDs))]
		in := placeholders(len(chunk))
		ids := int64Args(chunk)

		// Contacts: any of their addresses.
		args := append([]any{now, orgID}, ids...)
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO email_links (message_id, org_id, target_type, target_id, source, state, created_at)
			SELECT DISTINCT ma.message_id, ma.org_id, 'contact', ce.contact_id, 'auto', 'linked', CAST(? AS BIGINT)
			FROM message_addresses ma CROSS JOIN contact_emails ce
			WHERE ce.org_id = ? AND ce.email = ma.email
				AND +ma.org_id = ce.org_id AND ma.kind IN (`+linkKinds+`) AND ma.message_id IN (`+in+`)
			ON CONFLICT (message_id, target_type, target_id) DO NOTHING`), args...); err != nil {
			return fmt.Errorf("linking contacts: %w", err)
		}

		// Companies: the address domains that may name one (no free-mail,
		// not the organisation's own), matching a company domain or a
		// subdomain of it.
		rows, err := tx.QueryContext(ctx, db.q(`SELECT DISTINCT domain FROM message_addresses WHERE +org_id = ? AND kind IN (`+linkKinds+`) AND message_id IN (`+in+`)`),
			append([]any{orgID}, ids...)...)
		if err != nil {
			return err
		}
		var domains []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			if rules.CompanyDomain(d) {
				domains = append(domains, d)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for dlo := 0; dlo < len(domains); dlo += 200 {
			dchunk := domains[dlo:min(dlo+200, len(domains))]
			// Every parent of each domain is a candidate company domain.
			var cands []any
			for _, d := range dchunk {
				for p := d; strings.Contains(p, "."); p = p[strings.IndexByte(p, '.')+1:] {
					cands = append(cands, p)
				}
			}
			args := []any{now, orgID, orgID}
			args = append(args, cands...)
			args = append(args, ids...)
			for _, d := range dchunk {
				args = append(args, d)
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO email_links (message_id, org_id, target_type, target_id, source, state, created_at)
				SELECT DISTINCT ma.message_id, ma.org_id, 'company', cd.company_id, 'auto', 'linked', CAST(? AS BIGINT)
				FROM message_addresses ma CROSS JOIN company_domains cd
				WHERE +ma.org_id = ? AND cd.org_id = ? AND cd.domain IN (`+placeholders(len(cands))+`)
					AND (ma.domain || '' = cd.domain OR ma.domain LIKE '%.' || cd.domain)
					AND ma.kind IN (`+linkKinds+`) AND ma.message_id IN (`+in+`) AND ma.domain || '' IN (`+placeholders(len(dchunk))+`)
				ON CONFLICT (message_id, target_type, target_id) DO NOTHING`), args...); err != nil {
				return fmt.Errorf("linking companies: %w", err)
			}
		}

		// Open opportunities of the linked contacts and companies.
		for _, q := range []string{
			// of the linked companies
			`INSERT INTO email_links (message_id, org_id, target_type, target_id, source, state, created_at)
			SELECT DISTINCT el.message_id, el.org_id, 'opportunity', o.id, 'auto', 'linked', CAST(? AS BIGINT)
			FROM email_links el CROSS JOIN opportunities o
			WHERE el.message_id IN (` + in + `) AND el.state = 'linked' AND el.target_type = 'company'
				AND o.company_id = el.target_id AND o.status = 'open'
			ON CONFLICT (message_id, target_type, target_id) DO NOTHING`,
			// of the linked contacts
			`INSERT INTO email_links (message_id, org_id, target_type, target_id, source, state, created_at)
			SELECT DISTINCT el.message_id, el.org_id, 'opportunity', o.id, 'auto', 'linked', CAST(? AS BIGINT)
			FROM email_links el CROSS JOIN opportunity_contacts oc CROSS JOIN opportunities o
			WHERE el.message_id IN (` + in + `) AND el.state = 'linked' AND el.target_type = 'contact'
				AND oc.contact_id = el.target_id AND o.id = oc.opportunity_id AND o.status = 'open'
			ON CONFLICT (message_id, target_type, target_id) DO NOTHING`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), append([]any{now}, ids...)...); err != nil {
				return fmt.Errorf("linking opportunities: %w", err)
			}
		}
	}
	return nil
}

// relinkEmails recomputes emails from scratch: their automatic links are
// dropped — except those to closed opportunities, which are the history of
// how a deal was won or lost — and computed again.
func (db *DB) relinkEmails(ctx context.Context, tx *sql.Tx, orgID int64, emailIDs []int64) error {
	// The links held before, so that only new ones become events.
	var before map[linkKey]bool
	if subs, err := db.subscribed(ctx, tx, orgID, store.EventMessageLinked); err != nil {
		return err
	} else if len(subs) > 0 {
		before = map[linkKey]bool{}
		for lo := 0; lo < len(emailIDs); lo += 400 {
			chunk := emailIDs[lo:min(lo+400, len(emailIDs))]
			rows, err := tx.QueryContext(ctx, db.q(`SELECT message_id, target_type, target_id FROM email_links WHERE message_id IN (`+placeholders(len(chunk))+`) AND state = 'linked'`), int64Args(chunk)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k linkKey
				if err := rows.Scan(&k.email, &k.target, &k.id); err != nil {
					rows.Close()
					return err
				}
				before[k] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	for lo := 0; lo < len(emailIDs); lo += 400 {
		chunk := emailIDs[lo:min(lo+400, len(emailIDs))]
		// By message id alone (ids are global): the primary key finds them.
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM email_links WHERE source = 'auto' AND message_id IN (`+placeholders(len(chunk))+`)
			AND NOT (target_type = 'opportunity' AND target_id IN (SELECT id FROM opportunities WHERE org_id = ? AND status <> 'open'))`), append(int64Args(chunk), orgID)...); err != nil {
			return err
		}
	}
	return db.linkEmailsAfter(ctx, tx, orgID, emailIDs, before)
}

// collectIDs runs a query returning message ids.
func collectIDs(ctx context.Context, q queryer, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// affected returns the emails whose links a change of the record may
// alter: those linked to it now, and those its addresses or domains match.
func (db *DB) affected(ctx context.Context, q queryer, orgID int64, t crm.LinkType, id int64) ([]int64, error) {
	seen := map[int64]bool{}
	var out []int64
	add := func(ids []int64, err error) error {
		if err != nil {
			return err
		}
		for _, x := range ids {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
		return nil
	}
	if err := add(collectIDs(ctx, q, db.q(`SELECT message_id FROM email_links WHERE org_id = ? AND target_type = ? AND target_id = ?`), orgID, string(t), id)); err != nil {
		return nil, err
	}
	switch t {
	case crm.LinkContact:
		if err := add(collectIDs(ctx, q, db.q(`SELECT DISTINCT ma.message_id FROM contact_emails ce CROSS JOIN message_addresses ma
			WHERE ce.contact_id = ? AND ma.org_id = ce.org_id AND ma.email = ce.email AND ma.org_id = ? AND ma.kind IN (`+linkKinds+`)`), id, orgID)); err != nil {
			return nil, err
		}
	case crm.LinkCompany:
		if err := add(collectIDs(ctx, q, db.q(`SELECT DISTINCT ma.message_id FROM company_domains cd CROSS JOIN message_addresses ma
			WHERE cd.company_id = ? AND ma.org_id = cd.org_id AND (ma.domain = cd.domain OR ma.domain LIKE '%.' || cd.domain)
				AND ma.org_id = ? AND ma.kind IN (`+linkKinds+`)`), id, orgID)); err != nil {
			return nil, err
		}
	case crm.LinkOpportunity:
		// Emails of the opportunity's company and contacts.
		if err := add(collectIDs(ctx, q, db.q(`SELECT DISTINCT el.message_id FROM email_links el JOIN opportunities o ON o.id = ?
			WHERE el.org_id = ? AND el.state = 'linked' AND (
				(el.target_type = 'company' AND el.target_id = o.company_id) OR
				(el.target_type = 'contact' AND el.target_id IN (SELECT contact_id FROM opportunity_contacts WHERE opportunity_id = o.id)))`), id, orgID)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Relink recomputes the automatic links touching one record.
func (db *DB) Relink(ctx context.Context, orgID int64, t crm.LinkType, id int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		ids, err := db.affected(ctx, tx, orgID, t, id)
		if err != nil {
			return err
		}
		return db.relinkEmails(ctx, tx, orgID, ids)
	})
}

// unlinkDeleted removes every link to a record being deleted and
// recomputes the emails that had one (their derived opportunity links may
// go with it). It runs in the deleting transaction.
func (db *DB) unlinkDeleted(ctx context.Context, tx *sql.Tx, orgID int64, t crm.LinkType, id int64) error {
	ids, err := collectIDs(ctx, tx, db.q(`SELECT message_id FROM email_links WHERE org_id = ? AND target_type = ? AND target_id = ?`), orgID, string(t), id)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM email_links WHERE org_id = ? AND target_type = ? AND target_id = ?`), orgID, string(t), id); err != nil {
		return err
	}
	return db.relinkEmails(ctx, tx, orgID, ids)
}

// EmailLinks returns an email's links.
func (db *DB) EmailLinks(ctx context.Context, v crm.Viewer, emailID int64) ([]crm.EmailLink, error) {
	if _, err := db.getEmail(ctx, db.r, v, emailID); err != nil {
		return nil, err
	}
	return db.emailLinks(ctx, db.r, v, emailID)
}

// emailLinks lists an email's links to the records v may see: a reader of
// a colleague's mail (a manager, an admin) or of mail linked to a
// colleague's contact learns nothing of records hidden from them, not even
// their ids.
func (db *DB) emailLinks(ctx context.Context, q queryer, v crm.Viewer, emailID int64) ([]crm.EmailLink, error) {
	w := where{}
	w.add(`message_id = ?`, emailID)
	w.add(`state = 'linked'`)
	var alts []string
	for _, t := range []struct {
		lt    crm.LinkType
		table string
	}{{crm.LinkCompany, "companies"}, {crm.LinkContact, "contacts"}, {crm.LinkOpportunity, "opportunities"}} {
		var vis where
		visible(&vis, v)
		alts = append(alts, `(target_type = '`+string(t.lt)+`' AND target_id IN (SELECT id FROM `+t.table+vis.sql()+`))`)
		w.args = append(w.args, vis.args...)
	}
	w.conds = append(w.conds, `(`+strings.Join(alts, ` OR `)+`)`)
	rows, err := q.QueryContext(ctx, db.q(`SELECT target_type, target_id, source, state, created_at FROM email_links`+w.sql()+`
		ORDER BY target_type, target_id`), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []crm.EmailLink{}
	for rows.Next() {
		var l crm.EmailLink
		var created int64
		if err := rows.Scan(&l.Type, &l.ID, &l.Source, &l.State, &created); err != nil {
			return nil, err
		}
		l.CreatedAt = fromMicros(created)
		out = append(out, l)
	}
	return out, rows.Err()
}

// SetLink records a manual link or unlink.
func (db *DB) SetLink(ctx context.Context, v crm.Viewer, emailID int64, t crm.LinkType, id int64, linked bool) error {
	if !t.Valid() {
		return &store.FieldError{Field: "type", Code: "invalid_value", Message: "must be company, contact or opportunity"}
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := db.getEmail(ctx, tx, v, emailID); err != nil {
			return err
		}
		table := map[crm.LinkType]string{crm.LinkCompany: "companies", crm.LinkContact: "contacts", crm.LinkOpportunity: "opportunities"}[t]
		if linked {
			if err := db.checkVisibleRef(ctx, tx, v, table, id, "id", string(t)); err != nil {
				return err
			}
		}
		state := "unlinked"
		if linked {
			state = "linked"
		}
		var was string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT state FROM email_links WHERE message_id = ? AND target_type = ? AND target_id = ?`), emailID, string(t), id).Scan(&was); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO email_links (message_id, org_id, target_type, target_id, source, state, created_at) VALUES (?, ?, ?, ?, 'manual', ?, ?)
			ON CONFLICT (message_id, target_type, target_id) DO UPDATE SET source = 'manual', state = excluded.state, created_at = excluded.created_at`),
			emailID, v.OrgID, string(t), id, state, micros(db.now())); err != nil {
			return err
		}
		if !linked || was == "linked" {
			return nil
		}
		return db.recordEvents(ctx, tx, v.OrgID, []webhookEvent{{Type: store.EventMessageLinked,
			Data: messageLinkedData{EmailID: emailID, TargetType: string(t), TargetID: id, Source: "manual"}}})
	})
}
