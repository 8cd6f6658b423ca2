package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	extraTests["Offboard"] = testOffboard
	extraTests["OffboardReports"] = testOffboardReports
	extraTests["OffboardLastAdmin"] = testOffboardLastAdmin
}

// offboardBundle is Ann (a member with a mailbox holding two messages)
// owning one record of every kind, with Bob reporting to her, a PIM
// account and an API token; Carl is who takes over.
type offboardBundle struct {
	mailBundle
	bob, carl crm.User
	records   map[string]int64
	token     []byte
	pim       crm.PIMAccount
}

func setupOffboard(t *testing.T, f Factory) offboardBundle {
	mb := setupMail(t, f)
	ob := offboardBundle{mailBundle: mb, records: map[string]int64{}}
	ob.bob, _ = mb.bundle.user(t, "bob@acme.example", crm.RoleMember, &mb.user.ID)
	ob.carl, _ = mb.bundle.user(t, "carl@acme.example", crm.RoleMember, nil)
	v := mb.uv
	co, err := mb.s.CreateCompany(mb.ctx, v, crm.Company{Name: "Initech", OwnerID: v.UserID})
	must(t, err)
	ct := mb.contact(t, v, "Peter", "peter@initech.example")
	op, err := mb.s.CreateOpportunity(mb.ctx, v, crm.Opportunity{Name: "Deal", CompanyID: &co.ID, OwnerID: v.UserID, Status: crm.StatusOpen})
	must(t, err)
	tk, err := mb.s.CreateTask(mb.ctx, v, crm.Task{OwnerID: v.UserID, Summary: "Call Peter", Status: crm.TaskNeedsAction})
	must(t, err)
	ev, err := mb.s.CreateEvent(mb.ctx, v, crm.Event{OwnerID: v.UserID, Summary: "Lunch", Start: crm.WhenOf(time.Now().UTC().Add(24*time.Hour), false)})
	must(t, err)
	ob.records = map[string]int64{"company": co.ID, "contact": ct.ID, "opportunity": op.ID, "task": tk.ID, "event": ev.ID}
	mb.save(t, mailFrom("peter@initech.example", "ann@acme.example"), mailFrom("peter@initech.example", "ann@acme.example"))
	ob.pim, err = mb.s.CreatePIMAccount(mb.ctx, v, crm.PIMAccount{UserID: v.UserID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.example/", Username: "ann"})
	must(t, err)
	_, p, h := auth.NewToken()
	_, err = mb.s.CreateToken(mb.ctx, store.TokenParams{OrgID: mb.org.ID, UserID: v.UserID, Name: "laptop", Kind: crm.TokenAPI, Hash: h, Prefix: p, CreatedAt: time.Now()})
	must(t, err)
	ob.token = h
	return ob
}

// owners returns the owner of each of Ann's records, read as the admin.
func (ob offboardBundle) owners(t *testing.T) map[string]int64 {
	t.Helper()
	ctx, v, s := ob.ctx, ob.av, ob.s
	out := map[string]int64{}
	co, err := s.GetCompany(ctx, v, ob.records["company"])
	must(t, err)
	ct, err := s.GetContact(ctx, v, ob.records["contact"])
	must(t, err)
	op, err := s.GetOpportunity(ctx, v, ob.records["opportunity"])
	must(t, err)
	tk, err := s.GetTask(ctx, v, ob.records["task"])
	must(t, err)
	ev, err := s.GetEvent(ctx, v, ob.records["event"])
	must(t, err)
	out["company"], out["contact"], out["opportunity"], out["task"], out["event"] = co.OwnerID, ct.OwnerID, op.OwnerID, tk.OwnerID, ev.OwnerID
	return out
}

func (ob offboardBundle) wantOwners(t *testing.T, want int64) {
	t.Helper()
	for k, got := range ob.owners(t) {
		if got != want {
			t.Fatalf("%s is owned by %d, want %d", k, got, want)
		}
	}
}

func testOffboard(t *testing.T, f Factory) {
	ob := setupOffboard(t, f)
	ann, ctx, s := ob.user, ob.ctx, ob.s
	h, err := s.UserHoldings(ctx, ob.org.ID, ann.ID)
	must(t, err)
	want := store.UserHoldings{Companies: 1, Contacts: 1, Opportunities: 1, Tasks: 1, Events: 1, Reports: 1, MailAccounts: 1, ConnectedMailAccounts: 1, PIMAccounts: 1}
	if h != want {
		t.Fatalf("holdings = %+v, want %+v", h, want)
	}
	_, err = s.UserHoldings(ctx, ob.org.ID, ann.ID+1000)
	wantErr(t, err, store.ErrNotFound)

	// Deleting without a successor, or with one while the mailbox is
	// connected and the PIM account exists, changes nothing.
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{Delete: true, At: time.Now()})
	wantErr(t, err, store.ErrInUse)
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{Delete: true, ReassignTo: &ob.carl.ID, By: ob.av.UserID, At: time.Now()})
	wantErr(t, err, store.ErrInUse)
	ob.wantOwners(t, ann.ID)
	if err := s.DeleteUser(ctx, ob.org.ID, ann.ID); err == nil {
		t.Fatal("DeleteUser removed a user who owns records")
	}

	// Successors that cannot be.
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{ReassignTo: &ann.ID, By: ob.av.UserID, At: time.Now()})
	wantField(t, err, "reassign_to", "same_user")
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{ReassignTo: ptr(ann.ID + 1000), By: ob.av.UserID, At: time.Now()})
	wantField(t, err, "reassign_to", "not_found")
	other := newOrg(t, s, "other")
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{ReassignTo: &other.admin.ID, By: ob.av.UserID, At: time.Now()})
	wantField(t, err, "reassign_to", "not_found")

	// Deactivating keeps her records and mailbox, ends her tokens.
	res, err := s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{At: time.Now()})
	must(t, err)
	if res.User.Active || res.User.DeactivatedAt == nil || res.TokensRevoked != 1 {
		t.Fatalf("deactivation = %+v, want an inactive user and 1 token revoked", res)
	}
	ob.wantOwners(t, ann.ID)
	if _, _, err := s.TokenByHash(ctx, ob.token, time.Now()); err == nil {
		t.Fatal("a deactivated user's token still works")
	}
	_, p, fresh := auth.NewToken()
	_, err = s.CreateToken(ctx, store.TokenParams{OrgID: ob.org.ID, UserID: ann.ID, Name: "late", Kind: crm.TokenSession, Hash: fresh, Prefix: p, CreatedAt: time.Now()})
	must(t, err)
	_, _, err = s.TokenByHash(ctx, fresh, time.Now())
	wantErr(t, err, store.ErrNotFound)
	if u, err := s.GetUser(ctx, ob.org.ID, ann.ID); err != nil || u.Active {
		t.Fatalf("GetUser = %+v, %v; want inactive", u, err)
	}
	if u, _, err := s.UserForLogin(ctx, ann.Email); err != nil || u.Active {
		t.Fatalf("UserForLogin = %+v, %v; want inactive", u, err)
	}
	// A deactivated user takes nothing over.
	_, err = s.OffboardUser(ctx, ob.org.ID, ob.carl.ID, store.OffboardParams{ReassignTo: &ann.ID, By: ob.av.UserID, At: time.Now()})
	wantField(t, err, "reassign_to", "inactive")

	// Reactivated, she signs in again with new tokens.
	u, err := s.ReactivateUser(ctx, ob.org.ID, ann.ID)
	must(t, err)
	if !u.Active || u.DeactivatedAt != nil {
		t.Fatalf("reactivated = %+v", u)
	}
	_, _, err = s.TokenByHash(ctx, fresh, time.Now())
	must(t, err)

	// Her mailbox disconnected and her PIM account gone, deleting her
	// hands everything to Carl: records, report, mailbox and messages.
	now := time.Now()
	until := now.Add(time.Hour)
	_, err = s.UpdateMailAccount(ctx, ob.av, ob.account.ID, func(a *crm.MailAccount) error {
		a.State, a.DisconnectedAt, a.RetainedUntil = crm.StateDisconnected, &now, &until
		return nil
	})
	must(t, err)
	must(t, s.DeletePIMAccount(ctx, ob.av, ob.pim.ID))
	// Handing over names no admin: refused, nothing moves.
	_, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{Delete: true, ReassignTo: &ob.carl.ID, At: time.Now()})
	if err == nil {
		t.Fatal("records were handed over with no admin named for their history")
	}
	ob.wantOwners(t, ann.ID)
	res, err = s.OffboardUser(ctx, ob.org.ID, ann.ID, store.OffboardParams{Delete: true, ReassignTo: &ob.carl.ID, By: ob.av.UserID, At: time.Now()})
	must(t, err)
	ob.wantReassignHistory(t, ann.ID, ob.carl.ID)
	wantMoved := store.UserHoldings{Companies: 1, Contacts: 1, Opportunities: 1, Tasks: 1, Events: 1, Reports: 1, MailAccounts: 1}
	if res.Reassigned != wantMoved || res.TokensRevoked != 1 {
		t.Fatalf("deleted: %+v, want %+v moved and 1 token revoked", res, wantMoved)
	}
	_, err = s.GetUser(ctx, ob.org.ID, ann.ID)
	wantErr(t, err, store.ErrNotFound)
	ob.wantOwners(t, ob.carl.ID)
	if b, err := s.GetUser(ctx, ob.org.ID, ob.bob.ID); err != nil || b.ManagerID == nil || *b.ManagerID != ob.carl.ID {
		t.Fatalf("Bob = %+v, %v; want Carl as manager", b, err)
	}
	a, err := s.GetMailAccount(ctx, ob.av, ob.account.ID)
	must(t, err)
	if a.UserID != ob.carl.ID || a.RetainedUntil == nil || !a.RetainedUntil.Equal(until.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("mailbox = owner %d retained until %v; want Carl's until %v", a.UserID, a.RetainedUntil, until)
	}
	carl := crm.Viewer{OrgID: ob.org.ID, UserID: ob.carl.ID, Role: crm.RoleMember}
	page, err := s.ListEmails(ctx, carl, store.EmailFilter{AccountID: &a.ID})
	must(t, err)
	if len(page.Items) != 2 || page.Items[0].OwnerID != ob.carl.ID {
		t.Fatalf("Carl sees %d messages of the mailbox (%+v), want its 2, his", len(page.Items), page.Items)
	}
	_, _, err = s.TokenByHash(ctx, fresh, time.Now())
	wantErr(t, err, store.ErrNotFound)

	// Nothing more is given to Ann once she is gone, nor to Bob
	// deactivated: as owner or as manager.
	_, err = s.OffboardUser(ctx, ob.org.ID, ob.bob.ID, store.OffboardParams{At: time.Now()})
	must(t, err)
	_, err = s.UpdateContact(ctx, ob.av, ob.records["contact"], func(c *crm.Contact) error { c.OwnerID = ob.bob.ID; return nil })
	wantField(t, err, "owner_id", "inactive")
	_, err = s.CreateTask(ctx, ob.av, crm.Task{OwnerID: ob.bob.ID, Summary: "Follow up", Status: crm.TaskNeedsAction})
	wantField(t, err, "owner_id", "inactive")
	_, err = s.UpdateUser(ctx, ob.org.ID, ob.carl.ID, func(p *store.UserParams) error { p.ManagerID = &ob.bob.ID; return nil })
	wantField(t, err, "manager_id", "inactive")
	_, err = s.CreateUser(ctx, ob.org.ID, store.UserParams{Email: "dan@acme.example", Name: "Dan", Role: crm.RoleMember, ManagerID: &ob.bob.ID})
	wantField(t, err, "manager_id", "inactive")
	// What Bob already holds stays editable: his manager stays Carl.
	_, err = s.UpdateUser(ctx, ob.org.ID, ob.bob.ID, func(p *store.UserParams) error { p.Name = "Bob B."; return nil })
	must(t, err)

	// Carl, who owns nothing, is deleted without a successor.
	_, err = s.OffboardUser(ctx, ob.org.ID, ob.bob.ID, store.OffboardParams{Delete: true, At: time.Now()})
	must(t, err)
}

// testOffboardReports: a direct report who takes over moves up to the
// leaver's manager; one deeper in the team is refused (a cycle).
func testOffboardReports(t *testing.T, f Factory) {
	b := setup(t, f)
	boss, _ := b.user(t, "boss@acme.example", crm.RoleManager, nil)
	ann, _ := b.user(t, "ann@acme.example", crm.RoleManager, &boss.ID)
	bob, _ := b.user(t, "bob@acme.example", crm.RoleManager, &ann.ID)
	cid, _ := b.user(t, "cid@acme.example", crm.RoleMember, &ann.ID)
	deep, _ := b.user(t, "deep@acme.example", crm.RoleMember, &bob.ID)
	_, err := b.s.OffboardUser(b.ctx, b.org.ID, ann.ID, store.OffboardParams{Delete: true, ReassignTo: &deep.ID, By: b.admin.ID, At: time.Now()})
	wantField(t, err, "reassign_to", "cycle")
	res, err := b.s.OffboardUser(b.ctx, b.org.ID, ann.ID, store.OffboardParams{Delete: true, ReassignTo: &bob.ID, By: b.admin.ID, At: time.Now()})
	must(t, err)
	if res.Reassigned.Reports != 2 {
		t.Fatalf("reports reassigned = %d, want 2", res.Reassigned.Reports)
	}
	for id, want := range map[int64]*int64{bob.ID: &boss.ID, cid.ID: &bob.ID, deep.ID: &bob.ID} {
		u, err := b.s.GetUser(b.ctx, b.org.ID, id)
		must(t, err)
		if u.ManagerID == nil || *u.ManagerID != *want {
			t.Fatalf("%s reports to %v, want %d", u.Email, u.ManagerID, *want)
		}
	}
}

// testOffboardLastAdmin: the last active admin can be neither deactivated
// nor deleted, and a deactivated admin does not count as another.
func testOffboardLastAdmin(t *testing.T, f Factory) {
	b := setup(t, f)
	second, _ := b.user(t, "second@acme.example", crm.RoleAdmin, nil)
	_, err := b.s.OffboardUser(b.ctx, b.org.ID, second.ID, store.OffboardParams{At: time.Now()})
	must(t, err)
	for _, del := range []bool{false, true} {
		_, err = b.s.OffboardUser(b.ctx, b.org.ID, b.admin.ID, store.OffboardParams{Delete: del, At: time.Now()})
		wantField(t, err, "role", "last_admin")
	}
	_, err = b.s.UpdateUser(b.ctx, b.org.ID, b.admin.ID, func(p *store.UserParams) error { p.Role = crm.RoleMember; return nil })
	wantField(t, err, "role", "last_admin")
	// Deleting the deactivated admin needs no other.
	_, err = b.s.OffboardUser(b.ctx, b.org.ID, second.ID, store.OffboardParams{Delete: true, At: time.Now()})
	must(t, err)
}

// wantReassignHistory checks that each of the leaver's records has, as its
// newest history entry, its change of owner from to, by the admin.
func (ob offboardBundle) wantReassignHistory(t *testing.T, from, to int64) {
	t.Helper()
	for kind, id := range ob.records {
		p, err := ob.s.RecordHistory(ob.ctx, ob.av, store.RecordKind(kind), id, store.ListParams{Limit: 1})
		must(t, err)
		if len(p.Items) != 1 {
			t.Fatalf("%s %d has no history", kind, id)
		}
		e := p.Items[0]
		if e.Action != store.HistoryUpdate || e.Field != "owner_id" || e.Old == nil || *e.Old != strconv.FormatInt(from, 10) ||
			e.New == nil || *e.New != strconv.FormatInt(to, 10) || e.UserID == nil || *e.UserID != ob.av.UserID || e.PIMAccountID != nil {
			t.Fatalf("%s %d: newest history entry = %+v, want owner_id %d → %d by admin %d", kind, id, e, from, to, ob.av.UserID)
		}
	}
}
