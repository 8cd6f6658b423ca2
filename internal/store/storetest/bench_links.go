package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

// BenchRelink measures what the issue names: the time to link past emails
// after adding 1,000 contacts to an organisation holding n stored emails.
// Each contact is created, then relinked, as the API does.
func BenchRelink(b *testing.B, f Factory, n int) {
	mb := setupMail(b, f)
	s, ctx := mb.s, mb.ctx
	start := time.Now()
	seedEmails(b, mb, n)
	b.Logf("%s: seeded %d emails in %v", s.Dialect(), n, time.Since(start).Round(time.Millisecond))
	co, err := s.CreateCompany(ctx, mb.av, crm.Company{Name: "Corp 7", Domains: []string{"corp7.example"}, OwnerID: mb.av.UserID})
	if err != nil {
		b.Fatal(err)
	}
	_ = co
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for j := 0; j < 1000; j++ {
			k := i*1000 + j
			c, err := s.CreateContact(ctx, mb.av, crm.Contact{FirstName: "P", LastName: fmt.Sprint(k),
				Emails: []string{fmt.Sprintf("p%d@corp%d.example", k, k%2000)}, OwnerID: mb.av.UserID, Lifecycle: crm.LifecycleLead})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Relink(ctx, mb.org.ID, crm.LinkContact, c.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/1000-contacts")
	}
	b.StopTimer()
	// Every email from the first contact's address is linked to it.
	var linked int
	if err := s.(*sqlstore.DB).Readers().QueryRowContext(ctx, rebindFor(s.Dialect(), `SELECT COUNT(*) FROM email_links WHERE target_type = 'contact'`)).Scan(&linked); err != nil {
		b.Fatal(err)
	}
	if linked == 0 {
		b.Fatal("no email was linked")
	}
	b.Logf("%d contact links made", linked)
}

func rebindFor(dialect, q string) string {
	if dialect != "postgres" {
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

// seedEmails bulk-inserts n emails into the bundle's INBOX, each from
// p{i mod 20000}@corp{i mod 2000}.example to the account owner and a Cc.
func seedEmails(b *testing.B, mb mailBundle, n int) {
	ctx := context.Background()
	db := mb.s.(*sqlstore.DB).Readers()
	now := time.Now().UnixMicro()
	for lo := 0; lo < n; lo += 500 {
		hi := min(lo+500, n)
		var q strings.Builder
		q.WriteString(`INSERT INTO messages (org_id, owner_id, account_id, folder_id, remote_id, message_id, subject, sent_at, participants, hash, created_at, updated_at) VALUES `)
		var args []any
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?)`)
			args = append(args, mb.org.ID, mb.user.ID, mb.account.ID, mb.inbox.ID, fmt.Sprintf("1:%d", i+1), fmt.Sprintf("m%d@bench", i), fmt.Sprintf("Subject %d", i),
				now-int64(i)*1e6, fmt.Sprintf("h%d", i), now, now)
		}
		q.WriteString(` RETURNING id`)
		rows, err := db.QueryContext(ctx, rebindFor(mb.s.Dialect(), q.String()), args...)
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
		q.Reset()
		q.WriteString(`INSERT INTO message_addresses (message_id, org_id, kind, email, name, pos, domain) VALUES `)
		args = args[:0]
		for k, id := range ids {
			i := lo + k
			from := fmt.Sprintf("p%d@corp%d.example", i%20000, (i%20000)%2000)
			cc := fmt.Sprintf("p%d@corp%d.example", (i+7)%20000, ((i+7)%20000)%2000)
			for pos, a := range []struct{ kind, email string }{{"from", from}, {"to", "ann@acme.example"}, {"cc", cc}} {
				if k > 0 || pos > 0 {
					q.WriteString(", ")
				}
				q.WriteString(`(?, ?, ?, ?, '', ?, ?)`)
				args = append(args, id, mb.org.ID, a.kind, a.email, pos, a.email[strings.IndexByte(a.email, '@')+1:])
			}
		}
		if _, err := db.ExecContext(ctx, rebindFor(mb.s.Dialect(), q.String()), args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
