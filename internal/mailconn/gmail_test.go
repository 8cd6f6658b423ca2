package mailconn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mailconn"
)

// An account signed in with Google is dialled and sends over the Gmail
// API, never IMAP or SMTP: without Google sign-in on the server, both say
// so.
func TestGoogleAccountsGoToGmail(t *testing.T) {
	c := &mailconn.Connector{}
	a := crm.MailAccount{OrgID: 1, Provider: "google", CredentialID: "cred-1"}
	_, err := c.Dial(context.Background(), a)
	if e := connerr.As(err); e == nil || !strings.Contains(e.Message, "Google") {
		t.Fatalf("dial: %v, want Google's words", err)
	}
	err = c.Send(context.Background(), a, "ann@acme.example", []string{"bob@globex.example"}, []byte("Subject: x\r\n\r\nx"))
	if e := connerr.As(err); e == nil || !strings.Contains(e.Message, "Google") {
		t.Fatalf("send: %v, want Google's words", err)
	}
}
