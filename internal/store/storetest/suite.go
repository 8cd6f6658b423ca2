package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Run runs the whole conformance suite against the stores f opens.
func Run(t *testing.T, f Factory) {
	tests := map[string]func(*testing.T, Factory){
		"Schema":            testSchema,
		"CreateOrg":         testCreateOrg,
		"Users":             testUsers,
		"UserHierarchy":     testUserHierarchy,
		"Visibility":        testVisibility,
		"OwnerAssignment":   testOwnerAssignment,
		"Companies":         testCompanies,
		"Contacts":          testContacts,
		"Opportunities":     testOpportunities,
		"Pagination":        testPagination,
		"ConcurrentUpdates": testConcurrentUpdates,
		"Tokens":            testTokens,
		"RevokeUserTokens":  testRevokeUserTokens,
		"TokenLimitRace":    testTokenLimitRace,
		"Credentials":       testCredentials,
		"Leases":            testLeases,
		"LeaseExpiry":       testLeaseExpiry,
		"LeaseRace":         testLeaseRace,
		"FencedWrites":      testFencedWrites,
	}
	for k, v := range extraTests {
		tests[k] = v
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fn := tests[n]
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			fn(t, f)
		})
	}
}

// extraTests are suites in other files of this package, registered by init.
var extraTests = map[string]func(*testing.T, Factory){}

// bundle is a store with one organisation and its admin.
type bundle struct {
	s     store.Store
	org   crm.Org
	admin crm.User
	av    crm.Viewer // the admin as viewer
	ctx   context.Context
}

var orgSeq struct {
	sync.Mutex
	n int
}

func newOrg(t testing.TB, s store.Store, name string) bundle {
	t.Helper()
	orgSeq.Lock()
	orgSeq.n++
	n := orgSeq.n
	orgSeq.Unlock()
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := s.CreateOrg(context.Background(), store.CreateOrgParams{
		Name: name, AdminEmail: fmt.Sprintf("admin%d@%s.example", n, name), AdminName: "Admin " + name,
		TokenName: "init", TokenHash: hash, TokenPrefix: prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{s: s, org: org, admin: admin, ctx: context.Background(),
		av: crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}}
}

func setup(t testing.TB, f Factory) bundle {
	s, _ := f(t)
	return newOrg(t, s, "acme")
}

func (b bundle) user(t testing.TB, email string, role crm.Role, manager *int64) (crm.User, crm.Viewer) {
	t.Helper()
	u, err := b.s.CreateUser(b.ctx, b.org.ID, store.UserParams{Email: email, Name: email, Role: role, ManagerID: manager})
	if err != nil {
		t.Fatal(err)
	}
	return u, crm.Viewer{OrgID: b.org.ID, UserID: u.ID, Role: role}
}

func (b bundle) contact(t testing.TB, v crm.Viewer, first string, emails ...string) crm.Contact {
	t.Helper()
	c, err := b.s.CreateContact(b.ctx, v, crm.Contact{FirstName: first, Emails: emails, OwnerID: v.UserID, Lifecycle: crm.LifecycleLead})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func wantField(t testing.TB, err error, field, code string) {
	t.Helper()
	var fe *store.FieldError
	if !errors.As(err, &fe) || fe.Field != field || (code != "" && fe.Code != code) {
		t.Fatalf("err = %v, want a FieldError on %s (%s)", err, field, code)
	}
	if fe.Message == "" {
		t.Fatal("FieldError without a message")
	}
}

func testSchema(t *testing.T, f Factory) {
	s, _ := f(t)
	ctx := context.Background()
	cur, latest, err := s.SchemaVersion(ctx)
	must(t, err)
	if cur != latest || cur < 1 {
		t.Fatalf("after Migrate: version %d of %d", cur, latest)
	}
	n, err := s.Migrate(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("second Migrate applied %d migrations", n)
	}
	must(t, store.RequireCurrent(ctx, s))
}

func testCreateOrg(t *testing.T, f Factory) {
	s, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, tok, err := s.CreateOrg(ctx, store.CreateOrgParams{Name: "First", AdminEmail: "Boss@First.example", TokenName: "init", TokenHash: h, TokenPrefix: p, RequireEmpty: true})
	must(t, err)
	if admin.Role != crm.RoleAdmin || admin.OrgID != org.ID || admin.Email != "boss@first.example" {
		t.Fatalf("admin = %+v", admin)
	}
	gotTok, gotUser, err := s.TokenByHash(ctx, h, time.Now())
	must(t, err)
	if gotTok.ID != tok.ID || gotUser.ID != admin.ID {
		t.Fatalf("token lookup: %+v %+v", gotTok, gotUser)
	}
	// A second init changes nothing.
	_, p2, h2 := auth.NewToken()
	_, _, _, err = s.CreateOrg(ctx, store.CreateOrgParams{Name: "Second", AdminEmail: "x@second.example", TokenName: "init", TokenHash: h2, TokenPrefix: p2, RequireEmpty: true})
	wantErr(t, err, store.ErrAlreadyInitialized)
	_, err = s.GetOrg(ctx, org.ID+1)
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.UserForLogin(ctx, "x@second.example")
	wantErr(t, err, store.ErrNotFound)
	// Without RequireEmpty, a further organisation is fine (org create).
	org2, _, _, err := s.CreateOrg(ctx, store.CreateOrgParams{Name: "Second", AdminEmail: "x@second.example", TokenName: "init", TokenHash: h2, TokenPrefix: p2})
	must(t, err)
	got, err := s.GetOrg(ctx, org2.ID)
	must(t, err)
	if got.Name != "Second" || got.ID == org.ID {
		t.Fatalf("org2 = %+v", got)
	}
	// The same admin email cannot be reused across organisations.
	_, p3, h3 := auth.NewToken()
	_, _, _, err = s.CreateOrg(ctx, store.CreateOrgParams{Name: "Third", AdminEmail: "BOSS@first.example", TokenName: "init", TokenHash: h3, TokenPrefix: p3})
	wantField(t, err, "email", "duplicate")
}

func testUsers(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	hash, err := auth.HashPassword("a long enough password")
	must(t, err)
	u, err := b.s.CreateUser(b.ctx, b.org.ID, store.UserParams{Email: "Ann@Acme.example", Name: "Ann", Role: crm.RoleMember, PasswordHash: hash})
	must(t, err)
	if u.Email != "ann@acme.example" || u.OrgID != b.org.ID || u.CreatedAt.IsZero() {
		t.Fatalf("user = %+v", u)
	}
	got, err := b.s.GetUser(b.ctx, b.org.ID, u.ID)
	must(t, err)
	if got.Name != "Ann" || got.Role != crm.RoleMember || got.ManagerID != nil || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("get = %+v want %+v", got, u)
	}
	_, err = b.s.GetUser(b.ctx, other.org.ID, u.ID)
	wantErr(t, err, store.ErrNotFound)

	lu, lh, err := b.s.UserForLogin(b.ctx, " ANN@acme.example")
	must(t, err)
	if lu.ID != u.ID || !auth.CheckPassword(lh, "a long enough password") {
		t.Fatal("login lookup failed")
	}
	_, err = b.s.CreateUser(b.ctx, other.org.ID, store.UserParams{Email: "ann@ACME.example", Name: "Ann 2", Role: crm.RoleMember})
	wantField(t, err, "email", "duplicate")
	_, err = b.s.CreateUser(b.ctx, b.org.ID, store.UserParams{Email: "bob@acme.example", Name: "Bob", Role: crm.RoleMember, ManagerID: &other.admin.ID})
	wantField(t, err, "manager_id", "not_found")

	// Update: rename, keep the password unless asked.
	up, err := b.s.UpdateUser(b.ctx, b.org.ID, u.ID, func(p *store.UserParams) error { p.Name = "Ann B."; return nil })
	must(t, err)
	if up.Name != "Ann B." {
		t.Fatalf("update = %+v", up)
	}
	_, lh, _ = b.s.UserForLogin(b.ctx, "ann@acme.example")
	if !auth.CheckPassword(lh, "a long enough password") {
		t.Fatal("password lost by an update that did not set it")
	}
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, u.ID, func(p *store.UserParams) error { p.PasswordHash, p.SetPassword = "", true; return nil })
	must(t, err)
	_, lh, _ = b.s.UserForLogin(b.ctx, "ann@acme.example")
	if lh != "" {
		t.Fatal("password not cleared")
	}
	_, err = b.s.UpdateUser(b.ctx, other.org.ID, u.ID, func(p *store.UserParams) error { return nil })
	wantErr(t, err, store.ErrNotFound)
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, u.ID, func(p *store.UserParams) error { p.Email = b.admin.Email; return nil })
	wantField(t, err, "email", "duplicate")
	sentinel := errors.New("refused")
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, u.ID, func(p *store.UserParams) error { p.Name = "X"; return sentinel })
	wantErr(t, err, sentinel)
	got, _ = b.s.GetUser(b.ctx, b.org.ID, u.ID)
	if got.Name != "Ann B." {
		t.Fatal("a refused update was written")
	}

	// List and filters.
	page, err := b.s.ListUsers(b.ctx, b.org.ID, store.UserFilter{})
	must(t, err)
	if len(page.Items) != 2 || page.NextCursor != "" {
		t.Fatalf("list = %+v", page)
	}
	page, _ = b.s.ListUsers(b.ctx, b.org.ID, store.UserFilter{Role: crm.RoleAdmin})
	if len(page.Items) != 1 || page.Items[0].ID != b.admin.ID {
		t.Fatalf("role filter = %+v", page.Items)
	}
	page, _ = b.s.ListUsers(b.ctx, b.org.ID, store.UserFilter{ListParams: store.ListParams{Q: "ANN"}})
	if len(page.Items) != 1 || page.Items[0].ID != u.ID {
		t.Fatalf("q filter = %+v", page.Items)
	}

	// Delete: refused while the user owns records, then allowed.
	uv := crm.Viewer{OrgID: b.org.ID, UserID: u.ID, Role: crm.RoleMember}
	c := b.contact(t, uv, "Zed")
	wantErr(t, b.s.DeleteUser(b.ctx, b.org.ID, u.ID), store.ErrInUse)
	must(t, b.s.DeleteContact(b.ctx, uv, c.ID))
	wantErr(t, b.s.DeleteUser(b.ctx, other.org.ID, u.ID), store.ErrNotFound)
	must(t, b.s.DeleteUser(b.ctx, b.org.ID, u.ID))
	_, err = b.s.GetUser(b.ctx, b.org.ID, u.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testUserHierarchy(t *testing.T, f Factory) {
	b := setup(t, f)
	m, _ := b.user(t, "m@acme.example", crm.RoleManager, nil)
	l, _ := b.user(t, "l@acme.example", crm.RoleManager, &m.ID)
	a, _ := b.user(t, "a@acme.example", crm.RoleMember, &l.ID)
	// m -> l -> a: making a the manager of m would be a cycle.
	_, err := b.s.UpdateUser(b.ctx, b.org.ID, m.ID, func(p *store.UserParams) error { p.ManagerID = &a.ID; return nil })
	wantField(t, err, "manager_id", "cycle")
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, m.ID, func(p *store.UserParams) error { p.ManagerID = &m.ID; return nil })
	wantField(t, err, "manager_id", "cycle")
	// Managing someone blocks deletion.
	wantErr(t, b.s.DeleteUser(b.ctx, b.org.ID, l.ID), store.ErrInUse)
	page, _ := b.s.ListUsers(b.ctx, b.org.ID, store.UserFilter{ManagerID: &l.ID})
	if len(page.Items) != 1 || page.Items[0].ID != a.ID {
		t.Fatalf("manager filter = %+v", page.Items)
	}
	// The only admin cannot be demoted or deleted; with a second admin,
	// concurrent demotions leave exactly one.
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, b.admin.ID, func(p *store.UserParams) error { p.Role = crm.RoleMember; return nil })
	wantField(t, err, "role", "last_admin")
	wantField(t, b.s.DeleteUser(b.ctx, b.org.ID, b.admin.ID), "role", "last_admin")
	second, _ := b.user(t, "second@acme.example", crm.RoleAdmin, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []int64{b.admin.ID, second.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.s.UpdateUser(b.ctx, b.org.ID, id, func(p *store.UserParams) error { p.Role = crm.RoleManager; return nil })
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent demotions of the two admins: %v, %v; want exactly one refused", errs[0], errs[1])
	}
	admins, _ := b.s.ListUsers(b.ctx, b.org.ID, store.UserFilter{Role: crm.RoleAdmin})
	if len(admins.Items) != 1 {
		t.Fatalf("%d admins left", len(admins.Items))
	}
	// Moving a under m directly is fine.
	up, err := b.s.UpdateUser(b.ctx, b.org.ID, a.ID, func(p *store.UserParams) error { p.ManagerID = &m.ID; return nil })
	must(t, err)
	if up.ManagerID == nil || *up.ManagerID != m.ID {
		t.Fatalf("manager = %v", up.ManagerID)
	}
}

func ids[T any](items []T, id func(T) int64) []int64 {
	out := []int64{}
	for _, x := range items {
		out = append(out, id(x))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sameIDs(t testing.TB, what string, got, want []int64) {
	t.Helper()
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got ids %v, want %v", what, got, want)
	}
}

func testVisibility(t *testing.T, f Factory) {
	b := setup(t, f)
	// top manager m -> manager l -> member a; member z reports to nobody.
	m, mv := b.user(t, "m@acme.example", crm.RoleManager, nil)
	l, lv := b.user(t, "l@acme.example", crm.RoleManager, &m.ID)
	_, av := b.user(t, "a@acme.example", crm.RoleMember, &l.ID)
	_, zv := b.user(t, "z@acme.example", crm.RoleMember, nil)
	other := newOrg(t, b.s, "other")

	own := map[string]crm.Viewer{"m": mv, "l": lv, "a": av, "z": zv, "admin": b.av}
	contacts := map[string]crm.Contact{}
	companies := map[string]crm.Company{}
	opps := map[string]crm.Opportunity{}
	for name, v := range own {
		contacts[name] = b.contact(t, v, name)
		co, err := b.s.CreateCompany(b.ctx, v, crm.Company{Name: name + " Ltd", OwnerID: v.UserID})
		must(t, err)
		companies[name] = co
		op, err := b.s.CreateOpportunity(b.ctx, v, crm.Opportunity{Name: name + " deal", OwnerID: v.UserID, Status: crm.StatusOpen})
		must(t, err)
		opps[name] = op
	}
	sees := map[string][]string{
		"a":     {"a"},
		"z":     {"z"},
		"l":     {"l", "a"},
		"m":     {"m", "l", "a"},
		"admin": {"m", "l", "a", "z", "admin"},
	}
	for viewer, visibleNames := range sees {
		v := own[viewer]
		vis := map[string]bool{}
		var wantC, wantCo, wantO []int64
		for _, n := range visibleNames {
			vis[n] = true
			wantC, wantCo, wantO = append(wantC, contacts[n].ID), append(wantCo, companies[n].ID), append(wantO, opps[n].ID)
		}
		cp, err := b.s.ListContacts(b.ctx, v, store.ContactFilter{})
		must(t, err)
		sameIDs(t, viewer+" contacts", ids(cp.Items, func(c crm.Contact) int64 { return c.ID }), wantC)
		cop, err := b.s.ListCompanies(b.ctx, v, store.CompanyFilter{})
		must(t, err)
		sameIDs(t, viewer+" companies", ids(cop.Items, func(c crm.Company) int64 { return c.ID }), wantCo)
		op, err := b.s.ListOpportunities(b.ctx, v, store.OpportunityFilter{})
		must(t, err)
		sameIDs(t, viewer+" opportunities", ids(op.Items, func(o crm.Opportunity) int64 { return o.ID }), wantO)
		for n := range own {
			_, err1 := b.s.GetContact(b.ctx, v, contacts[n].ID)
			_, err2 := b.s.GetCompany(b.ctx, v, companies[n].ID)
			_, err3 := b.s.GetOpportunity(b.ctx, v, opps[n].ID)
			for _, err := range []error{err1, err2, err3} {
				if vis[n] && err != nil {
					t.Fatalf("%s cannot read %s's record: %v", viewer, n, err)
				}
				if !vis[n] && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s reads %s's record: err = %v", viewer, n, err)
				}
			}
			if !vis[n] {
				_, err := b.s.UpdateContact(b.ctx, v, contacts[n].ID, func(c *crm.Contact) error { c.FirstName = "hacked"; return nil })
				wantErr(t, err, store.ErrNotFound)
				wantErr(t, b.s.DeleteOpportunity(b.ctx, v, opps[n].ID), store.ErrNotFound)
			}
		}
	}
	// Another organisation's admin sees nothing of ours, by any path.
	ov := other.av
	for n := range own {
		_, err := b.s.GetContact(b.ctx, ov, contacts[n].ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.GetCompany(b.ctx, ov, companies[n].ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.GetOpportunity(b.ctx, ov, opps[n].ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.UpdateCompany(b.ctx, ov, companies[n].ID, func(c *crm.Company) error { return nil })
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, b.s.DeleteContact(b.ctx, ov, contacts[n].ID), store.ErrNotFound)
		wantErr(t, b.s.DeleteCompany(b.ctx, ov, companies[n].ID), store.ErrNotFound)
	}
	cp, _ := b.s.ListContacts(b.ctx, ov, store.ContactFilter{})
	if len(cp.Items) != 0 {
		t.Fatalf("other org lists %d of our contacts", len(cp.Items))
	}
	// Referring to a record one cannot see is refused as not found.
	_, err := b.s.CreateContact(b.ctx, av, crm.Contact{FirstName: "x", OwnerID: av.UserID, Lifecycle: crm.LifecycleLead, CompanyID: ptr(companies["z"].ID)})
	wantField(t, err, "company_id", "not_found")
	_, err = b.s.CreateOpportunity(b.ctx, ov, crm.Opportunity{Name: "x", OwnerID: ov.UserID, Status: crm.StatusOpen, ContactIDs: []int64{contacts["a"].ID}})
	wantField(t, err, "contact_ids[0]", "not_found")
	// After z moves under l, l sees z's records.
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, zv.UserID, func(p *store.UserParams) error { p.ManagerID = &l.ID; return nil })
	must(t, err)
	_, err = b.s.GetContact(b.ctx, lv, contacts["z"].ID)
	must(t, err)
	_, err = b.s.GetContact(b.ctx, mv, contacts["z"].ID)
	must(t, err)
}

func testOwnerAssignment(t *testing.T, f Factory) {
	b := setup(t, f)
	m, mv := b.user(t, "m@acme.example", crm.RoleManager, nil)
	a, av := b.user(t, "a@acme.example", crm.RoleMember, &m.ID)
	z, _ := b.user(t, "z@acme.example", crm.RoleMember, nil)
	other := newOrg(t, b.s, "other")
	// A member can give nothing away.
	_, err := b.s.CreateContact(b.ctx, av, crm.Contact{FirstName: "x", OwnerID: z.ID, Lifecycle: crm.LifecycleLead})
	wantField(t, err, "owner_id", "forbidden_owner")
	// A manager can give to a report, not to an outsider.
	c, err := b.s.CreateContact(b.ctx, mv, crm.Contact{FirstName: "x", OwnerID: a.ID, Lifecycle: crm.LifecycleLead})
	must(t, err)
	_, err = b.s.UpdateContact(b.ctx, mv, c.ID, func(c *crm.Contact) error { c.OwnerID = z.ID; return nil })
	wantField(t, err, "owner_id", "forbidden_owner")
	// An admin can give to anyone in the organisation, not outside it.
	_, err = b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error { c.OwnerID = z.ID; return nil })
	must(t, err)
	_, err = b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "x", OwnerID: other.admin.ID})
	wantField(t, err, "owner_id", "not_found")
	// The new owner sees it, the old one no longer does.
	_, err = b.s.GetContact(b.ctx, av, c.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testCompanies(t *testing.T, f Factory) {
	b := setup(t, f)
	c, err := b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "Globex", Domains: []string{"globex.example", "globex.co.uk"}, OwnerID: b.admin.ID})
	must(t, err)
	got, err := b.s.GetCompany(b.ctx, b.av, c.ID)
	must(t, err)
	if got.Name != "Globex" || fmt.Sprint(got.Domains) != "[globex.example globex.co.uk]" || got.OwnerID != b.admin.ID || got.OrgID != b.org.ID {
		t.Fatalf("get = %+v", got)
	}
	_, err = b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "Dup", Domains: []string{"a.example", "a.example"}, OwnerID: b.admin.ID})
	wantField(t, err, "domains", "duplicate")
	empty, err := b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "Initech", OwnerID: b.admin.ID})
	must(t, err)
	if empty.Domains == nil {
		t.Fatal("domains nil, want empty")
	}
	up, err := b.s.UpdateCompany(b.ctx, b.av, c.ID, func(c *crm.Company) error {
		c.Name = "Globex Corp"
		c.Domains = []string{"globex.com"}
		return nil
	})
	must(t, err)
	got, _ = b.s.GetCompany(b.ctx, b.av, c.ID)
	if got.Name != "Globex Corp" || fmt.Sprint(got.Domains) != "[globex.com]" || !got.UpdatedAt.Equal(up.UpdatedAt) || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("after update = %+v", got)
	}
	for _, tc := range []struct {
		f    store.CompanyFilter
		want []int64
	}{
		{store.CompanyFilter{Domain: "globex.com"}, []int64{c.ID}},
		{store.CompanyFilter{Domain: "globex.example"}, nil},
		{store.CompanyFilter{ListParams: store.ListParams{Q: "GLOBEX"}}, []int64{c.ID}},
		{store.CompanyFilter{ListParams: store.ListParams{Q: "x.co"}}, []int64{c.ID}},
		{store.CompanyFilter{ListParams: store.ListParams{Q: "init"}}, []int64{empty.ID}},
		{store.CompanyFilter{ListParams: store.ListParams{Q: "%"}}, nil},
		{store.CompanyFilter{OwnerID: &b.admin.ID}, []int64{c.ID, empty.ID}},
	} {
		page, err := b.s.ListCompanies(b.ctx, b.av, tc.f)
		must(t, err)
		sameIDs(t, fmt.Sprintf("filter %+v", tc.f), ids(page.Items, func(c crm.Company) int64 { return c.ID }), append([]int64{}, tc.want...))
	}
	// Deleting a company keeps its contacts and opportunities, unlinked.
	ct, err := b.s.CreateContact(b.ctx, b.av, crm.Contact{FirstName: "Hank", CompanyID: &c.ID, OwnerID: b.admin.ID, Lifecycle: crm.LifecycleCustomer})
	must(t, err)
	op, err := b.s.CreateOpportunity(b.ctx, b.av, crm.Opportunity{Name: "Deal", CompanyID: &c.ID, OwnerID: b.admin.ID, Status: crm.StatusOpen})
	must(t, err)
	must(t, b.s.DeleteCompany(b.ctx, b.av, c.ID))
	wantErr(t, b.s.DeleteCompany(b.ctx, b.av, c.ID), store.ErrNotFound)
	gc, err := b.s.GetContact(b.ctx, b.av, ct.ID)
	must(t, err)
	gop, err := b.s.GetOpportunity(b.ctx, b.av, op.ID)
	must(t, err)
	if gc.CompanyID != nil || gop.CompanyID != nil {
		t.Fatalf("company still referenced: %v %v", gc.CompanyID, gop.CompanyID)
	}
	page, _ := b.s.ListCompanies(b.ctx, b.av, store.CompanyFilter{Domain: "globex.com"})
	if len(page.Items) != 0 {
		t.Fatal("deleted company's domain still matches")
	}
}

func testContacts(t *testing.T, f Factory) {
	b := setup(t, f)
	co, err := b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "Globex", OwnerID: b.admin.ID})
	must(t, err)
	c, err := b.s.CreateContact(b.ctx, b.av, crm.Contact{
		FirstName: "Hank", LastName: "Scorpio", Emails: []string{"hank@globex.example", "Boss@Volcano.example"},
		Phones: []string{"+1 555 0100"}, CompanyID: &co.ID, OwnerID: b.admin.ID, Lifecycle: crm.LifecycleProspect,
		CustomFields: map[string]string{"hobby": "hammocks", "région": "Île-de-France"},
	})
	must(t, err)
	got, err := b.s.GetContact(b.ctx, b.av, c.ID)
	must(t, err)
	if got.FirstName != "Hank" || got.LastName != "Scorpio" || fmt.Sprint(got.Emails) != "[hank@globex.example boss@volcano.example]" ||
		fmt.Sprint(got.Phones) != "[+1 555 0100]" || got.CompanyID == nil || *got.CompanyID != co.ID ||
		got.Lifecycle != crm.LifecycleProspect || got.CustomFields["région"] != "Île-de-France" || len(got.CustomFields) != 2 {
		t.Fatalf("get = %+v", got)
	}
	bare := b.contact(t, b.av, "Bare")
	bare, _ = b.s.GetContact(b.ctx, b.av, bare.ID)
	if bare.Emails == nil || bare.Phones == nil || bare.CustomFields == nil {
		t.Fatalf("nil collections: %+v", bare)
	}
	_, err = b.s.CreateContact(b.ctx, b.av, crm.Contact{FirstName: "Dup", Emails: []string{"d@x.example", "D@x.example"}, OwnerID: b.admin.ID, Lifecycle: crm.LifecycleLead})
	wantField(t, err, "emails", "duplicate")

	up, err := b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error {
		c.Emails = append(c.Emails, "hank.s@globex.example")
		delete(c.CustomFields, "hobby")
		c.CompanyID = nil
		c.Lifecycle = crm.LifecycleCustomer
		return nil
	})
	must(t, err)
	got, _ = b.s.GetContact(b.ctx, b.av, c.ID)
	if len(got.Emails) != 3 || got.CompanyID != nil || got.Lifecycle != crm.LifecycleCustomer || len(got.CustomFields) != 1 || !got.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("after update = %+v", got)
	}
	// The same address may belong to two contacts (duplicates exist in real
	// address books); a lookup by email finds both.
	twin := b.contact(t, b.av, "Twin", "hank@globex.example")
	for _, tc := range []struct {
		name string
		f    store.ContactFilter
		want []int64
	}{
		{"email", store.ContactFilter{Email: "hank@globex.example"}, []int64{c.ID, twin.ID}},
		{"q first or email", store.ContactFilter{ListParams: store.ListParams{Q: "hAnK"}}, []int64{c.ID, twin.ID}},
		{"q full name", store.ContactFilter{ListParams: store.ListParams{Q: "hank scor"}}, []int64{c.ID}},
		{"q email", store.ContactFilter{ListParams: store.ListParams{Q: "volcano"}}, []int64{c.ID}},
		{"q underscore literal", store.ContactFilter{ListParams: store.ListParams{Q: "h_nk"}}, nil},
		{"lifecycle", store.ContactFilter{Lifecycle: crm.LifecycleCustomer}, []int64{c.ID}},
		{"company", store.ContactFilter{CompanyID: &co.ID}, nil},
	} {
		page, err := b.s.ListContacts(b.ctx, b.av, tc.f)
		must(t, err)
		sameIDs(t, tc.name, ids(page.Items, func(c crm.Contact) int64 { return c.ID }), append([]int64{}, tc.want...))
	}
	page, _ := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{Email: "hank@globex.example"})
	for _, it := range page.Items {
		if len(it.Emails) == 0 {
			t.Fatal("listed contact without its emails")
		}
	}
	must(t, b.s.DeleteContact(b.ctx, b.av, c.ID))
	_, err = b.s.GetContact(b.ctx, b.av, c.ID)
	wantErr(t, err, store.ErrNotFound)
	page, _ = b.s.ListContacts(b.ctx, b.av, store.ContactFilter{Email: "boss@volcano.example"})
	if len(page.Items) != 0 {
		t.Fatal("deleted contact's email still matches")
	}
}

func testOpportunities(t *testing.T, f Factory) {
	b := setup(t, f)
	co, err := b.s.CreateCompany(b.ctx, b.av, crm.Company{Name: "Globex", OwnerID: b.admin.ID})
	must(t, err)
	c1 := b.contact(t, b.av, "One")
	c2 := b.contact(t, b.av, "Two")
	amt := crm.Decimal("12500.5")
	o, err := b.s.CreateOpportunity(b.ctx, b.av, crm.Opportunity{Name: "Big deal", CompanyID: &co.ID, ContactIDs: []int64{c2.ID, c1.ID},
		OwnerID: b.admin.ID, Status: crm.StatusOpen, Amount: &amt, Currency: "EUR"})
	must(t, err)
	got, err := b.s.GetOpportunity(b.ctx, b.av, o.ID)
	must(t, err)
	if got.Name != "Big deal" || fmt.Sprint(got.ContactIDs) != fmt.Sprint([]int64{c2.ID, c1.ID}) || got.Amount == nil || *got.Amount != "12500.5" ||
		got.Currency != "EUR" || got.Status != crm.StatusOpen || *got.CompanyID != co.ID {
		t.Fatalf("get = %+v", got)
	}
	_, err = b.s.CreateOpportunity(b.ctx, b.av, crm.Opportunity{Name: "x", ContactIDs: []int64{c1.ID, c1.ID}, OwnerID: b.admin.ID, Status: crm.StatusOpen})
	wantField(t, err, "contact_ids", "duplicate")
	_, err = b.s.UpdateOpportunity(b.ctx, b.av, o.ID, func(o *crm.Opportunity) error {
		o.Status, o.Amount = crm.StatusWon, nil
		o.ContactIDs = []int64{c1.ID}
		return nil
	})
	must(t, err)
	got, _ = b.s.GetOpportunity(b.ctx, b.av, o.ID)
	if got.Status != crm.StatusWon || got.Amount != nil || fmt.Sprint(got.ContactIDs) != fmt.Sprint([]int64{c1.ID}) {
		t.Fatalf("after update = %+v", got)
	}
	open, err := b.s.CreateOpportunity(b.ctx, b.av, crm.Opportunity{Name: "Small", ContactIDs: []int64{c1.ID, c2.ID}, OwnerID: b.admin.ID, Status: crm.StatusOpen})
	must(t, err)
	for _, tc := range []struct {
		name string
		f    store.OpportunityFilter
		want []int64
	}{
		{"status", store.OpportunityFilter{Status: crm.StatusOpen}, []int64{open.ID}},
		{"contact", store.OpportunityFilter{ContactID: &c1.ID}, []int64{o.ID, open.ID}},
		{"contact 2", store.OpportunityFilter{ContactID: &c2.ID}, []int64{open.ID}},
		{"company", store.OpportunityFilter{CompanyID: &co.ID}, []int64{o.ID}},
		{"q", store.OpportunityFilter{ListParams: store.ListParams{Q: "BIG"}}, []int64{o.ID}},
	} {
		page, err := b.s.ListOpportunities(b.ctx, b.av, tc.f)
		must(t, err)
		sameIDs(t, tc.name, ids(page.Items, func(o crm.Opportunity) int64 { return o.ID }), append([]int64{}, tc.want...))
	}
	// Deleting a contact takes it off its opportunities.
	must(t, b.s.DeleteContact(b.ctx, b.av, c2.ID))
	got, _ = b.s.GetOpportunity(b.ctx, b.av, open.ID)
	if fmt.Sprint(got.ContactIDs) != fmt.Sprint([]int64{c1.ID}) {
		t.Fatalf("contact_ids after contact deletion = %v", got.ContactIDs)
	}
	must(t, b.s.DeleteOpportunity(b.ctx, b.av, o.ID))
	_, err = b.s.GetOpportunity(b.ctx, b.av, o.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testPagination(t *testing.T, f Factory) {
	b := setup(t, f)
	var want []int64
	for i := 0; i < 25; i++ {
		want = append(want, b.contact(t, b.av, fmt.Sprintf("c%02d", i), fmt.Sprintf("c%d@x.example", i)).ID)
	}
	var got []int64
	cursor := ""
	pages := 0
	for {
		page, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Limit: 10, Cursor: cursor}})
		must(t, err)
		pages++
		for _, c := range page.Items {
			got = append(got, c.ID)
			if len(c.Emails) != 1 {
				t.Fatalf("contact %d listed with emails %v", c.ID, c.Emails)
			}
		}
		if pages == 1 {
			// A record added mid-listing shows up at the end; none is
			// skipped or repeated.
			want = append(want, b.contact(t, b.av, "late", "late@x.example").ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%d pages, ids %v, want %v", pages, got, want)
	}
	// An exactly full last page has no next cursor.
	page, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Limit: 26}})
	must(t, err)
	if len(page.Items) != 26 || page.NextCursor != "" {
		t.Fatalf("full page: %d items, cursor %q", len(page.Items), page.NextCursor)
	}
	for _, bad := range []string{"garbage", "djE6LTE", store.EncodeCursor(1) + "x"} {
		_, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Cursor: bad}})
		wantErr(t, err, store.ErrBadCursor)
	}
}

func testConcurrentUpdates(t *testing.T, f Factory) {
	b := setup(t, f)
	c := b.contact(t, b.av, "Racy")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error {
				c.CustomFields[fmt.Sprintf("k%d", i)] = "v"
				return nil
			})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, _ := b.s.GetContact(b.ctx, b.av, c.ID)
	if len(got.CustomFields) != 20 {
		t.Fatalf("concurrent partial updates lost fields: %d of 20 kept", len(got.CustomFields))
	}
}

func testTokens(t *testing.T, f Factory) {
	b := setup(t, f)
	u, _ := b.user(t, "u@acme.example", crm.RoleMember, nil)
	now := time.Now()
	mk := func(kind crm.TokenKind, exp *time.Time) (crm.Token, []byte, error) {
		_, p, h := auth.NewToken()
		tok, err := b.s.CreateToken(b.ctx, store.TokenParams{OrgID: b.org.ID, UserID: u.ID, Name: "t", Kind: kind, Hash: h, Prefix: p, CreatedAt: now, ExpiresAt: exp})
		return tok, h, err
	}
	var hashes [][]byte
	var toks []crm.Token
	for i := 0; i < crm.MaxAPITokensPerUser; i++ {
		tok, h, err := mk(crm.TokenAPI, nil)
		must(t, err)
		toks, hashes = append(toks, tok), append(hashes, h)
	}
	_, _, err := mk(crm.TokenAPI, nil)
	wantErr(t, err, store.ErrTokenLimit)
	// Session tokens do not count against the limit.
	exp := now.Add(time.Hour)
	sess, sh, err := mk(crm.TokenSession, &exp)
	must(t, err)
	list, err := b.s.ListTokens(b.ctx, b.org.ID, u.ID, crm.TokenAPI, now)
	must(t, err)
	if len(list) != 10 || list[0].ID != toks[0].ID {
		t.Fatalf("list = %d tokens", len(list))
	}
	// Use, then see it in the list.
	tok, usr, err := b.s.TokenByHash(b.ctx, hashes[3], now)
	must(t, err)
	if tok.ID != toks[3].ID || usr.ID != u.ID || tok.LastUsedAt != nil {
		t.Fatalf("lookup = %+v %+v", tok, usr)
	}
	must(t, b.s.TouchToken(b.ctx, tok.ID, now))
	list, _ = b.s.ListTokens(b.ctx, b.org.ID, u.ID, crm.TokenAPI, now)
	if list[3].LastUsedAt == nil || !list[3].LastUsedAt.Equal(now.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("last used = %v", list[3].LastUsedAt)
	}
	// Revoke: gone from lookups and lists, and frees a place.
	wantErr(t, b.s.RevokeToken(b.ctx, b.org.ID, b.admin.ID, toks[3].ID, now), store.ErrNotFound) // not the admin's
	must(t, b.s.RevokeToken(b.ctx, b.org.ID, u.ID, toks[3].ID, now))
	wantErr(t, b.s.RevokeToken(b.ctx, b.org.ID, u.ID, toks[3].ID, now), store.ErrNotFound)
	_, _, err = b.s.TokenByHash(b.ctx, hashes[3], now)
	wantErr(t, err, store.ErrNotFound)
	_, _, err = mk(crm.TokenAPI, nil)
	must(t, err)
	// Session expiry.
	_, _, err = b.s.TokenByHash(b.ctx, sh, now)
	must(t, err)
	_, _, err = b.s.TokenByHash(b.ctx, sh, exp.Add(time.Second))
	wantErr(t, err, store.ErrNotFound)
	slist, _ := b.s.ListTokens(b.ctx, b.org.ID, u.ID, crm.TokenSession, now)
	if len(slist) != 1 || slist[0].ID != sess.ID {
		t.Fatalf("sessions = %+v", slist)
	}
	// Another organisation cannot touch them.
	other := newOrg(t, b.s, "other")
	wantErr(t, b.s.RevokeToken(b.ctx, other.org.ID, u.ID, toks[0].ID, now), store.ErrNotFound)
	_, err = b.s.CreateToken(b.ctx, store.TokenParams{OrgID: other.org.ID, UserID: u.ID, Name: "x", Kind: crm.TokenAPI, Hash: []byte("h"), Prefix: "p"})
	wantErr(t, err, store.ErrNotFound)
	// Maintenance purges the expired session and the revoked token.
	l, err := b.s.ClaimLease(b.ctx, "maintenance", "tokens", "me", time.Minute)
	must(t, err)
	n, err := b.s.PurgeTokens(b.ctx, l.Fence(), exp.Add(time.Second))
	must(t, err)
	if n != 2 {
		t.Fatalf("purged %d tokens, want 2", n)
	}
}

func testTokenLimitRace(t *testing.T, f Factory) {
	b := setup(t, f)
	u, _ := b.user(t, "u@acme.example", crm.RoleMember, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, p, h := auth.NewToken()
			_, err := b.s.CreateToken(b.ctx, store.TokenParams{OrgID: b.org.ID, UserID: u.ID, Name: "t", Kind: crm.TokenAPI, Hash: h, Prefix: p})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrTokenLimit):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != crm.MaxAPITokensPerUser || limited != 25-crm.MaxAPITokensPerUser {
		t.Fatalf("%d created, %d refused; want exactly %d created", ok, limited, crm.MaxAPITokensPerUser)
	}
}

func testCredentials(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	for i := 0; i < 5; i++ {
		must(t, b.s.PutCredential(b.ctx, store.Credential{ID: fmt.Sprintf("cred%d", i), OrgID: b.org.ID, Purpose: "imap_password", Ciphertext: []byte{1, byte(i)}}))
	}
	c, err := b.s.GetCredential(b.ctx, b.org.ID, "cred2")
	must(t, err)
	if c.Purpose != "imap_password" || string(c.Ciphertext) != string([]byte{1, 2}) || c.UpdatedAt.IsZero() {
		t.Fatalf("get = %+v", c)
	}
	_, err = b.s.GetCredential(b.ctx, other.org.ID, "cred2")
	wantErr(t, err, store.ErrNotFound)
	// Another organisation cannot overwrite it by reusing the id.
	must(t, b.s.PutCredential(b.ctx, store.Credential{ID: "cred2", OrgID: other.org.ID, Purpose: "x", Ciphertext: []byte{9}}))
	c, _ = b.s.GetCredential(b.ctx, b.org.ID, "cred2")
	if c.Ciphertext[0] != 1 {
		t.Fatal("credential overwritten across organisations")
	}
	must(t, b.s.PutCredential(b.ctx, store.Credential{ID: "cred2", OrgID: b.org.ID, Purpose: "imap_password", Ciphertext: []byte{2, 2}}))
	wantErr(t, b.s.ReplaceCiphertext(b.ctx, "cred2", []byte{1, 2}, []byte{3, 3}), store.ErrStale)
	must(t, b.s.ReplaceCiphertext(b.ctx, "cred2", []byte{2, 2}, []byte{3, 3}))
	c, _ = b.s.GetCredential(b.ctx, b.org.ID, "cred2")
	if c.Ciphertext[0] != 3 {
		t.Fatal("replace not applied")
	}
	var all []string
	after := ""
	for {
		page, err := b.s.ListCredentials(b.ctx, after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			all = append(all, c.ID)
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(all) != "[cred0 cred1 cred2 cred3 cred4]" {
		t.Fatalf("listed %v", all)
	}
	wantErr(t, b.s.DeleteCredential(b.ctx, other.org.ID, "cred1"), store.ErrNotFound)
	must(t, b.s.DeleteCredential(b.ctx, b.org.ID, "cred1"))
	_, err = b.s.GetCredential(b.ctx, b.org.ID, "cred1")
	wantErr(t, err, store.ErrNotFound)

	// A token set shared by the accounts of one sign-in goes with the
	// last of them, whoever asks to delete it first.
	var shared []int64
	for _, svc := range []crm.PIMService{crm.ServiceContacts, crm.ServiceCalendar} {
		a, err := b.s.CreatePIMAccount(b.ctx, b.av, crm.PIMAccount{UserID: b.admin.ID, Kind: crm.PIMMicrosoft, Service: svc,
			URL: "https://graph.example", Username: "ann@acme.example", CredentialID: "cred2"})
		must(t, err)
		shared = append(shared, a.ID)
	}
	must(t, b.s.DeleteCredential(b.ctx, b.org.ID, "cred2"))
	must(t, b.s.DeletePIMAccount(b.ctx, b.av, shared[0]))
	if _, err := b.s.GetCredential(b.ctx, b.org.ID, "cred2"); err != nil {
		t.Fatalf("a token set still used was deleted: %v", err)
	}
	must(t, b.s.DeletePIMAccount(b.ctx, b.av, shared[1]))
	_, err = b.s.GetCredential(b.ctx, b.org.ID, "cred2")
	wantErr(t, err, store.ErrNotFound)
}

func testLeases(t *testing.T, f Factory) {
	s, _ := f(t)
	ctx := context.Background()
	a, err := s.ClaimLease(ctx, "mail", "acct-1", "proc-a", time.Minute)
	must(t, err)
	if a.Generation != 1 || time.Until(a.ExpiresAt) < 50*time.Second {
		t.Fatalf("claim = %+v", a)
	}
	_, err = s.ClaimLease(ctx, "mail", "acct-1", "proc-b", time.Minute)
	wantErr(t, err, store.ErrLeaseHeld)
	// Re-claiming one's own lease keeps the generation.
	again, err := s.ClaimLease(ctx, "mail", "acct-1", "proc-a", time.Minute)
	must(t, err)
	if again.Generation != a.Generation {
		t.Fatalf("re-claim bumped the generation: %d -> %d", a.Generation, again.Generation)
	}
	// Other keys and kinds are independent.
	_, err = s.ClaimLease(ctx, "mail", "acct-2", "proc-b", time.Minute)
	must(t, err)
	_, err = s.ClaimLease(ctx, "pim", "acct-1", "proc-b", time.Minute)
	must(t, err)
	r, err := s.RenewLease(ctx, a, 2*time.Minute)
	must(t, err)
	if !r.ExpiresAt.After(a.ExpiresAt) {
		t.Fatal("renew did not extend")
	}
	must(t, s.CheckFence(ctx, r.Fence()))
	must(t, s.ReleaseLease(ctx, r))
	wantErr(t, s.CheckFence(ctx, r.Fence()), store.ErrLeaseLost)
	b, err := s.ClaimLease(ctx, "mail", "acct-1", "proc-b", time.Minute)
	must(t, err)
	if b.Generation != 2 {
		t.Fatalf("new holder generation = %d, want 2", b.Generation)
	}
	_, err = s.RenewLease(ctx, r, time.Minute)
	wantErr(t, err, store.ErrLeaseLost)
	wantErr(t, s.ReleaseLease(ctx, r), store.ErrLeaseLost)
	got, err := s.GetLease(ctx, "mail", "acct-1")
	must(t, err)
	if got.Owner != "proc-b" || got.Generation != 2 {
		t.Fatalf("lease row = %+v", got)
	}
	_, err = s.GetLease(ctx, "mail", "nope")
	wantErr(t, err, store.ErrNotFound)
	live, err := s.ListLeases(ctx)
	must(t, err)
	if len(live) != 3 || live[0].Kind != "mail" || live[0].Key != "acct-1" || live[0].Owner != "proc-b" {
		t.Fatalf("live leases = %+v", live)
	}
}

// testLeaseExpiry: a holder that stops renewing is replaced within the TTL,
// and its writes are refused from then on.
func testLeaseExpiry(t *testing.T, f Factory) {
	s, reopen := f(t)
	s2 := reopen(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	a, err := s.ClaimLease(ctx, "maintenance", "leader", "proc-a", ttl)
	must(t, err)
	start := time.Now()
	var b store.Lease
	for {
		b, err = s2.ClaimLease(ctx, "maintenance", "leader", "proc-b", time.Minute)
		if err == nil {
			break
		}
		wantErr(t, err, store.ErrLeaseHeld)
		if time.Since(start) > 5*ttl {
			t.Fatalf("lease not taken over %v after its holder stopped renewing (TTL %v)", time.Since(start), ttl)
		}
		time.Sleep(ttl / 10)
	}
	if b.Generation != a.Generation+1 {
		t.Fatalf("generation %d after takeover of %d", b.Generation, a.Generation)
	}
	_, err = s.RenewLease(ctx, a, ttl)
	wantErr(t, err, store.ErrLeaseLost)
	_, err = s.PurgeTokens(ctx, a.Fence(), time.Now())
	wantErr(t, err, store.ErrLeaseLost)
	_, err = s2.PurgeTokens(ctx, b.Fence(), time.Now())
	must(t, err)
}

// testLeaseRace: many contenders, each on its own connection pool as
// separate processes would be, claim one lease at once: exactly one wins.
func testLeaseRace(t *testing.T, f Factory) {
	s, reopen := f(t)
	ctx := context.Background()
	const n = 8
	handles := []store.Store{s}
	for i := 1; i < n; i++ {
		handles = append(handles, reopen(t))
	}
	for round := 0; round < 5; round++ {
		key := fmt.Sprintf("acct-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]error, n)
		gens := make([]int64, n)
		for i := range handles {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				l, err := handles[i].ClaimLease(ctx, "mail", key, fmt.Sprintf("proc-%d", i), time.Minute)
				results[i], gens[i] = err, l.Generation
			}(i)
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range results {
			switch {
			case err == nil:
				winners++
				if gens[i] != 1 {
					t.Fatalf("winner generation %d", gens[i])
				}
			case errors.Is(err, store.ErrLeaseHeld):
			default:
				t.Fatalf("contender %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d contenders won the lease", round, winners)
		}
	}
}

// testFencedWrites: a stale holder cannot write, even racing the new
// holder's claim.
func testFencedWrites(t *testing.T, f Factory) {
	s, reopen := f(t)
	s2 := reopen(t)
	ctx := context.Background()
	a, err := s.ClaimLease(ctx, "maintenance", "leader", "proc-a", time.Minute)
	must(t, err)
	_, err = s.PurgeTokens(ctx, a.Fence(), time.Now())
	must(t, err)
	forged := a.Fence()
	forged.Generation++
	_, err = s.PurgeTokens(ctx, forged, time.Now())
	wantErr(t, err, store.ErrLeaseLost)
	other := a.Fence()
	other.Owner = "proc-b"
	_, err = s.PurgeTokens(ctx, other, time.Now())
	wantErr(t, err, store.ErrLeaseLost)
	must(t, s.ReleaseLease(ctx, a))
	b, err := s2.ClaimLease(ctx, "maintenance", "leader", "proc-b", time.Minute)
	must(t, err)
	_, err = s.PurgeTokens(ctx, a.Fence(), time.Now())
	wantErr(t, err, store.ErrLeaseLost)
	_, err = s2.PurgeTokens(ctx, b.Fence(), time.Now())
	must(t, err)
}
