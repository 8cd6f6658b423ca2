package mailconn_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestSMTPOwnPassword: an SMTP server that checks credentials accepts the
// login and the send made with its own password, not the mailbox's.
func TestSMTPOwnPassword(t *testing.T) {
	ctx := context.Background()
	srv := smtptest.Start(t, &smtptest.Options{User: "ann.smtp", Password: "smtp-own"})
	st, _ := storetest.SQLite(t)
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	c := &mailconn.Connector{Credentials: st, Keys: kr, Guard: netguard.MustParse("127.0.0.0/8")}
	settings := crm.MailSettings{AllowPlaintext: true,
		SMTP: &crm.ServerSettings{Host: srv.Host, Port: srv.Port, Security: "none", Username: "ann.smtp", OwnPassword: true}}

	// Verify logs in to SMTP alone (no IMAP password given) with its own.
	if err := c.Verify(ctx, settings, "", "imap-pw"); connerr.As(err) == nil || connerr.As(err).Kind != connerr.Auth {
		t.Errorf("SMTP with the mailbox's password: %v, want auth_failed", err)
	}
	if err := c.Verify(ctx, settings, "", "smtp-own"); err != nil {
		t.Errorf("SMTP with its own password: %v", err)
	}

	// Send opens the SMTP server's own credential.
	org, _, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.test", AdminName: "Admin", TokenName: "t", TokenHash: []byte("h"), TokenPrefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for id, pw := range map[string]string{"cred-1": "imap-pw", crm.SMTPCredentialOf("cred-1"): "smtp-own"} {
		sealed, err := c.Seal(id, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutCredential(ctx, store.Credential{ID: id, OrgID: org.ID, Purpose: "test", Ciphertext: sealed}); err != nil {
			t.Fatal(err)
		}
	}
	a := crm.MailAccount{ID: 1, OrgID: org.ID, Email: "ann@acme.test", CredentialID: "cred-1", Settings: settings}
	raw := []byte("From: ann@acme.test\r\nTo: carol@client.test\r\nSubject: hi\r\n\r\nhello\r\n")
	if err := c.Send(ctx, a, "ann@acme.test", []string{"carol@client.test"}, raw); err != nil {
		t.Fatalf("send with SMTP's own password: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages received", n)
	}
	shared := a
	s := *settings.SMTP
	s.OwnPassword = false
	shared.Settings.SMTP = &s
	if err := c.Send(ctx, shared, "ann@acme.test", []string{"carol@client.test"}, raw); connerr.As(err) == nil || connerr.As(err).Kind != connerr.Auth {
		t.Errorf("send with the mailbox's password: %v, want auth_failed", err)
	}
}
