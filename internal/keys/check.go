package keys

import (
	"context"
	"slices"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// CheckResult says whether a keyring opens the credentials a database
// holds. A server started with the wrong key (a lost crmsync.db.key, a key
// file of another installation) would otherwise only show it account by
// account, as sync failures.
type CheckResult struct {
	Checked int // credentials tried
	Failed  int // of them, those the keyring cannot open
	// MissingKeys are the key ids of failed credentials that the keyring
	// does not hold, sorted; "" for a ciphertext without a readable id.
	MissingKeys []string
	// Orgs are the organisations with at least one failed credential.
	Orgs []int64
}

// Check tries to open every stored credential with kr (AES-GCM: cheap
// next to reading the rows) and counts those that fail. Only a store
// error is returned as an error.
func Check(ctx context.Context, st store.Credentials, kr *secret.Keyring) (CheckResult, error) {
	var res CheckResult
	held := map[string]bool{}
	for _, kid := range kr.KeyIDs() {
		held[kid] = true
	}
	err := each(ctx, st, func(c store.Credential) error {
		res.Checked++
		plaintext, err := kr.Open(c.Ciphertext, secret.CredentialAD(c.ID))
		clear(plaintext)
		if err == nil {
			return nil
		}
		res.Failed++
		if kid, _ := secret.KeyID(c.Ciphertext); !held[kid] && !slices.Contains(res.MissingKeys, kid) {
			res.MissingKeys = append(res.MissingKeys, kid)
		}
		if !slices.Contains(res.Orgs, c.OrgID) {
			res.Orgs = append(res.Orgs, c.OrgID)
		}
		return nil
	})
	slices.Sort(res.MissingKeys)
	slices.Sort(res.Orgs)
	return res, err
}
