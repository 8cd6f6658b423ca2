package crm

// smtpCredentialSuffix ends the id of an SMTP server's own credential.
const smtpCredentialSuffix = ".smtp"

// SMTPCredentialOf is the id of the credential that holds the SMTP
// password of the mailbox whose credential is credentialID, when its SMTP
// server has a password of its own. It is derived rather than stored, so
// that the two credentials of a mailbox are created, rotated (every
// credential row is) and deleted together without a column of their own.
func SMTPCredentialOf(credentialID string) string {
	if credentialID == "" {
		return ""
	}
	return credentialID + smtpCredentialSuffix
}

// SMTPCredentialID is the credential the account's SMTP server logs in
// with: its own (SMTPCredentialOf) when it has one, else the mailbox's.
func (a MailAccount) SMTPCredentialID() string {
	if a.Settings.SMTP != nil && a.Settings.SMTP.OwnPassword {
		return SMTPCredentialOf(a.CredentialID)
	}
	return a.CredentialID
}

// ProviderSends lists the providers whose mailboxes send through the
// provider's own API, with no SMTP server: "microsoft" (Graph's sendMail)
// and "google" (Gmail's messages.send): the providers of signed-in
// mailboxes (PIMKind.SignedIn).
var ProviderSends = map[string]bool{"microsoft": true, "google": true}

// HasSubmission reports whether the account has a way to send: an SMTP
// server, or a provider that sends (ProviderSends).
func (a MailAccount) HasSubmission() bool {
	return a.Settings.SMTP != nil || ProviderSends[a.Provider]
}
