package api

import "github.com/crmsync/crmsync/internal/crm"

// mailProgress is a mailbox's sync progress as shown, nil when there is
// none to show. Done never passes Total: the stored count can run ahead of
// the server's last count (a sent message filed, forwarded mail) until the
// next pass counts again, and "105 of 100" is a bug to the reader.
func mailProgress(a crm.MailAccount) *progressView {
	if a.State != crm.StateInitialSync && a.ProgressTotal <= 0 {
		return nil
	}
	return &progressView{Done: min(max(a.ProgressDone, 0), max(a.ProgressTotal, 0)), Total: a.ProgressTotal}
}
