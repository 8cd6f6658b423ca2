package storetest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	extraTests["Links"] = testLinks
	extraTests["LinksManual"] = testLinksManual
	extraTests["Forwarding"] = testForwarding
	extraTests["PurgeExpiredAccounts"] = testPurgeExpired
}

func (mb mailBundle) save(t *testing.T, msgs ...crm.Email) []crm.Email {
	t.Helper()
	stored, err := mb.s.StoredIDs(mb.ctx, mb.inbox.ID)
	must(t, err)
	next := uint32(len(stored) + 1)
	for i := range msgs {
		msgs[i].RemoteID = fmt.Sprintf("1:%d", next+uint32(i))
		if msgs[i].Hash == "" {
			msgs[i].Hash = fmt.Sprintf("hash-%d-%d", next, i)
		}
	}
	_, err = mb.s.SaveMessages(mb.ctx, mb.fence, mb.inbox.ID, store.FolderCursor{Token: fmt.Sprint(next + uint32(len(msgs)))}, msgs)
	must(t, err)
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	must(t, mb.s.LinkEmails(mb.ctx, mb.org.ID, ids))
	return msgs
}

func mailFrom(from string, to ...string) crm.Email {
	return email(1, 0, "", time.Now(), from, to...)
}

// links returns an email's links as "type:id" strings, sorted.
func (mb mailBundle) links(t *testing.T, id int64) []string {
	t.Helper()
	ls, err := mb.s.EmailLinks(mb.ctx, mb.av, id)
	must(t, err)
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s:%d", l.Type, l.ID))
	}
	sort.Strings(out)
	return out
}

func wantLinks(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: links %v, want %v", what, got, want)
	}
}

func testLinks(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx, av := mb.s, mb.ctx, mb.av
	must(t, s.PutLinkingRules(ctx, mb.org.ID, []string{"acme.example"}, []string{"localisp.example"}))
	globex, err := s.CreateCompany(ctx, av, crm.Company{Name: "Globex", Domains: []string{"globex.com"}, OwnerID: av.UserID})
	must(t, err)
	gmailCo, err := s.CreateCompany(ctx, av, crm.Company{Name: "Mistaken", Domains: []string{"gmail.com", "localisp.example"}, OwnerID: av.UserID})
	must(t, err)
	ownCo, err := s.CreateCompany(ctx, av, crm.Company{Name: "Us", Domains: []string{"acme.example"}, OwnerID: av.UserID})
	must(t, err)
	hank, err := s.CreateContact(ctx, av, crm.Contact{FirstName: "Hank", Emails: []string{"hank@globex.com", "hank.private@gmail.com"}, CompanyID: &globex.ID, OwnerID: av.UserID, Lifecycle: crm.LifecycleCustomer})
	must(t, err)
	open, err := s.CreateOpportunity(ctx, av, crm.Opportunity{Name: "Open deal", CompanyID: &globex.ID, OwnerID: av.UserID, Status: crm.StatusOpen})
	must(t, err)
	won, err := s.CreateOpportunity(ctx, av, crm.Opportunity{Name: "Won deal", CompanyID: &globex.ID, OwnerID: av.UserID, Status: crm.StatusWon})
	must(t, err)
	contactOpp, err := s.CreateOpportunity(ctx, av, crm.Opportunity{Name: "Hank's deal", ContactIDs: []int64{hank.ID}, OwnerID: av.UserID, Status: crm.StatusOpen})
	must(t, err)
	_ = won

	co := func(c crm.Company) string { return fmt.Sprintf("company:%d", c.ID) }
	ct := func(c crm.Contact) string { return fmt.Sprintf("contact:%d", c.ID) }
	op := func(o crm.Opportunity) string { return fmt.Sprintf("opportunity:%d", o.ID) }
	msgs := mb.save(t,
		mailFrom("HANK@globex.com", "ann@acme.example"),          // contact by address (case), company, open opps
		mailFrom("ann@acme.example", "sales@eu.globex.com"),      // company by subdomain
		mailFrom("hank.private@gmail.com", "ann@acme.example"),   // contact via free-mail address, no company
		mailFrom("someone@gmail.com", "other@localisp.example"),  // free-mail: nothing
		mailFrom("colleague@acme.example", "ann@acme.example"),   // own domain: nothing
		mailFrom("x@notglobex.com", "y@globex.com.evil.example"), // look-alike domains: nothing
	)
	wantLinks(t, "contact+company", mb.links(t, msgs[0].ID), ct(hank), co(globex), op(open), op(contactOpp))
	wantLinks(t, "subdomain", mb.links(t, msgs[1].ID), co(globex), op(open))
	wantLinks(t, "free-mail contact", mb.links(t, msgs[2].ID), ct(hank), op(contactOpp))
	wantLinks(t, "free-mail", mb.links(t, msgs[3].ID))
	wantLinks(t, "own domain", mb.links(t, msgs[4].ID))
	wantLinks(t, "look-alike", mb.links(t, msgs[5].ID))
	_, _ = gmailCo, ownCo

	// A new contact links its past emails.
	later := mb.save(t, mailFrom("newbie@initech.example", "ann@acme.example"))
	wantLinks(t, "before the contact exists", mb.links(t, later[0].ID))
	newbie, err := s.CreateContact(ctx, av, crm.Contact{FirstName: "New", Emails: []string{"newbie@initech.example"}, OwnerID: av.UserID, Lifecycle: crm.LifecycleLead})
	must(t, err)
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkContact, newbie.ID))
	wantLinks(t, "after the contact", mb.links(t, later[0].ID), ct(newbie))
	// A new company domain links its past emails, subdomains included.
	initech, err := s.CreateCompany(ctx, av, crm.Company{Name: "Initech", Domains: []string{"initech.example"}, OwnerID: av.UserID})
	must(t, err)
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkCompany, initech.ID))
	wantLinks(t, "after the company", mb.links(t, later[0].ID), ct(newbie), co(initech))
	// An opportunity opened for the company links its emails; closing it
	// keeps that history but links no new email.
	deal, err := s.CreateOpportunity(ctx, av, crm.Opportunity{Name: "Initech deal", CompanyID: &initech.ID, OwnerID: av.UserID, Status: crm.StatusOpen})
	must(t, err)
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkOpportunity, deal.ID))
	wantLinks(t, "open opportunity", mb.links(t, later[0].ID), ct(newbie), co(initech), op(deal))
	_, err = s.UpdateOpportunity(ctx, av, deal.ID, func(o *crm.Opportunity) error { o.Status = crm.StatusLost; return nil })
	must(t, err)
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkOpportunity, deal.ID))
	wantLinks(t, "closed opportunity keeps its history", mb.links(t, later[0].ID), ct(newbie), co(initech), op(deal))
	after := mb.save(t, mailFrom("newbie@initech.example", "ann@acme.example"))
	wantLinks(t, "no new email on a closed opportunity", mb.links(t, after[0].ID), ct(newbie), co(initech))
	// Removing an address unlinks what it linked.
	_, err = s.UpdateContact(ctx, av, hank.ID, func(c *crm.Contact) error { c.Emails = []string{"hank@globex.com"}; return nil })
	must(t, err)
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkContact, hank.ID))
	wantLinks(t, "address removed", mb.links(t, msgs[2].ID))
	// Deleting a record removes its links.
	must(t, s.DeleteCompany(ctx, av, globex.ID))
	wantLinks(t, "company deleted", mb.links(t, msgs[1].ID))
	// Timelines list an entity's emails, newest first.
	page, err := s.ListEmails(ctx, av, store.EmailFilter{LinkedTo: &store.LinkTarget{Type: crm.LinkContact, ID: newbie.ID}})
	must(t, err)
	if len(page.Items) != 2 || page.Items[0].ID != after[0].ID {
		t.Fatalf("timeline = %d items", len(page.Items))
	}
	e, err := s.GetEmail(ctx, av, after[0].ID)
	must(t, err)
	if len(e.Links) != 2 {
		t.Fatalf("email links = %+v", e.Links)
	}
}

func testLinksManual(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx, av := mb.s, mb.ctx, mb.av
	globex, err := s.CreateCompany(ctx, av, crm.Company{Name: "Globex", Domains: []string{"globex.com"}, OwnerID: av.UserID})
	must(t, err)
	other, err := s.CreateCompany(ctx, av, crm.Company{Name: "Other", OwnerID: av.UserID})
	must(t, err)
	msgs := mb.save(t, mailFrom("a@globex.com", "ann@acme.example"), mailFrom("b@unknown.example", "ann@acme.example"))
	// Manual unlink of an automatic link survives relinking.
	must(t, s.SetLink(ctx, av, msgs[0].ID, crm.LinkCompany, globex.ID, false))
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkCompany, globex.ID))
	must(t, s.LinkEmails(ctx, mb.org.ID, []int64{msgs[0].ID}))
	wantLinks(t, "manual unlink", mb.links(t, msgs[0].ID))
	// Manual link where nothing matches survives relinking too.
	must(t, s.SetLink(ctx, av, msgs[1].ID, crm.LinkCompany, other.ID, true))
	must(t, s.Relink(ctx, mb.org.ID, crm.LinkCompany, other.ID))
	ls, _ := s.EmailLinks(ctx, av, msgs[1].ID)
	if len(ls) != 1 || ls[0].Source != "manual" || ls[0].ID != other.ID {
		t.Fatalf("manual link = %+v", ls)
	}
	// Relinking back a manually unlinked one is a manual link again.
	must(t, s.SetLink(ctx, av, msgs[0].ID, crm.LinkCompany, globex.ID, true))
	wantLinks(t, "relinked", mb.links(t, msgs[0].ID), fmt.Sprintf("company:%d", globex.ID))
	// Linking to a record one cannot see, or of another organisation, fails.
	o := newOrg(t, s, "other")
	oc, err := s.CreateCompany(ctx, o.av, crm.Company{Name: "Theirs", OwnerID: o.av.UserID})
	must(t, err)
	wantField(t, s.SetLink(ctx, av, msgs[0].ID, crm.LinkCompany, oc.ID, true), "id", "not_found")
	wantErr(t, s.SetLink(ctx, o.av, msgs[0].ID, crm.LinkCompany, oc.ID, true), store.ErrNotFound)
}

func testForwarding(t *testing.T, f Factory) {
	b := setup(t, f)
	u, uv := b.user(t, "ann@acme.example", crm.RoleMember, nil)
	a, err := b.s.CreateMailAccount(b.ctx, uv, crm.MailAccount{UserID: u.ID, Email: "ann@acme.example", Provider: "dropbox", Mode: crm.ModeForward,
		State: crm.StateSynced, DropboxToken: "tok123"})
	must(t, err)
	got, err := b.s.MailAccountByDropbox(b.ctx, "tok123")
	must(t, err)
	if got.ID != a.ID || got.DropboxToken != "tok123" {
		t.Fatalf("by dropbox = %+v", got)
	}
	_, err = b.s.MailAccountByDropbox(b.ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	c, err := b.s.CreateContact(b.ctx, uv, crm.Contact{FirstName: "Hank", Emails: []string{"hank@globex.com"}, OwnerID: u.ID, Lifecycle: crm.LifecycleLead})
	must(t, err)
	e := email(0, 0, "fwd-1", time.Now(), "hank@globex.com", "ann@acme.example")
	first, stored, err := b.s.StoreForwarded(b.ctx, a.ID, e)
	must(t, err)
	again, stored2, err := b.s.StoreForwarded(b.ctx, a.ID, e)
	must(t, err)
	if !stored || stored2 || first.ID != again.ID {
		t.Fatalf("forwarded twice: %v %v %d %d", stored, stored2, first.ID, again.ID)
	}
	second, _, err := b.s.StoreForwarded(b.ctx, a.ID, email(0, 0, "fwd-2", time.Now(), "x@y.example"))
	must(t, err)
	if second.ID == first.ID || second.RemoteID == first.RemoteID {
		t.Fatal("two forwarded messages stored as one")
	}
	got2, err := b.s.GetEmail(b.ctx, uv, first.ID)
	must(t, err)
	if got2.Folder != "Dropbox" || len(got2.Links) != 1 || got2.Links[0].ID != c.ID {
		t.Fatalf("forwarded email = %+v", got2)
	}
}

func testPurgeExpired(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	msgs := mb.save(t, mailFrom("a@globex.com", "ann@acme.example"))
	now := time.Now().UTC()
	until := now.Add(30 * 24 * time.Hour)
	_, err := s.UpdateMailAccount(ctx, mb.uv, mb.account.ID, func(a *crm.MailAccount) error {
		a.State, a.DisconnectedAt, a.RetainedUntil = crm.StateDisconnected, &now, &until
		return nil
	})
	must(t, err)
	due, _ := s.SyncableAccounts(ctx, now)
	if len(due) != 0 {
		t.Fatal("a disconnected account is syncable")
	}
	l, err := s.ClaimLease(ctx, "maintenance", "leader", "me", time.Minute)
	must(t, err)
	n, err := s.PurgeExpiredAccounts(ctx, l.Fence(), now)
	must(t, err)
	if n != 0 {
		t.Fatal("purged before the retention ended")
	}
	if _, err := s.GetEmail(ctx, mb.uv, msgs[0].ID); err != nil {
		t.Fatalf("message gone during retention: %v", err)
	}
	n, err = s.PurgeExpiredAccounts(ctx, l.Fence(), until.Add(time.Second))
	must(t, err)
	if n != 1 {
		t.Fatalf("purged %d", n)
	}
	_, err = s.GetEmail(ctx, mb.uv, msgs[0].ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetMailAccount(ctx, mb.uv, mb.account.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetCredential(ctx, mb.org.ID, "cred-1")
	wantErr(t, err, store.ErrNotFound)
}
