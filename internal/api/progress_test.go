package api

import (
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
)

// TestMailProgressClamped: stored counts ahead of the server's never show
// above 100%.
func TestMailProgressClamped(t *testing.T) {
	for _, c := range []struct {
		a    crm.MailAccount
		want *progressView
	}{
		{crm.MailAccount{State: crm.StateSynced, ProgressDone: 101, ProgressTotal: 100}, &progressView{Done: 100, Total: 100}},
		{crm.MailAccount{State: crm.StateInitialSync, ProgressDone: 40, ProgressTotal: 100}, &progressView{Done: 40, Total: 100}},
		{crm.MailAccount{State: crm.StateInitialSync}, &progressView{}},
		{crm.MailAccount{State: crm.StateSynced}, nil},
	} {
		got := mailProgress(c.a)
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("%+v: %+v, want %+v", c.a, got, c.want)
		}
	}
}
