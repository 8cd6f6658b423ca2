package api

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Forwarding mode (DESIGN §7): the user forwards or BCCs mail to a
// personal dropbox address, <token>@Config.DropboxDomain, received by the
// inbound SMTP server. The API only creates such accounts and shows their
// address; the SMTP side accepts, for a dropbox, mail sent from the
// account's address or from its user's own (sign-in) address.

// codeForwardingDisabled refuses a forwarding-mode mailbox on a server that
// does not run the inbound SMTP server.
const codeForwardingDisabled = "forwarding_disabled"

// dropboxProvider is the provider of forwarding-mode accounts.
const dropboxProvider = "dropbox"

// newDropboxToken returns the local part of a dropbox address: 160 random
// bits, base32 in lower case (32 characters), so that the address cannot
// be guessed and survives mail systems that fold case.
func newDropboxToken() string {
	var b [20]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func (s *Server) forwardingDisabled() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: codeForwardingDisabled, Field: "mode",
		Message: "Forwarding mode is not enabled on this server: an administrator must run the inbound mail server (crmsync serve --smtp … --dropbox-domain …). Connect the mailbox in sync mode meanwhile."}
}

// createForwardAccount connects a mailbox in forwarding mode: no password,
// no servers, nothing to sync; the account waits for forwarded mail.
func (s *Server) createForwardAccount(w http.ResponseWriter, r *http.Request, c *caller, req MailAccountCreationRequest, email string, owner int64) error {
	if s.cfg.DropboxDomain == "" {
		return s.forwardingDisabled()
	}
	for _, f := range []struct {
		field string
		given bool
	}{{"password", req.Password != ""}, {"imap", req.IMAP != nil}, {"smtp", req.SMTP != nil}, {"allow_plaintext", req.AllowPlaintext}} {
		if f.given {
			return invalid(f.field, "A forwarding-mode mailbox has no %s: crmsync never logs in to it, it receives the mail you forward. Leave %s out, or use mode sync.", f.field, f.field)
		}
	}
	retained, err := s.reconnectable(r.Context(), c.Viewer, owner, email, crm.ModeForward)
	if err != nil {
		return err
	}
	if retained != nil {
		return s.reattachForward(w, r, c, *retained)
	}
	a, err := s.st.CreateMailAccount(r.Context(), c.Viewer, crm.MailAccount{UserID: owner, Email: email, Provider: dropboxProvider, Mode: crm.ModeForward,
		State: crm.StateSynced, DropboxToken: newDropboxToken()})
	if err != nil {
		var fe *store.FieldError
		if errors.As(err, &fe) && fe.Code == "duplicate" {
			return alreadyConnected(email, crm.ModeForward)
		}
		return storeError(err, "user")
	}
	_ = s.st.AddAccountEvent(r.Context(), a.ID, store.AccountEvent{At: s.cfg.Now(), Kind: "connected",
		Message: fmt.Sprintf("Connected %s in forwarding mode: mail forwarded or BCC'd from it to its dropbox address is stored here.", email)})
	v, err := s.mailAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/mail-accounts/%d", a.ID), v)
}

// dropboxView fills what the status of a forwarding-mode account shows:
// its dropbox address, and what the dropbox is doing.
func (s *Server) dropboxView(v *mailAccountView, counts map[string]int64) {
	v.Progress = nil // there is no initial sync: forwarded mail arrives one message at a time
	v.SendStatus = "This mailbox is in forwarding mode: crmsync receives the mail you forward but cannot send from it. Connect it in sync mode, with an SMTP server, to send."
	switch {
	case s.cfg.DropboxDomain == "":
		v.DropboxStatus = "Forwarding mode is not enabled on this server (crmsync serve --smtp … --dropbox-domain …): mail forwarded to this mailbox's dropbox is not received. Ask an administrator to enable it."
		return
	case v.DropboxToken == "":
		v.DropboxStatus = "This mailbox has no dropbox address. Disconnect it and connect it again in forwarding mode."
		return
	}
	v.DropboxAddress = v.DropboxToken + "@" + s.cfg.DropboxDomain
	var n int64
	for _, c := range counts {
		n += c
	}
	switch {
	case v.DisconnectedAt != nil:
		v.DropboxStatus = "Disconnected: the dropbox no longer receives mail. Connect the same address again in forwarding mode before retained_until to keep its messages and this dropbox address."
	case n == 0:
		v.DropboxStatus = fmt.Sprintf("Waiting for forwarded mail: forward or BCC messages from %s (or from your sign-in address) to %s. Keep this address private.", v.Email, v.DropboxAddress)
	default:
		received := fmt.Sprintf("%d messages", n)
		if n == 1 {
			received = "1 message"
		}
		v.DropboxStatus = fmt.Sprintf("Receiving forwarded mail (%s so far): forward or BCC messages from %s (or from your sign-in address) to %s.", received, v.Email, v.DropboxAddress)
	}
}
