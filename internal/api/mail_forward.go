package api

import (
	"fmt"
)

// Forwarding mode (DESIGN §7): the user forwards or BCCs mail to a
// personal dropbox address, <token>@Config.DropboxDomain, received by the
// inbound SMTP server. The API only creates such accounts (through the
// accounts service) and shows their address; the SMTP side accepts, for a
// dropbox, mail sent from the account's address or from its user's own
// (sign-in) address.

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
	v.DropboxAddress = s.acc.DropboxAddress(v.MailAccount)
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
