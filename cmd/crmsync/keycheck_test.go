package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// serve warns at start when its keys cannot open the stored credentials,
// naming what to do, and says nothing when they can.
func TestWarnUnopenedCredentials(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.SQLite(t)
	right, wrong := secret.NewKey(), secret.NewKey()
	right.ID, wrong.ID = "right", "wrong"
	kr, err := secret.NewKeyring(right)
	if err != nil {
		t.Fatal(err)
	}
	other, err := secret.NewKeyring(wrong)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := kr.Seal([]byte("mailbox password"), secret.CredentialAD("cred-1"))
	if err != nil {
		t.Fatal(err)
	}
	// Credentials belong to an organisation.
	if _, _, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "a@acme.test", AdminName: "A", TokenName: "t", TokenHash: []byte("h"), TokenPrefix: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCredential(ctx, store.Credential{ID: "cred-1", OrgID: 1, Purpose: "mail_password", Ciphertext: ct}); err != nil {
		t.Fatal(err)
	}
	warned := func(kr *secret.Keyring) string {
		var buf bytes.Buffer
		warnUnopenedCredentials(ctx, slog.New(slog.NewTextHandler(&buf, nil)), st, kr, "/srv/crmsync.db.key")
		return buf.String()
	}
	if out := warned(kr); out != "" {
		t.Fatalf("the right key warned: %s", out)
	}
	out := warned(other)
	for _, want := range []string{"level=WARN", "cannot open 1 of the 1", "/srv/crmsync.db.key", "crmsync.db.key", "--secret-key-file", "missing_keys=[right]"} {
		if !strings.Contains(out, want) {
			t.Errorf("the warning lacks %q: %s", want, out)
		}
	}
}
