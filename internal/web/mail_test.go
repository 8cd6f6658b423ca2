package web

import (
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
)

// The routes register without conflicts and the templates parse (New
// panics otherwise).
func TestMailRoutesRegister(t *testing.T) {
	New(Config{})
}

// A server field's values survive the round trip through the form, and
// SSL off means STARTTLS, never an unencrypted login.
func TestServerForm(t *testing.T) {
	f := formOf(&crm.ServerSettings{Host: "imap.example.com", Port: 993, Security: "tls", Username: "ann"})
	if f.key() != "imap.example.com|993|true|ann" {
		t.Errorf("key %q", f.key())
	}
	r := serverForm{Host: "h", Port: "143", SSL: false}.request()
	if r.Security != "starttls" || r.Port != 143 {
		t.Errorf("request %+v", r)
	}
	if r := (serverForm{Host: "h", Port: "x"}).request(); r.Port != -1 {
		t.Errorf("a port that is not a number must be refused, not defaulted: %+v", r)
	}
	if (serverForm{}).request() != nil {
		t.Error("no host, no server")
	}
}

// Every connector code has words in every language (the banners).
func TestMailCodesTranslated(t *testing.T) {
	for _, code := range []string{"auth_failed", "provider_blocked", "unreachable", "tls_error", "throttled", "protocol", "gone",
		"cursor_invalid", "quota_exceeded", "destination_not_allowed"} {
		for _, lang := range i18n.Langs {
			if got := i18n.For(lang).Coded(code, "FALLBACK"); got == "FALLBACK" || got == "" {
				t.Errorf("%s: code.%s has no words", lang, code)
			}
		}
	}
}

// Each failure shows its words and its one action; throttling says until
// when to wait; a disconnected mailbox says until when it is kept.
func TestMailViewBanners(t *testing.T) {
	now := time.Date(2030, 5, 6, 10, 0, 0, 0, time.UTC)
	s := &Server{cfg: Config{Accounts: accounts.New(accounts.Config{DropboxDomain: "in.crm.test"}), Now: func() time.Time { return now }}}
	p := &Page{P: i18n.For("en")}
	later := now.Add(20 * time.Minute)
	for _, c := range []struct {
		a                         crm.MailAccount
		state, problem, wait, act string
		post                      bool
	}{
		{crm.MailAccount{ID: 1, State: crm.StateAuthFailed, ErrorCode: "auth_failed", Provider: "imap"}, "Sign-in refused", "Incorrect password", "", "Reconnect", false},
		{crm.MailAccount{ID: 2, State: crm.StateAuthFailed, ErrorCode: "auth_failed", Provider: "google"}, "Sign-in refused", "Your sign-in with Google expired", "", "Sign in again", false},
		{crm.MailAccount{ID: 3, State: crm.StateProviderBlocked, ErrorCode: "provider_blocked"}, "Blocked by the provider", "enable IMAP", "", "I enabled IMAP in my provider: try again", true},
		{crm.MailAccount{ID: 4, State: crm.StateThrottled, ErrorCode: "throttled", NextAttemptAt: &later}, "Paused by the provider", "slow down", "Wait until 10:20 AM", "", false},
		{crm.MailAccount{ID: 5, State: crm.StateUnreachable, ErrorCode: "unreachable", NextAttemptAt: &later}, "Server not answering", "does not answer", "tries again at 10:20 AM", "Try again now", true},
		{crm.MailAccount{ID: 6, State: crm.StateSyncError, ErrorCode: "tls_error"}, "Sync error", "certificate", "", "Check the settings", false},
		{crm.MailAccount{ID: 7, State: crm.StateSyncError, ErrorCode: "some_new_code", ErrorMessage: "The server said no."}, "Sync error", "The server said no.", "", "Try again now", true},
		{crm.MailAccount{ID: 8, State: crm.StateAuthFailed, ErrorCode: "auth_failed", DisconnectedAt: &now, RetainedUntil: &later}, "Disconnected", "", "kept until May 6, 2030", "Connect again", false},
		{crm.MailAccount{ID: 9, State: crm.StateSynced, Mode: crm.ModeForward, DropboxToken: "tok"}, "Receiving forwarded mail", "", "", "", false},
	} {
		v := s.mailView(p, c.a)
		if v.StateText != c.state || !strings.Contains(v.Problem, c.problem) || (c.problem == "" && v.Problem != "") || !strings.Contains(v.Wait, c.wait) || (c.wait == "" && v.Wait != "") {
			t.Errorf("%d: %q %q %q, want %q %q %q", c.a.ID, v.StateText, v.Problem, v.Wait, c.state, c.problem, c.wait)
		}
		switch {
		case c.act == "" && v.Action != nil:
			t.Errorf("%d: action %+v, want none", c.a.ID, v.Action)
		case c.act != "" && (v.Action == nil || v.Action.Label != c.act || v.Action.Post != c.post):
			t.Errorf("%d: action %+v, want %q (post %v)", c.a.ID, v.Action, c.act, c.post)
		}
	}
	if v := s.mailView(p, crm.MailAccount{ID: 9, Mode: crm.ModeForward, DropboxToken: "tok"}); v.Dropbox != "tok@in.crm.test" {
		t.Errorf("dropbox %q", v.Dropbox)
	}
	v := s.mailView(p, crm.MailAccount{ID: 10, State: crm.StateInitialSync, ProgressDone: 1234, ProgressTotal: 5000})
	if !v.ProgressBar || v.ProgressText != "1,234 of 5,000 messages" || v.Every != liveBusy {
		t.Errorf("first sync: %+v", v)
	}
	if v := s.mailView(&Page{P: i18n.For("fr")}, crm.MailAccount{ID: 10, State: crm.StateInitialSync, ProgressDone: 1234, ProgressTotal: 5000}); v.ProgressText != "1\u00a0234 sur 5\u00a0000 messages" {
		t.Errorf("French progress %q", v.ProgressText)
	}
}
