package keys_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/keys"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestRotateOnStores rotates credentials held in real databases and checks
// that no dump of either database shows a secret in clear, before or after.
func TestRotateOnStores(t *testing.T) {
	for name, f := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := f(t)
			ctx := context.Background()
			_, p, h := auth.NewToken()
			org, _, _, err := s.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "a@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
			if err != nil {
				t.Fatal(err)
			}
			// Control: a value stored in clear is found by the dump, so the
			// check below can fail.
			if err := s.PutCredential(ctx, store.Credential{ID: "canary", OrgID: org.ID, Purpose: "test", Ciphertext: []byte("canary-in-clear")}); err != nil {
				t.Fatal(err)
			}
			if !dumpContains(t, s, "canary-in-clear") {
				t.Fatal("the dump does not show stored credential bytes: the cleartext check would prove nothing")
			}
			if err := s.DeleteCredential(ctx, org.ID, "canary"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Readers().Exec(map[string]string{"sqlite": "VACUUM", "postgres": "SELECT 1"}[s.Dialect()]); err != nil {
				t.Fatal(err)
			}
			old := secret.NewKey()
			kr, err := secret.NewKeyring(old)
			if err != nil {
				t.Fatal(err)
			}
			plain := map[string]string{}
			for i := 0; i < 450; i++ {
				id := fmt.Sprintf("cred-%04d", i)
				pw := fmt.Sprintf("hunter2-imap-password-%04d", i)
				ct, err := kr.Seal([]byte(pw), secret.CredentialAD(id))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PutCredential(ctx, store.Credential{ID: id, OrgID: org.ID, Purpose: "imap_password", Ciphertext: ct}); err != nil {
					t.Fatal(err)
				}
				plain[id] = pw
			}
			assertNoCleartext(t, s, "hunter2-imap-password")

			next := secret.NewKey()
			kr2, err := secret.NewKeyring(old, next)
			if err != nil {
				t.Fatal(err)
			}
			res, err := keys.Rotate(ctx, s, kr2, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			if res.Scanned != 450 || res.Reencrypted != 450 || res.Failed != 0 {
				t.Fatalf("rotation: %+v", res)
			}
			usage, err := keys.Usage(ctx, s, kr2)
			if err != nil {
				t.Fatal(err)
			}
			if usage[next.ID] != 450 || usage[old.ID] != 0 {
				t.Fatalf("usage after rotation: %v", usage)
			}
			// The old key can now go: a keyring with only the new key opens all.
			onlyNew, _ := secret.NewKeyring(next)
			for id, pw := range plain {
				c, err := s.GetCredential(ctx, org.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				got, err := onlyNew.Open(c.Ciphertext, secret.CredentialAD(id))
				if err != nil || string(got) != pw {
					t.Fatalf("%s after rotation: %q, %v", id, got, err)
				}
			}
			res, err = keys.Rotate(ctx, s, kr2, t.Logf)
			if err != nil || res.Reencrypted != 0 {
				t.Fatalf("second rotation rewrote %d (err %v)", res.Reencrypted, err)
			}
			assertNoCleartext(t, s, "hunter2-imap-password")
		})
	}
}

// assertNoCleartext dumps the database the way an operator would (the
// SQLite file after a checkpoint; pg_dump of the schema) and looks for
// needle.
func assertNoCleartext(t *testing.T, s *sqlstore.DB, needle string) {
	t.Helper()
	if dumpContains(t, s, needle) {
		t.Fatalf("database dump contains a secret in clear (%q)", needle)
	}
}

func dumpContains(t *testing.T, s *sqlstore.DB, needle string) bool {
	t.Helper()
	var dump []byte
	switch s.Dialect() {
	case "sqlite":
		var path string
		if err := s.Readers().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Readers().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(path + "*")
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			dump = append(dump, b...)
		}
		if len(dump) == 0 {
			t.Fatal("empty sqlite dump")
		}
	case "postgres":
		var schema string
		if err := s.Readers().QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		dsn := storetest.PostgresDSN(t)
		out, err := exec.Command("pg_dump", "--data-only", "--schema="+schema, "--dbname="+dsn).Output()
		if err != nil {
			t.Skipf("pg_dump not usable here: %v", err)
		}
		if !strings.Contains(string(out), "credentials") {
			t.Fatalf("pg_dump output has no credentials table:\n%.500s", out)
		}
		dump = out
	}
	// pg_dump writes bytea as hex: look for both spellings.
	return bytes.Contains(dump, []byte(needle)) || bytes.Contains(dump, []byte(hex.EncodeToString([]byte(needle))))
}
