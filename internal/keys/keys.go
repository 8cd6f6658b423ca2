// Package keys drives key rotation: it re-encrypts stored credentials under
// the active secret key, and counts credentials per key so an operator knows
// when an old key can be removed (see package secret for the procedure).
//
// Rotation runs beside live servers. It never takes a lock on the data: each
// row is rewritten with a compare-and-swap (store ReplaceCiphertext), so a
// credential a user saved meanwhile is never overwritten with the old value.
// A run can be interrupted and started again at any time; rows already under
// the active key are skipped.
package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// pageSize is how many credentials are read per query.
const pageSize = 200

// Result counts what a rotation did.
type Result struct {
	Scanned     int // credentials looked at
	Reencrypted int // rewritten under the active key by this run
	// Failed counts credentials left as they were: they do not open (their
	// key is missing, or they were damaged or moved to another row), or
	// they changed twice while this run tried to rewrite them.
	Failed    int
	FailedIDs []string
}

// Rotate re-encrypts, under kr's active key, every credential sealed under
// another key. A credential that cannot be re-encrypted is counted as Failed
// and reported through log by ID; it never stops the run, since one bad row
// must not keep every other from moving to the new key. A store error does
// stop it (the run can be repeated). log may be nil.
func Rotate(ctx context.Context, st store.Credentials, kr *secret.Keyring, log func(format string, args ...any)) (Result, error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	var res Result
	err := each(ctx, st, func(c store.Credential) error {
		res.Scanned++
		rewritten, failure, err := rotateOne(ctx, st, kr, c)
		switch {
		case err != nil:
			return fmt.Errorf("keys: credential %s: %w", c.ID, err)
		case failure != nil:
			res.Failed++
			res.FailedIDs = append(res.FailedIDs, c.ID)
			log("credential %s (org %d, %s): %v", c.ID, c.OrgID, c.Purpose, failure)
		case rewritten:
			res.Reencrypted++
		}
		return nil
	})
	return res, err
}

// rotateOne moves one credential to the active key. failure is a problem
// with this credential; err is a problem with the store.
func rotateOne(ctx context.Context, st store.Credentials, kr *secret.Keyring, c store.Credential) (rewritten bool, failure, err error) {
	ad := secret.CredentialAD(c.ID)
	for attempt := 0; ; attempt++ {
		if kid, err := secret.KeyID(c.Ciphertext); err == nil && kid == kr.ActiveKeyID() {
			return false, nil, nil
		}
		plaintext, err := kr.Open(c.Ciphertext, ad)
		if err != nil {
			return false, err, nil
		}
		sealed, err := kr.Seal(plaintext, ad)
		clear(plaintext)
		if err != nil {
			return false, err, nil
		}
		err = st.ReplaceCiphertext(ctx, c.ID, c.Ciphertext, sealed)
		switch {
		case err == nil:
			return true, nil, nil
		case errors.Is(err, store.ErrNotFound):
			return false, nil, nil // deleted meanwhile: nothing left to rotate
		case !errors.Is(err, store.ErrStale):
			return false, nil, err
		case attempt > 0:
			return false, errors.New("changed again while being re-encrypted; run the rotation again"), nil
		}
		// Someone wrote the credential since we read it. Their value is the
		// one to keep: read it, and re-encrypt it unless it is already under
		// the active key (the usual case: a server sealed it just now).
		c, err = st.GetCredential(ctx, c.OrgID, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
	}
}

// Usage counts credentials per key id. Every key of kr is listed, with 0 if
// no credential uses it: such a key can be removed from the configuration.
// Credentials whose ciphertext has no readable key id are counted under "".
// A key id in the map that kr lacks belongs to credentials nobody can open.
func Usage(ctx context.Context, st store.Credentials, kr *secret.Keyring) (map[string]int, error) {
	counts := map[string]int{}
	for _, kid := range kr.KeyIDs() {
		counts[kid] = 0
	}
	err := each(ctx, st, func(c store.Credential) error {
		kid, _ := secret.KeyID(c.Ciphertext)
		counts[kid]++
		return nil
	})
	return counts, err
}

// each calls fn for every credential, page by page in ID order.
func each(ctx context.Context, st store.Credentials, fn func(store.Credential) error) error {
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := st.ListCredentials(ctx, after, pageSize)
		if err != nil {
			return fmt.Errorf("keys: listing credentials: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, c := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		last := page[len(page)-1].ID
		if last == after {
			// A store that does not page forward would loop for ever.
			return fmt.Errorf("keys: listing credentials: page after %q ends at %q", after, last)
		}
		after = last
	}
}
