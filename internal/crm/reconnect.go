package crm

import "slices"

// Reconnects reports whether b, a later version of the mailbox a, needs
// its sync loop to start again: its credential, servers, plain-text
// choice or mode changed, or it was disconnected.
func (a MailAccount) Reconnects(b MailAccount) bool {
	eq := func(x, y *ServerSettings) bool {
		return (x == nil && y == nil) || (x != nil && y != nil && *x == *y)
	}
	s, t := a.Settings, b.Settings
	return a.CredentialID != b.CredentialID || !eq(s.IMAP, t.IMAP) || !eq(s.SMTP, t.SMTP) ||
		s.AllowPlaintext != t.AllowPlaintext || a.Mode != b.Mode || b.DisconnectedAt != nil
}

// Reconnects reports whether b, a later version of the PIM account a,
// needs its sync loop to start again: its server, credential or options
// changed.
func (a PIMAccount) Reconnects(b PIMAccount) bool {
	o, p := a.Options, b.Options
	return a.URL != b.URL || a.Username != b.Username || a.CredentialID != b.CredentialID ||
		o.ConflictPolicy != p.ConflictPolicy || o.Collection != p.Collection || o.TaskCollection != p.TaskCollection ||
		!slices.Equal(o.ImportCategories, p.ImportCategories) || !slices.Equal(o.EventCategories, p.EventCategories)
}
