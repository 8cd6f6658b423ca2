package mailsync_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/dropbox"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestDropboxEndToEnd sends forwards written by Gmail, Outlook and Apple
// Mail through the project's own SMTP server into a real store: each is
// stored once with its original participants and date and linked to the
// CRM records of those participants; a spoofed sender is refused.
func TestDropboxEndToEnd(t *testing.T) {
	for name, f := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, _ := f(t)
			ctx := context.Background()
			_, p, h := auth.NewToken()
			org, ann, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "ann@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
			if err != nil {
				t.Fatal(err)
			}
			v := crm.Viewer{OrgID: org.ID, UserID: ann.ID, Role: crm.RoleAdmin}
			if err := st.PutLinkingRules(ctx, org.ID, []string{"acme.example"}, nil); err != nil {
				t.Fatal(err)
			}
			client, err := st.CreateCompany(ctx, v, crm.Company{Name: "Client", Domains: []string{"client.example.com"}, OwnerID: ann.ID})
			if err != nil {
				t.Fatal(err)
			}
			alice, err := st.CreateContact(ctx, v, crm.Contact{FirstName: "Alice", Emails: []string{"alice.smith@client.example.com"}, CompanyID: &client.ID, OwnerID: ann.ID, Lifecycle: crm.LifecycleProspect})
			if err != nil {
				t.Fatal(err)
			}
			deal, err := st.CreateOpportunity(ctx, v, crm.Opportunity{Name: "Q2", CompanyID: &client.ID, OwnerID: ann.ID, Status: crm.StatusOpen})
			if err != nil {
				t.Fatal(err)
			}
			lost, err := st.CreateOpportunity(ctx, v, crm.Opportunity{Name: "Q1", CompanyID: &client.ID, OwnerID: ann.ID, Status: crm.StatusLost})
			if err != nil {
				t.Fatal(err)
			}
			acct, err := st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: ann.ID, Email: "ann@acme.example", Provider: "dropbox", Mode: crm.ModeForward,
				State: crm.StateSynced, DropboxToken: "k3x9q7vz2m"})
			if err != nil {
				t.Fatal(err)
			}

			srv := dropbox.New(dropbox.Config{Domain: "in.crm.example"}, &mailsync.Dropbox{Store: st})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			send := func(from, file string) error {
				raw, err := os.ReadFile(filepath.Join("..", "forwarded", "testdata", file))
				if err != nil {
					t.Fatal(err)
				}
				raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
				return smtp.SendMail(ln.Addr().String(), nil, from, []string{"k3x9q7vz2m@in.crm.example"}, raw)
			}
			for _, file := range []string{"gmail_en.eml", "outlook_desktop_en.eml", "apple_en.eml", "gmail_en.eml"} {
				if err := send("ann@acme.example", file); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
			}
			// A spoofed envelope sender is refused at RCPT.
			err = send("mallory@evil.example", "gmail_en.eml")
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 550 {
				t.Fatalf("spoofed sender: %v, want a 550 refusal", err)
			}

			page, err := st.ListEmails(ctx, v, store.EmailFilter{AccountID: &acct.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 3 {
				t.Fatalf("%d messages stored, want 3 (the retried Gmail forward once)", len(page.Items))
			}
			for _, e := range page.Items {
				full, err := st.GetEmail(ctx, v, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(full.Participants.From) != 1 || full.Participants.From[0].Email != "alice.smith@client.example.com" {
					t.Errorf("%q: from %v, want the original sender", full.Subject, full.Participants.From)
				}
				if full.Subject != "Quote for Q2" || full.Date.Year() != 2026 || full.Date.Month() != time.March || full.Date.Day() != 2 {
					t.Errorf("subject %q date %v, want the original's", full.Subject, full.Date)
				}
				want := map[string]bool{}
				for _, l := range full.Links {
					want[string(l.Type)+":"+itoa(l.ID)] = true
				}
				for _, k := range []string{"contact:" + itoa(alice.ID), "company:" + itoa(client.ID), "opportunity:" + itoa(deal.ID)} {
					if !want[k] {
						t.Errorf("%q not linked to %s: %v", full.Subject, k, full.Links)
					}
				}
				if want["opportunity:"+itoa(lost.ID)] {
					t.Errorf("%q linked to a lost opportunity", full.Subject)
				}
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
