package smtpout_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/smtpout"
	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
)

const raw = "From: ann@acme.test\r\nTo: bob@client.test\r\nSubject: hi\r\n\r\nHello\r\n.leading dot\r\n"

func cfgFor(s *smtptest.Server) smtpout.Config {
	return smtpout.Config{Host: s.Host, Port: s.Port, Security: "none", Username: s.User, Password: s.Password, Timeout: 5 * time.Second}
}

func TestSend(t *testing.T) {
	ctx := context.Background()
	s := smtptest.Start(t, &smtptest.Options{MaxMessageBytes: 1 << 20})
	rcpts := []string{"bob@client.test", "carol@client.test", "hidden@client.test"}
	if err := smtpout.Send(ctx, cfgFor(s), "ann@acme.test", rcpts, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "ann@acme.test" || !slices.Equal(m.To, rcpts) || m.Size != int64(len(raw)) || m.User != s.User {
		t.Fatalf("envelope = %+v", m)
	}
	if !bytes.Equal(m.Data, []byte(raw)) {
		t.Fatalf("data = %q", m.Data)
	}
}

func TestSendFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		faults    []smtptest.Fault
		opts      *smtptest.Options
		password  string
		permanent bool
		uncertain bool
		kind      connerr.Kind
		message   string // in the user's message
		data      bool   // the server read the whole message
	}{
		{name: "451 on data", faults: []smtptest.Fault{{Step: smtptest.StepData, Code: 451, Message: "try again later"}},
			kind: connerr.Protocol, message: "451 4.0.0 try again later", data: true},
		{name: "550 on a recipient", faults: []smtptest.Fault{{Step: smtptest.StepRcpt, Rcpt: "carol@client.test", Code: 550, Message: "no such user"}},
			permanent: true, kind: connerr.Protocol, message: "refused the recipient carol@client.test: 550 5.0.0 no such user"},
		{name: "450 on a recipient", faults: []smtptest.Fault{{Step: smtptest.StepRcpt, Rcpt: "carol@client.test", Code: 450, Message: "mailbox busy"}},
			kind: connerr.Protocol, message: "450 4.0.0 mailbox busy"},
		{name: "554 on data", faults: []smtptest.Fault{{Step: smtptest.StepData, Code: 554, Message: "spam"}},
			permanent: true, kind: connerr.Protocol, message: "refused the message: 554 5.0.0 spam", data: true},
		{name: "553 on the sender", faults: []smtptest.Fault{{Step: smtptest.StepMail, Code: 553, Message: "not your address"}},
			permanent: true, kind: connerr.Protocol, message: "refused the sender ann@acme.test: 553 5.0.0 not your address"},
		{name: "421 on the sender", faults: []smtptest.Fault{{Step: smtptest.StepMail, Code: 421, Message: "too busy"}},
			kind: connerr.Throttled},
		{name: "wrong password", password: "nope", permanent: true, kind: connerr.Auth},
		{name: "too large", opts: &smtptest.Options{MaxMessageBytes: 10}, permanent: true, message: "larger than"},
		{name: "hang up after data", faults: []smtptest.Fault{{Step: smtptest.StepData, HangUp: true}}, uncertain: true, kind: connerr.Unreachable,
			message: "may or may not", data: true},
		{name: "hang up at rcpt", faults: []smtptest.Fault{{Step: smtptest.StepRcpt, HangUp: true}}, kind: connerr.Unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.Start(t, tc.opts)
			s.FailNext(tc.faults...)
			cfg := cfgFor(s)
			if tc.password != "" {
				cfg.Password = tc.password
			}
			err := smtpout.Send(ctx, cfg, "ann@acme.test", []string{"bob@client.test", "carol@client.test"}, []byte(raw))
			var me *connerr.Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *connerr.Error", err)
			}
			if tc.kind != "" && me.Kind != tc.kind {
				t.Errorf("kind = %s, want %s (%v)", me.Kind, tc.kind, err)
			}
			if errors.Is(err, mail.ErrPermanent) != tc.permanent || errors.Is(err, mail.ErrUncertain) != tc.uncertain {
				t.Errorf("permanent %v uncertain %v, want %v %v (%v)", errors.Is(err, mail.ErrPermanent), errors.Is(err, mail.ErrUncertain), tc.permanent, tc.uncertain, err)
			}
			if !strings.Contains(me.Message, tc.message) {
				t.Errorf("message = %q, want it to contain %q", me.Message, tc.message)
			}
			if got := s.Attempts(); got != map[bool]int{true: 1, false: 0}[tc.data] {
				t.Errorf("the server read %d messages", got)
			}
			if len(s.Messages()) != 0 {
				t.Error("a message was accepted")
			}
			// A retry after a transient failure goes through (4xx then accept).
			if !tc.permanent && !tc.uncertain {
				if err := smtpout.Send(ctx, cfg, "ann@acme.test", []string{"bob@client.test", "carol@client.test"}, []byte(raw)); err != nil {
					t.Fatalf("retry: %v", err)
				}
				if len(s.Messages()) != 1 {
					t.Fatal("retry not accepted")
				}
			}
		})
	}
}

func TestSendRefusesBadEnvelope(t *testing.T) {
	s := smtptest.Start(t, nil)
	for _, env := range [][]string{{"", "b@c"}, {"a@b", "b@c\r\nRCPT TO:<x@y>"}, {"a@b"}} {
		err := smtpout.Send(context.Background(), cfgFor(s), env[0], env[1:], []byte(raw))
		if !errors.Is(err, mail.ErrPermanent) {
			t.Errorf("%q: err = %v", env, err)
		}
	}
	if s.Sessions() != 0 {
		t.Error("connected with a bad envelope")
	}
}

func TestSendCancelled(t *testing.T) {
	s := smtptest.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := smtpout.Send(ctx, cfgFor(s), "a@b.test", []string{"c@d.test"}, []byte(raw)); err == nil {
		t.Fatal("sent with a cancelled context")
	}
	if len(s.Messages()) != 0 {
		t.Fatal("a message was accepted")
	}
}
