package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

// BenchContacts measures contact creation and listing on a store holding
// n contacts spread over a team: an admin, a manager with four reports,
// and five members outside the team.
func BenchContacts(b *testing.B, f Factory, n int) {
	s, _ := f(b)
	bd := newOrg(b, s, "bench")
	mgr, mv := bd.user(b, "mgr@bench.example", crm.RoleManager, nil)
	owners := []crm.Viewer{bd.av, mv}
	for i := 0; i < 4; i++ {
		_, v := bd.user(b, fmt.Sprintf("rep%d@bench.example", i), crm.RoleMember, &mgr.ID)
		owners = append(owners, v)
	}
	for i := 0; i < 4; i++ {
		_, v := bd.user(b, fmt.Sprintf("other%d@bench.example", i), crm.RoleMember, nil)
		owners = append(owners, v)
	}
	member := owners[2]
	start := time.Now()
	seedContacts(b, s, bd.org.ID, owners, n)
	b.Logf("%s: seeded %d contacts in %v", s.Dialect(), n, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()

	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, err := s.CreateContact(ctx, member, crm.Contact{
				FirstName: "Bench", LastName: fmt.Sprint(i), Emails: []string{fmt.Sprintf("bench%d@new.example", i), fmt.Sprintf("b%d@alt.example", i)},
				Phones: []string{"+33 1 23 45 67 89"}, OwnerID: member.UserID, Lifecycle: crm.LifecycleProspect,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	mid := pageCursorAt(b, s, bd.av, n/2)
	for _, tc := range []struct {
		name string
		v    crm.Viewer
		f    store.ContactFilter
	}{
		{"list/admin/first-page", bd.av, store.ContactFilter{}},
		{"list/admin/deep-page", bd.av, store.ContactFilter{ListParams: store.ListParams{Cursor: mid}}},
		{"list/manager/first-page", mv, store.ContactFilter{}},
		{"list/manager/deep-page", mv, store.ContactFilter{ListParams: store.ListParams{Cursor: mid}}},
		{"list/member/first-page", member, store.ContactFilter{}},
		{"list/admin/by-email", bd.av, store.ContactFilter{Email: fmt.Sprintf("seed%d@corp%d.example", n/3, (n/3)%500)}},
		{"list/admin/search", bd.av, store.ContactFilter{ListParams: store.ListParams{Q: "seed4242"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p, err := s.ListContacts(ctx, tc.v, tc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Items) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

func pageCursorAt(b *testing.B, s *sqlstore.DB, v crm.Viewer, skip int) string {
	p, err := s.ListContacts(context.Background(), v, store.ContactFilter{ListParams: store.ListParams{Limit: 1}})
	if err != nil {
		b.Fatal(err)
	}
	return store.EncodeCursor(p.Items[0].ID + int64(skip))
}

// seedContacts bulk-inserts n contacts with one email each, 500 rows per
// statement: going through CreateContact would make the set-up, not the
// measured operations, dominate the run.
func seedContacts(b *testing.B, s *sqlstore.DB, orgID int64, owners []crm.Viewer, n int) {
	ctx := context.Background()
	db := s.Readers()
	now := time.Now().UnixMicro()
	rebind := func(q string) string {
		if s.Dialect() != "postgres" {
			return q
		}
		var sb strings.Builder
		k := 0
		for _, r := range q {
			if r == '?' {
				k++
				fmt.Fprintf(&sb, "$%d", k)
				continue
			}
			sb.WriteRune(r)
		}
		return sb.String()
	}
	var firstID int64
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		var q strings.Builder
		q.WriteString(`INSERT INTO contacts (org_id, first_name, last_name, phones, owner_id, lifecycle, custom_fields, created_at, updated_at) VALUES `)
		args := make([]any, 0, (hi-lo)*5)
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, '[]', ?, 'lead', '{}', ?, ?)`)
			args = append(args, orgID, fmt.Sprintf("Seed%d", i), "Contact", owners[i%len(owners)].UserID, now)
			args = append(args, now)
		}
		q.WriteString(` RETURNING id`)
		rows, err := db.QueryContext(ctx, rebind(q.String()), args...)
		if err != nil {
			b.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if firstID == 0 {
			firstID = ids[0]
		}
		q.Reset()
		q.WriteString(`INSERT INTO contact_emails (contact_id, org_id, email, pos) VALUES `)
		args = args[:0]
		for k, id := range ids {
			if k > 0 {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, 0)`)
			i := lo + k
			args = append(args, id, orgID, fmt.Sprintf("seed%d@corp%d.example", i, i%500))
		}
		if _, err := db.ExecContext(ctx, rebind(q.String()), args...); err != nil {
			b.Fatal(err)
		}
	}
	// Fresh statistics, as a long-running database would have.
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
