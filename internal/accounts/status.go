package accounts

import (
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// What an account shows of its state: every front end (the REST API's
// views and lists, the web app's live state) builds it here, so that a
// user reads the same state, progress and failure wherever they look.

// Progress is a sync's progress as shown: Done of Total messages (or
// items).
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// Failure is why an account is not syncing: the error code (a
// connerr.Kind) and the words recorded with it.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// FailureOf is why an account is not syncing, when it is not: its error
// code and words, or nil while it syncs (a code recorded before it
// recovered is history, not status). The single-account views and the
// lists show the same, so a user scanning the list sees which account
// needs them and why.
func FailureOf(state crm.AccountState, code, message string) *Failure {
	if code == "" || state == crm.StateSynced || state == crm.StateInitialSync || state == crm.StateSyncing {
		return nil
	}
	return &Failure{Code: code, Message: message}
}

// MailStatus is a mailbox's true state and failure. A sync loop that was
// mid-pass when the user disconnected may still record a state;
// disconnected is the truth.
func MailStatus(a crm.MailAccount) (crm.AccountState, *Failure) {
	if a.DisconnectedAt != nil {
		return crm.StateDisconnected, nil
	}
	return a.State, FailureOf(a.State, a.ErrorCode, a.ErrorMessage)
}

// MailProgress is a mailbox's sync progress as shown, nil when there is
// none to show (and always for a forwarding-mode mailbox: forwarded mail
// arrives one message at a time, there is no initial sync). Done never
// passes Total: the stored count can run ahead of the server's last count
// (a sent message filed, forwarded mail) until the next pass counts
// again, and "105 of 100" is a bug to the reader.
func MailProgress(a crm.MailAccount) *Progress {
	if a.Mode == crm.ModeForward || (a.State != crm.StateInitialSync && a.ProgressTotal <= 0) {
		return nil
	}
	return &Progress{Done: min(max(a.ProgressDone, 0), max(a.ProgressTotal, 0)), Total: a.ProgressTotal}
}

// DropboxAddress is where a forwarding-mode mailbox's mail is forwarded
// to, "" when it has none (sync mode, or forwarding not enabled on this
// server).
func (s *Service) DropboxAddress(a crm.MailAccount) string {
	if a.Mode != crm.ModeForward || a.DropboxToken == "" || s.dropbox == "" {
		return ""
	}
	return a.DropboxToken + "@" + s.dropbox
}

// Retention is how long a disconnected mailbox's messages and links are
// kept (reconnecting within it restores them).
func (s *Service) Retention() time.Duration { return s.retention }
