package api

import (
	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
)

// failure is why an account is not syncing, when it is not
// (accounts.Failure, which the web app shows too).
func failure(state crm.AccountState, code, message string) *errorView {
	if f := accounts.Failure(state, code, message); f != nil {
		return &errorView{Code: f.Code, Message: f.Message}
	}
	return nil
}

// mailState is a mailbox's true state and failure. A sync loop that was
// mid-pass when the user disconnected may still record a state;
// disconnected is the truth.
func mailState(a crm.MailAccount) (crm.AccountState, *errorView) {
	if a.DisconnectedAt != nil {
		return crm.StateDisconnected, nil
	}
	return a.State, failure(a.State, a.ErrorCode, a.ErrorMessage)
}

// mailAccountSummary is a mailbox in a list: the account with its state,
// progress and error, without the folders and history of the full view.
type mailAccountSummary struct {
	crm.MailAccount
	Progress *progressView `json:"progress,omitempty"`
	Error    *errorView    `json:"error,omitempty"`
}

func mailSummary(a crm.MailAccount) mailAccountSummary {
	v := mailAccountSummary{MailAccount: a}
	v.Progress = mailProgress(a)
	v.State, v.Error = mailState(a)
	return v
}
