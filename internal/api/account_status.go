package api

import (
	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
)

// The state, progress and failure an account shows are built by the
// accounts service (accounts.MailStatus, MailProgress, FailureOf), which
// the web app's live states show too.
type (
	progressView = accounts.Progress
	errorView    = accounts.Failure
)

// mailAccountSummary is a mailbox in a list: the account with its state,
// progress and error, without the folders and history of the full view.
type mailAccountSummary struct {
	crm.MailAccount
	Progress *progressView `json:"progress,omitempty"`
	Error    *errorView    `json:"error,omitempty"`
}

func mailSummary(a crm.MailAccount) mailAccountSummary {
	v := mailAccountSummary{MailAccount: a}
	v.Progress = accounts.MailProgress(a)
	v.State, v.Error = accounts.MailStatus(a)
	return v
}
