package signin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// A user without a password (one who signs in through single sign-on)
// sets a first one and then signs in with it; a second call is refused
// (changing a password needs the current one, elsewhere).
func TestSetFirstPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		ctx := context.Background()
		st, _ := f(t)
		_, prefix, h := auth.NewToken()
		org, _, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.test", AdminName: "Admin",
			TokenName: "init", TokenHash: h, TokenPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateUser(ctx, org.ID, store.UserParams{Email: "mario@acme.test", Name: "Mario", Role: crm.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		svc := signin.New(signin.Config{Store: st})
		if has, err := svc.HasPassword(ctx, u); err != nil || has {
			t.Fatalf("before: %v %v", has, err)
		}
		if err := svc.SetFirstPassword(ctx, u, "short"); !errors.Is(err, auth.ErrWeakPassword) {
			t.Fatalf("a short password: %v", err)
		}
		if err := svc.SetFirstPassword(ctx, u, "a-long-enough-password"); err != nil {
			t.Fatal(err)
		}
		if has, err := svc.HasPassword(ctx, u); err != nil || !has {
			t.Fatalf("after: %v %v", has, err)
		}
		if got, err := svc.Password(ctx, "mario@acme.test", "a-long-enough-password", signin.Client{Key: "addr:test"}); err != nil || got.ID != u.ID {
			t.Fatalf("signing in with it: %+v %v", got, err)
		}
		if err := svc.SetFirstPassword(ctx, u, "another-long-password"); !errors.Is(err, signin.ErrHasPassword) {
			t.Fatalf("a second time: %v", err)
		}
		if _, err := svc.Password(ctx, "mario@acme.test", "another-long-password", signin.Client{Key: "addr:test"}); !errors.Is(err, signin.ErrBadCredentials) {
			t.Fatalf("the refused password works: %v", err)
		}
	})
}
