package pimfake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/pimfake"
)

// TestContract: the fake answers as the DAV adapter does — conditional
// writes, pim's sentinels, tokens that list only what changed since and
// are forgotten on a reset.
func TestContract(t *testing.T) {
	ctx := context.Background()
	r := pimfake.New(pim.Contacts, "/c/", nil)
	var _ pim.ModTimer = r
	f := pim.Fields{pim.FieldFirstName: pim.Str("Ann")}

	full, err := r.Changes(ctx, "")
	if err != nil || !full.Full || len(full.Items) != 0 || full.Token == "" {
		t.Fatalf("empty listing: %+v, %v", full, err)
	}
	ann, err := r.Create(ctx, "ann", f)
	if err != nil || ann.Href != "/c/ann.vcf" || ann.ETag == "" || ann.Type != pim.RecordContact {
		t.Fatalf("Create: %+v, %v", ann, err)
	}
	if got, err := r.Create(ctx, "ann", f); !errors.Is(err, pim.ErrExists) || got.Href != ann.Href {
		t.Errorf("second Create: %+v, %v; want ErrExists with the href", got, err)
	}
	bob := r.Put("bob.vcf", "bob", pim.Fields{pim.FieldFirstName: pim.Str("Bob")})
	ch, err := r.Changes(ctx, full.Token)
	if err != nil || ch.Full || len(ch.Items) != 2 {
		t.Fatalf("changes since the empty listing: %+v, %v", ch, err)
	}

	f[pim.FieldTitle] = pim.Str("CTO")
	up, err := r.Update(ctx, ann, f)
	if err != nil || up.ETag == ann.ETag || up.Fields[pim.FieldTitle].Str != "CTO" {
		t.Fatalf("Update: %+v, %v", up, err)
	}
	if _, err := r.Update(ctx, ann, f); !errors.Is(err, pim.ErrPrecondition) {
		t.Errorf("Update with a stale ETag: %v, want ErrPrecondition", err)
	}
	r.Delete(bob)
	if _, err := r.Update(ctx, pim.RemoteItem{Href: bob}, f); !errors.Is(err, pim.ErrGone) {
		t.Errorf("Update of a deleted item: %v, want ErrGone", err)
	}
	since, err := r.Changes(ctx, ch.Token)
	if err != nil || len(since.Items) != 1 || since.Items[0].Href != ann.Href || len(since.Deleted) != 1 || since.Deleted[0] != bob {
		t.Errorf("changes since: %+v, %v; want Ann changed, Bob deleted", since, err)
	}

	r.ResetTokens()
	if _, err := r.Changes(ctx, since.Token); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Errorf("a token given before the reset: %v, want ErrTokenInvalid", err)
	}
	again, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := r.Changes(ctx, again.Token); err != nil || len(ch.Items)+len(ch.Deleted) != 0 {
		t.Errorf("a token given after the reset: %+v, %v", ch, err)
	}
}
