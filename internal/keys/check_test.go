package keys

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Check tells a keyring that opens every stored credential from one that
// lost a key, or is another installation's.
func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k1, k2 := secret.NewKey(), secret.NewKey()
	k1.ID, k2.ID = "k1", "k2"
	both, err := secret.NewKeyring(k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	k2only, err := secret.NewKeyring(k2)
	if err != nil {
		t.Fatal(err)
	}
	old, err := secret.NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBundle{st: newMemStore(), plain: map[string]string{}}
	n := pageSize + 30 // over more than a page
	for i := range n {
		id := fmt.Sprintf("cred-%05d", i)
		tb.plain[id] = fmt.Sprintf("password-%d", i)
		kr := both
		if i%4 == 0 {
			kr = old
			tb.oldCount++
		}
		tb.put(t, kr, id, tb.plain[id])
	}
	res, err := Check(ctx, tb.st, both)
	if err != nil || res.Checked != n || res.Failed != 0 || len(res.MissingKeys) != 0 || len(res.Orgs) != 0 {
		t.Fatalf("the right keyring: %+v, %v", res, err)
	}

	// k1 lost: the credentials under it fail, and k1 is named.
	res, err = Check(ctx, tb.st, k2only)
	if err != nil || res.Failed != tb.oldCount || fmt.Sprint(res.MissingKeys) != "[k1]" || fmt.Sprint(res.Orgs) != "[1]" {
		t.Fatalf("a keyring without k1: %+v, %v", res, err)
	}

	// Another installation's key with the same id opens nothing.
	other := secret.NewKey()
	other.ID = "k2"
	stranger, err := secret.NewKeyring(other)
	if err != nil {
		t.Fatal(err)
	}
	tb.st.PutCredential(ctx, store.Credential{ID: "garbage", OrgID: 2, Ciphertext: []byte("not a sealed value")})
	res, err = Check(ctx, tb.st, stranger)
	if err != nil || res.Failed != n+1 || fmt.Sprint(res.Orgs) != "[1 2]" {
		t.Fatalf("a stranger's keyring: %+v, %v", res, err)
	}

	tb.st.listErr = fmt.Errorf("database gone")
	if _, err := Check(ctx, tb.st, both); err == nil {
		t.Fatal("a store error was not reported")
	}
}
