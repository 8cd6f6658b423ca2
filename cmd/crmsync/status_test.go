package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// seedStatus fills a migrated database with what `crmsync status`
// reports: two IMAP mailboxes (one failing to sign in), a synced CardDAV
// account, a queued mail and leases held by two processes.
func seedStatus(t *testing.T, dsn string) (pimSynced time.Time) {
	t.Helper()
	ctx := context.Background()
	db, err := openStore(ctx, dsn, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := db.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: hash, TokenPrefix: prefix})
	must(err)
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	var mail []crm.MailAccount
	for _, addr := range []string{"ann@acme.example", "bob@acme.example"} {
		a, err := db.CreateMailAccount(ctx, v, crm.MailAccount{UserID: admin.ID, Email: addr, Provider: "imap", Mode: crm.ModeSync,
			State: crm.StateConnecting, Settings: crm.MailSettings{IMAP: &crm.ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: addr}}})
		must(err)
		mail = append(mail, a)
	}
	l1, err := db.ClaimLease(ctx, "mail", fmt.Sprint(mail[0].ID), "worker-1", time.Hour)
	must(err)
	l2, err := db.ClaimLease(ctx, "mail", fmt.Sprint(mail[1].ID), "worker-2", time.Hour)
	must(err)
	synced := time.Now().Add(-10 * time.Minute)
	next := time.Now().Add(time.Minute)
	must(db.RecordAccountStatus(ctx, l1.Fence(), mail[0].ID, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &synced}, nil))
	must(db.RecordAccountStatus(ctx, l2.Fence(), mail[1].ID, store.AccountStatus{State: crm.StateAuthFailed, ErrorCode: "auth_failed",
		ErrorMessage: "Sign in again.", Failures: 1, NextAttemptAt: &next}, nil))
	p, err := db.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.example/", Username: "ann"})
	must(err)
	pl, err := db.ClaimLease(ctx, "pim", fmt.Sprint(p.ID), "worker-2", time.Hour)
	must(err)
	pimSynced = time.Now().Add(-2 * time.Hour)
	must(db.RecordPIMStatus(ctx, pl.Fence(), p.ID, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &pimSynced}, false, nil))
	_, err = db.EnqueueMail(ctx, v, crm.OutboxItem{AccountID: mail[0].ID, MessageID: "s1@crmsync",
		Request: crm.SendRequest{To: []crm.Address{{Email: "hank@globex.com"}}, Subject: "Hi", Text: "Hi"}, Raw: []byte("raw")})
	must(err)
	return pimSynced
}

// crmsync status on a seeded database, on both databases: the tables an
// operator reads, and the same figures as JSON.
func TestStatusCommand(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := freshDB(t, kind)
			e.mustRun("migrate")
			pimSynced := seedStatus(t, e.db)

			out, _ := e.mustRun("status")
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^mail +imap +auth_failed +auth_failed +1$`),
				regexp.MustCompile(`(?m)^mail +imap +synced +- +1$`),
				regexp.MustCompile(`(?m)^pim +carddav/contacts +synced +- +1$`),
				regexp.MustCompile(`(?m)^Failing accounts: 1 \(auth_failed 1\)$`),
				regexp.MustCompile(`(?m)^Oldest mail sync: 10m\d+s ago`),
				regexp.MustCompile(`(?m)^Oldest pim sync: 2h0m\d+s ago`),
				regexp.MustCompile(`(?m)^Outbox: 1 queued, 0 sending$`),
				regexp.MustCompile(`(?m)^worker-1 +mail +1$`),
				regexp.MustCompile(`(?m)^worker-2 +mail +1$`),
				regexp.MustCompile(`(?m)^worker-2 +pim +1$`),
			} {
				if !want.MatchString(out) {
					t.Errorf("status lacks %s:\n%s", want, out)
				}
			}

			out, _ = e.mustRun("status", "--json")
			var got statusReport
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if got.Failing.Count != 1 || got.Failing.ByCode["auth_failed"] != 1 || got.Outbox.Queued != 1 || len(got.Accounts) != 3 || len(got.Leases) != 3 {
				t.Errorf("--json: %s", out)
			}
			if pim := got.Oldest["pim"]; pim == nil || !pim.At.Equal(pimSynced.Truncate(time.Microsecond)) || pim.LagSeconds < 7200 {
				t.Errorf("oldest pim sync %+v, want %v", pim, pimSynced)
			}
			if strings.Contains(out, "Sign in again") {
				t.Error("status shows users' error messages; it shows codes only")
			}
		})
	}
}

// The binary serves /metrics and /readyz beside the API, and a worker
// with --metrics-addr serves its own metrics: the leases it holds and
// the server's accounts.
func TestServeAndWorkerMetrics(t *testing.T) {
	t.Parallel()
	e, _ := mailDB(t, "sqlite")
	p := e.serve()
	defer p.stop()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + p.addr + "/readyz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	get("http://" + p.addr + "/healthz")
	code, body := get("http://" + p.addr + "/metrics")
	for _, want := range []string{`crmsync_outbox_depth{state="queued"} 0`, `crmsync_leases_held{kind="mail"} 0`, `crmsync_sync_lag_seconds{kind="mail"} 0`,
		`crmsync_http_request_duration_seconds_count{route="GET /healthz",status_class="2xx"} `} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("serve /metrics (%d) lacks %s:\n%.3000s", code, want, body)
		}
	}

	w := e.start(regexp.MustCompile(`metrics on http://([0-9.:]+)/metrics`), "worker", "--metrics-addr", "127.0.0.1:0")
	defer w.stop()
	code, body = get("http://" + w.addr + "/metrics")
	if code != 200 || !strings.Contains(body, `crmsync_leases_held{kind="mail"} 0`) || !strings.Contains(body, "# HELP crmsync_sync_lag_seconds") {
		t.Errorf("worker /metrics: %d\n%.3000s", code, body)
	}
}
