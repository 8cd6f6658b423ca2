package accounts

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// TestMailProgressClamped: stored counts ahead of the server's never show
// above 100%.
func TestMailProgressClamped(t *testing.T) {
	for _, c := range []struct {
		a    crm.MailAccount
		want *Progress
	}{
		{crm.MailAccount{State: crm.StateSynced, ProgressDone: 101, ProgressTotal: 100}, &Progress{Done: 100, Total: 100}},
		{crm.MailAccount{State: crm.StateInitialSync, ProgressDone: 40, ProgressTotal: 100}, &Progress{Done: 40, Total: 100}},
		{crm.MailAccount{State: crm.StateInitialSync}, &Progress{}},
		{crm.MailAccount{State: crm.StateSynced}, nil},
		{crm.MailAccount{State: crm.StateSynced, Mode: crm.ModeForward, ProgressDone: 3, ProgressTotal: 10}, nil},
	} {
		got := MailProgress(c.a)
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("%+v: %+v, want %+v", c.a, got, c.want)
		}
	}
}

// TestMailStatus: a disconnected mailbox is disconnected whatever its
// loop recorded last, and a code recorded before the account recovered
// is not shown.
func TestMailStatus(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		a     crm.MailAccount
		state crm.AccountState
		fail  *Failure
	}{
		{crm.MailAccount{State: crm.StateAuthFailed, ErrorCode: "auth_failed", ErrorMessage: "wrong"}, crm.StateAuthFailed, &Failure{Code: "auth_failed", Message: "wrong"}},
		{crm.MailAccount{State: crm.StateSynced, ErrorCode: "auth_failed"}, crm.StateSynced, nil},
		{crm.MailAccount{State: crm.StateAuthFailed, ErrorCode: "auth_failed", DisconnectedAt: &now}, crm.StateDisconnected, nil},
	} {
		state, fail := MailStatus(c.a)
		if state != c.state || (fail == nil) != (c.fail == nil) || (fail != nil && *fail != *c.fail) {
			t.Errorf("%+v: %s %+v, want %s %+v", c.a, state, fail, c.state, c.fail)
		}
	}
}
