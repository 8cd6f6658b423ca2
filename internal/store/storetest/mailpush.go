package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	extraTests["MailSubscriptions"] = testMailSubscriptions
	extraTests["IdleTokenSets"] = testIdleTokenSets
	extraTests["MailNewsByAddress"] = testMailNewsByAddress
}

// Gmail's push names a mailbox by address: every connected account of the
// provider at that address with a subscription gets the news, whatever
// the case of the address; others, unsubscribed or disconnected ones do
// not.
func testMailNewsByAddress(t *testing.T, f Factory) {
	b := setupMail(t, f)
	bob, bv := b.bundle.user(t, "bob@acme.example", crm.RoleMember, nil)
	google := func(uid int64, v crm.Viewer, email string) int64 {
		a, err := b.s.CreateMailAccount(b.ctx, v, crm.MailAccount{UserID: uid, Email: email, Provider: "google",
			Mode: crm.ModeSync, State: crm.StateConnecting})
		must(t, err)
		return a.ID
	}
	ann1 := google(b.user.ID, b.uv, "Shared@Acme.example")
	bob1 := google(bob.ID, bv, "shared@acme.example")
	unsubscribed := google(bob.ID, bv, "other@acme.example")
	exp := time.Date(2030, 1, 4, 9, 0, 0, 0, time.UTC)
	for _, id := range []int64{ann1, bob1, b.account.ID} {
		must(t, b.s.PutMailSubscription(b.ctx, store.MailSubscription{AccountID: id, SubscriptionID: fmt.Sprint("w-", id), ExpiresAt: exp}))
	}
	ids, err := b.s.MarkMailNewsByAddress(b.ctx, "google", "SHARED@acme.example")
	must(t, err)
	if len(ids) != 2 || ids[0] != ann1 || ids[1] != bob1 {
		t.Fatalf("marked %v, want %d and %d", ids, ann1, bob1)
	}
	for _, id := range []int64{ann1, bob1} {
		if news, err := b.s.TakeMailNews(b.ctx, id); err != nil || !news {
			t.Fatalf("account %d: news %v, %v", id, news, err)
		}
	}
	// Another provider's account at an address, one without a
	// subscription: nothing.
	for _, q := range [][2]string{{"google", "ann@acme.example"}, {"imap", "shared@acme.example"}, {"google", "other@acme.example"}} {
		if ids, err := b.s.MarkMailNewsByAddress(b.ctx, q[0], q[1]); err != nil || len(ids) != 0 {
			t.Fatalf("%v: marked %v, %v", q, ids, err)
		}
	}
	if news, _ := b.s.TakeMailNews(b.ctx, unsubscribed); news {
		t.Fatal("an account without a subscription got news")
	}
	// A disconnected one: nothing.
	_, err = b.s.UpdateMailAccount(b.ctx, bv, bob1, func(a *crm.MailAccount) error {
		now := time.Now()
		a.DisconnectedAt, a.State = &now, crm.StateDisconnected
		return nil
	})
	must(t, err)
	if ids, err := b.s.MarkMailNewsByAddress(b.ctx, "google", "shared@acme.example"); err != nil || len(ids) != 1 || ids[0] != ann1 {
		t.Fatalf("after bob disconnected: %v, %v", ids, err)
	}
}

func testMailSubscriptions(t *testing.T, f Factory) {
	b := setupMail(t, f)
	id := b.account.ID
	if s, err := b.s.MailSubscription(b.ctx, id); err != nil || s != nil {
		t.Fatalf("no subscription yet: %+v, %v", s, err)
	}
	if news, err := b.s.TakeMailNews(b.ctx, id); err != nil || news {
		t.Fatalf("news without a subscription: %v, %v", news, err)
	}
	exp := time.Date(2030, 1, 4, 9, 0, 0, 0, time.UTC)
	must(t, b.s.PutMailSubscription(b.ctx, store.MailSubscription{AccountID: id, SubscriptionID: "sub-1", ClientStateHash: "h1", ExpiresAt: exp}))
	s, err := b.s.MailSubscriptionByID(b.ctx, "sub-1")
	if err != nil || s == nil || s.AccountID != id || s.ClientStateHash != "h1" || !s.ExpiresAt.Equal(exp) || s.News || s.UpdatedAt.IsZero() {
		t.Fatalf("by id: %+v, %v", s, err)
	}
	if s, err := b.s.MailSubscriptionByID(b.ctx, "sub-2"); err != nil || s != nil {
		t.Fatalf("unknown id: %+v, %v", s, err)
	}

	// News is taken once, by whoever asks first.
	must(t, b.s.MarkMailNews(b.ctx, "sub-1"))
	must(t, b.s.MarkMailNews(b.ctx, "sub-1"))
	must(t, b.s.MarkMailNews(b.ctx, "unknown"))
	if s, err := b.s.MailSubscription(b.ctx, id); err != nil || !s.News {
		t.Fatalf("news not recorded: %+v, %v", s, err)
	}
	if news, err := b.s.TakeMailNews(b.ctx, id); err != nil || !news {
		t.Fatalf("take news: %v, %v", news, err)
	}
	if news, err := b.s.TakeMailNews(b.ctx, id); err != nil || news {
		t.Fatalf("news taken twice: %v, %v", news, err)
	}

	// A new subscription replaces the old; news left meanwhile stays.
	must(t, b.s.MarkMailNews(b.ctx, "sub-1"))
	must(t, b.s.PutMailSubscription(b.ctx, store.MailSubscription{AccountID: id, SubscriptionID: "sub-2", ClientStateHash: "h2", ExpiresAt: exp}))
	if s, _ := b.s.MailSubscriptionByID(b.ctx, "sub-1"); s != nil {
		t.Fatalf("the replaced subscription is still found: %+v", s)
	}
	if s, err := b.s.MailSubscription(b.ctx, id); err != nil || s == nil || s.SubscriptionID != "sub-2" || !s.News {
		t.Fatalf("replaced: %+v, %v", s, err)
	}

	// Reauthorization: due now, not later than it was.
	now := exp.Add(-48 * time.Hour)
	must(t, b.s.ExpireMailSubscription(b.ctx, "sub-2", now))
	if s, _ := b.s.MailSubscription(b.ctx, id); s == nil || !s.ExpiresAt.Equal(now) {
		t.Fatalf("expired: %+v", s)
	}
	must(t, b.s.ExpireMailSubscription(b.ctx, "sub-2", exp))
	if s, _ := b.s.MailSubscription(b.ctx, id); s == nil || !s.ExpiresAt.Equal(now) {
		t.Fatalf("expiring later moved the expiry: %+v", s)
	}

	// Deleting another subscription's id leaves this one.
	must(t, b.s.DeleteMailSubscription(b.ctx, id, "sub-1"))
	if s, _ := b.s.MailSubscription(b.ctx, id); s == nil {
		t.Fatal("deleted by a stale id")
	}
	must(t, b.s.DeleteMailSubscription(b.ctx, id, "sub-2"))
	if s, _ := b.s.MailSubscription(b.ctx, id); s != nil {
		t.Fatalf("not deleted: %+v", s)
	}
	must(t, b.s.PutMailSubscription(b.ctx, store.MailSubscription{AccountID: id, SubscriptionID: "sub-3", ClientStateHash: "h3", ExpiresAt: exp}))
	must(t, b.s.DeleteMailSubscription(b.ctx, id, ""))
	if s, _ := b.s.MailSubscription(b.ctx, id); s != nil {
		t.Fatalf("not deleted by account: %+v", s)
	}
}

func testIdleTokenSets(t *testing.T, f Factory) {
	b := setupMail(t, f) // an IMAP account with a password: never listed
	account := func(email, cred string) crm.MailAccount {
		a, err := b.s.CreateMailAccount(b.ctx, b.uv, crm.MailAccount{UserID: b.user.ID, Email: email, Provider: "microsoft",
			Mode: crm.ModeSync, State: crm.StateConnecting, CredentialID: cred})
		must(t, err)
		must(t, b.s.PutCredential(b.ctx, store.Credential{ID: cred, OrgID: b.org.ID, Purpose: "oauth_token", Ciphertext: []byte(cred)}))
		return a
	}
	account("old@acme.example", "tok-old")
	gone := account("gone@acme.example", "tok-gone")
	time.Sleep(5 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)
	account("new@acme.example", "tok-new")
	_, err := b.s.UpdateMailAccount(b.ctx, b.uv, gone.ID, func(a *crm.MailAccount) error {
		now := time.Now()
		a.DisconnectedAt, a.State = &now, crm.StateDisconnected
		return nil
	})
	must(t, err)

	got, err := b.s.IdleTokenSets(b.ctx, cutoff, 10)
	must(t, err)
	if len(got) != 1 || got[0].CredentialID != "tok-old" || got[0].Provider != "microsoft" || got[0].OrgID != b.org.ID {
		t.Fatalf("idle token sets: %+v, want tok-old only (tok-gone's mailbox is disconnected, tok-new was written after the cutoff)", got)
	}
	// A refresh writes the set: it is no longer idle.
	must(t, b.s.ReplaceCiphertext(b.ctx, "tok-old", []byte("tok-old"), []byte("tok-old-2")))
	time.Sleep(5 * time.Millisecond)
	got, err = b.s.IdleTokenSets(b.ctx, time.Now(), 10)
	must(t, err)
	if len(got) != 2 || got[0].CredentialID != "tok-new" || got[1].CredentialID != "tok-old" {
		t.Fatalf("after a refresh: %+v, want tok-new then tok-old (oldest first)", got)
	}
}
