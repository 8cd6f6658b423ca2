package storetest

import (
	"fmt"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() { extraTests["LinksVisibility"] = testLinksVisibility }

// testLinksVisibility: an email's links name only the records its reader may
// see (issue 10 point 8). Ann (a member) mails Bea's contact and company;
// Ann sees her email but not Bea's records, so no link; their manager sees
// both; the admin sees all.
func testLinksVisibility(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	mgr, mv := mb.bundle.user(t, "max@acme.example", crm.RoleManager, nil)
	_, err := s.UpdateUser(ctx, mb.org.ID, mb.user.ID, func(p *store.UserParams) error { p.ManagerID = &mgr.ID; return nil })
	must(t, err)
	_, bv := mb.bundle.user(t, "bea@acme.example", crm.RoleMember, nil)
	beaCo, err := s.CreateCompany(ctx, bv, crm.Company{Name: "Bea's client", Domains: []string{"client.example"}, OwnerID: bv.UserID})
	must(t, err)
	beaCt, err := s.CreateContact(ctx, bv, crm.Contact{FirstName: "Carl", Emails: []string{"carl@client.example"}, CompanyID: &beaCo.ID, OwnerID: bv.UserID, Lifecycle: crm.LifecycleLead})
	must(t, err)
	beaOpp, err := s.CreateOpportunity(ctx, bv, crm.Opportunity{Name: "Bea's deal", CompanyID: &beaCo.ID, OwnerID: bv.UserID, Status: crm.StatusOpen})
	must(t, err)
	annCt, err := s.CreateContact(ctx, mb.uv, crm.Contact{FirstName: "Dora", Emails: []string{"dora@client.example"}, OwnerID: mb.uv.UserID, Lifecycle: crm.LifecycleLead})
	must(t, err)
	msg := mb.save(t, mailFrom("carl@client.example", "ann@acme.example", "dora@client.example"))[0]

	all := []string{fmt.Sprintf("company:%d", beaCo.ID), fmt.Sprintf("contact:%d", beaCt.ID), fmt.Sprintf("contact:%d", annCt.ID), fmt.Sprintf("opportunity:%d", beaOpp.ID)}
	for _, c := range []struct {
		who  string
		v    crm.Viewer
		want []string
	}{
		{"the member who owns the mailbox", mb.uv, []string{fmt.Sprintf("contact:%d", annCt.ID)}},
		{"her manager (Bea is not in his team)", mv, []string{fmt.Sprintf("contact:%d", annCt.ID)}},
		{"the admin", mb.av, all},
	} {
		e, err := s.GetEmail(ctx, c.v, msg.ID)
		must(t, err)
		var got []string
		for _, l := range e.Links {
			got = append(got, fmt.Sprintf("%s:%d", l.Type, l.ID))
		}
		wantLinks(t, c.who+" (GetEmail)", got, c.want...)
		ls, err := s.EmailLinks(ctx, c.v, msg.ID)
		must(t, err)
		got = nil
		for _, l := range ls {
			got = append(got, fmt.Sprintf("%s:%d", l.Type, l.ID))
		}
		wantLinks(t, c.who+" (EmailLinks)", got, c.want...)
	}
}
