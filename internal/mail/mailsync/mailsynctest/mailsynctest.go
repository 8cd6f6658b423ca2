// Package mailsynctest runs the mail engine on a fresh store for tests of
// the engine and of mail connectors: an organisation, one mail account
// under its lease, an Engine over the connector given, passes run until
// done, and the stored emails read back.
package mailsynctest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// Env is the engine of one account on its own store.
type Env struct {
	T      testing.TB
	Ctx    context.Context
	Store  store.Store
	Engine *mailsync.Engine
	Viewer crm.Viewer // the account's owner, an admin
}

// New makes an account of provider over mb, with cfg (Parse defaults to
// mimeparse, BatchSize to 4 so that batches show).
func New(t testing.TB, f storetest.Factory, provider string, mb mail.Mailbox, cfg mailsync.Config) *Env {
	t.Helper()
	ctx := context.Background()
	st, _ := f(t)
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "ann@acme.example", TokenName: "t", TokenHash: hash, TokenPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: admin.ID, Email: "ann@acme.example", Provider: provider, Mode: crm.ModeSync, State: crm.StateConnecting})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "mail", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Parse == nil {
		cfg.Parse = func(r io.Reader) (*mail.Message, error) { m, _, err := mimeparse.Parse(r, nil); return m, err }
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 4
	}
	eng := &mailsync.Engine{Store: st, Mailbox: mb, Fence: l.Fence(), Account: a, Log: slog.New(slog.DiscardHandler), Config: cfg.WithDefaults()}
	return &Env{T: t, Ctx: ctx, Store: st, Engine: eng, Viewer: v}
}

// Sync runs full passes until the engine says it is done.
func (e *Env) Sync() mailsync.Result {
	e.T.Helper()
	for i := 0; i < 100; i++ {
		res, err := e.Engine.Pass(e.Ctx, true)
		if err != nil {
			e.T.Fatalf("pass: %v", err)
		}
		if res.Done {
			return res
		}
	}
	e.T.Fatal("the sync never finished")
	return mailsync.Result{}
}

// Emails returns the listed emails by subject, failing on a duplicate.
func (e *Env) Emails() map[string]crm.Email {
	e.T.Helper()
	out := map[string]crm.Email{}
	cursor := ""
	for {
		page, err := e.Store.ListEmails(e.Ctx, e.Viewer, store.EmailFilter{ListParams: store.ListParams{Limit: 500, Cursor: cursor}})
		if err != nil {
			e.T.Fatal(err)
		}
		for _, m := range page.Items {
			if _, dup := out[m.Subject]; dup {
				e.T.Fatalf("%q stored twice", m.Subject)
			}
			out[m.Subject] = m
		}
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// Drain reads a folder's changes from cur until More is false, for
// connector tests: everything added, flagged and removed, the last cursor
// and total, and how many pages it took.
func Drain(t testing.TB, m mail.Mailbox, folder string, cur mail.Cursor, limit int) (all mail.Changes, pages int) {
	t.Helper()
	for {
		ch, err := m.Changes(context.Background(), folder, cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all.Added = append(all.Added, ch.Added...)
		all.Flags = append(all.Flags, ch.Flags...)
		all.Removed = append(all.Removed, ch.Removed...)
		all.Total, all.Cursor, cur = ch.Total, ch.Cursor, ch.Cursor
		if !ch.More {
			return all, pages
		}
	}
}
