package users_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/users"
)

// Creating and changing users: who may, the checks of each field, the
// last admin, a taken email, and the password hashed only once the rest
// passed.
func TestCreateAndUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		ctx := context.Background()
		st, _ := f(t)
		_, prefix, hash := auth.NewToken()
		org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "ada@acme.test", AdminName: "Ada",
			TokenName: "init", TokenHash: hash, TokenPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		svc := users.New(users.Config{Store: st, Accounts: accounts.New(accounts.Config{Store: st})})
		av := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}

		hashed := 0
		pw := func(context.Context, crm.User) (string, error) { hashed++; return "hash", nil }
		// Refusals name the field, before any hashing.
		for _, c := range []struct {
			in    users.NewUser
			field string
		}{
			{users.NewUser{Name: "No Email", Password: pw}, "email"},
			{users.NewUser{Email: "not an email", Name: "X", Password: pw}, "email"},
			{users.NewUser{Email: "x@acme.test", Name: " ", Password: pw}, "name"},
			{users.NewUser{Email: "x@acme.test", Name: "X", Role: "boss", Password: pw}, "role"},
		} {
			_, err := svc.Create(ctx, av, c.in)
			var fe *crm.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("Create(%+v): %v, want a field error on %s", c.in, err, c.field)
			}
		}
		if hashed != 0 {
			t.Errorf("a refused creation hashed the password %d times", hashed)
		}

		mona, err := svc.Create(ctx, av, users.NewUser{Email: " Mona@ACME.test ", Name: "Mona", Role: crm.RoleManager, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		if mona.Email != "mona@acme.test" || mona.Role != crm.RoleManager || hashed != 1 {
			t.Errorf("created %+v (hashed %d times)", mona, hashed)
		}
		nils, err := svc.Create(ctx, av, users.NewUser{Email: "nils@acme.test", Name: "Nils", ManagerID: &mona.ID})
		if err != nil || nils.Role != crm.RoleMember || nils.ManagerID == nil || *nils.ManagerID != mona.ID {
			t.Fatalf("created %+v, %v", nils, err)
		}
		_, err = svc.Create(ctx, av, users.NewUser{Email: "NILS@acme.test", Name: "Nils again"})
		if !errors.Is(err, users.ErrConflict) {
			t.Errorf("a taken email: %v", err)
		}
		nv := crm.Viewer{OrgID: org.ID, UserID: nils.ID, Role: crm.RoleMember}
		if _, err := svc.Create(ctx, nv, users.NewUser{Email: "y@acme.test", Name: "Y"}); !errors.Is(err, users.ErrForbidden) {
			t.Errorf("a member creates a user: %v", err)
		}

		// Members change their own name and language, nothing else.
		sv, name := "sv", "Nils N."
		u, err := svc.Update(ctx, nv, nils.ID, users.Changes{Name: &name, Language: &sv})
		if err != nil || u.Name != "Nils N." || u.Language != "sv" {
			t.Errorf("own name and language: %+v, %v", u, err)
		}
		de := "de"
		var fe *crm.FieldError
		if _, err := svc.Update(ctx, nv, nils.ID, users.Changes{Language: &de}); !errors.As(err, &fe) || fe.Field != "language" {
			t.Errorf("language de: %v", err)
		}
		role := crm.RoleAdmin
		var ue *users.Error
		if _, err := svc.Update(ctx, nv, nils.ID, users.Changes{Role: &role}); !errors.As(err, &ue) || !errors.Is(err, users.ErrForbidden) || ue.Field != "role" {
			t.Errorf("a member makes themself admin: %v", err)
		}
		if _, err := svc.Update(ctx, nv, mona.ID, users.Changes{Name: &name}); !errors.Is(err, users.ErrForbidden) {
			t.Errorf("a member renames someone else: %v", err)
		}

		// Admins change roles and managers, but keep an admin.
		u, err = svc.Update(ctx, av, nils.ID, users.Changes{Role: &role, SetManager: true})
		if err != nil || u.Role != crm.RoleAdmin || u.ManagerID != nil {
			t.Errorf("promoted: %+v, %v", u, err)
		}
		member := crm.RoleMember
		if _, err := svc.Update(ctx, av, nils.ID, users.Changes{Role: &member}); err != nil {
			t.Errorf("demoting one of two admins: %v", err)
		}
		if _, err := svc.Update(ctx, av, admin.ID, users.Changes{Role: &member}); !errors.As(err, &fe) || fe.Field != "role" {
			t.Errorf("demoting the last admin: %v", err)
		}
		if _, err := svc.Update(ctx, av, nils.ID, users.Changes{SetManager: true, ManagerID: &nils.ID}); !errors.As(err, &fe) || fe.Field != "manager_id" {
			t.Errorf("their own manager: %v", err)
		}
		taken := "mona@acme.test"
		if _, err := svc.Update(ctx, av, nils.ID, users.Changes{Email: &taken}); !errors.Is(err, users.ErrConflict) {
			t.Errorf("a taken email: %v", err)
		}
		if _, err := svc.Update(ctx, av, 987654, users.Changes{Name: &name}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown user: %v", err)
		}
	})
}
