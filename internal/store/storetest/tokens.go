package storetest

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// testRevokeUserTokens: a password change ends a user's sessions but the
// one making it, and leaves API tokens and other users alone.
func testRevokeUserTokens(t *testing.T, f Factory) {
	b := setup(t, f)
	u, _ := b.user(t, "u@acme.example", crm.RoleMember, nil)
	v, _ := b.user(t, "v@acme.example", crm.RoleMember, nil)
	now := time.Now()
	exp := now.Add(time.Hour)
	mk := func(user int64, kind crm.TokenKind, exp *time.Time) []byte {
		_, p, h := auth.NewToken()
		_, err := b.s.CreateToken(b.ctx, store.TokenParams{OrgID: b.org.ID, UserID: user, Name: "t", Kind: kind, Hash: h, Prefix: p, CreatedAt: now, ExpiresAt: exp})
		must(t, err)
		return h
	}
	active := func(h []byte) bool {
		_, _, err := b.s.TokenByHash(b.ctx, h, now)
		return err == nil
	}
	s1, s2, s3 := mk(u.ID, crm.TokenSession, &exp), mk(u.ID, crm.TokenSession, &exp), mk(u.ID, crm.TokenSession, &exp)
	api := mk(u.ID, crm.TokenAPI, nil)
	other := mk(v.ID, crm.TokenSession, &exp)
	keep, _, err := b.s.TokenByHash(b.ctx, s2, now)
	must(t, err)

	n, err := b.s.RevokeUserTokens(b.ctx, b.org.ID, u.ID, crm.TokenSession, keep.ID, now)
	must(t, err)
	if n != 2 || active(s1) || !active(s2) || active(s3) || !active(api) || !active(other) {
		t.Fatalf("revoked %d; active: s1 %v s2 %v s3 %v api %v other user %v; want 2, only s2, api and the other user's",
			n, active(s1), active(s2), active(s3), active(api), active(other))
	}
	// Again: nothing left to revoke. Another organisation revokes nothing.
	if n, err := b.s.RevokeUserTokens(b.ctx, b.org.ID, u.ID, crm.TokenSession, keep.ID, now); err != nil || n != 0 {
		t.Fatalf("second revoke = %d, %v", n, err)
	}
	o := newOrg(t, b.s, "other")
	if n, err := b.s.RevokeUserTokens(b.ctx, o.org.ID, u.ID, crm.TokenSession, 0, now); err != nil || n != 0 || !active(s2) {
		t.Fatalf("revoke from another organisation = %d, %v", n, err)
	}
	// Without an exception every session goes; API tokens only when asked.
	if n, err := b.s.RevokeUserTokens(b.ctx, b.org.ID, u.ID, crm.TokenSession, 0, now); err != nil || n != 1 || active(s2) || !active(api) {
		t.Fatalf("revoke all sessions = %d, %v", n, err)
	}
	if n, err := b.s.RevokeUserTokens(b.ctx, b.org.ID, u.ID, crm.TokenAPI, 0, now); err != nil || n != 1 || active(api) {
		t.Fatalf("revoke API tokens = %d, %v", n, err)
	}
	// Deleting a user ends every token they had.
	vapi := mk(v.ID, crm.TokenAPI, nil)
	must(t, b.s.DeleteUser(b.ctx, b.org.ID, v.ID))
	if active(other) || active(vapi) {
		t.Fatal("a deleted user's tokens still work")
	}
}
