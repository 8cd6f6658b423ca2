package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/metrics"
	"github.com/crmsync/crmsync/internal/store"
)

// source is a database overview held in memory; err fails every read.
type source struct {
	counts []store.AccountCount
	leases []store.Lease
	err    error
}

func (s *source) AccountCounts(context.Context) ([]store.AccountCount, error) { return s.counts, s.err }
func (s *source) OutboxDepth(context.Context) (int64, int64, error)           { return 2, 1, s.err }
func (s *source) WebhookQueueDepth(context.Context) (int64, error)            { return 4, s.err }
func (s *source) ListLeases(context.Context) ([]store.Lease, error)           { return s.leases, s.err }

func TestOverviewAtScrapeTime(t *testing.T) {
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	old, older := now.Add(-time.Minute), now.Add(-time.Hour)
	src := &source{
		counts: []store.AccountCount{
			{Kind: "mail", Provider: "imap", State: crm.StateSynced, Count: 3, OldestSync: &old},
			{Kind: "mail", Provider: "imap", State: crm.StateAuthFailed, ErrorCode: "auth_failed", Count: 1, OldestSync: &older},
			{Kind: "mail", Provider: "imap", State: crm.StateDisconnected, Count: 4},
		},
		leases: []store.Lease{{Kind: "mail", Key: "1", Owner: "me"}, {Kind: "mail", Key: "2", Owner: "other"}, {Kind: "maintenance", Key: "leader", Owner: "me"}},
	}
	m := metrics.New(metrics.Config{Store: src, Owner: "me", Now: func() time.Time { return now }})
	want := `
# HELP crmsync_accounts Mail and PIM accounts of the whole server, by kind (mail, pim), provider and state.
# TYPE crmsync_accounts gauge
crmsync_accounts{kind="mail",provider="imap",state="auth_failed"} 1
crmsync_accounts{kind="mail",provider="imap",state="disconnected"} 4
crmsync_accounts{kind="mail",provider="imap",state="synced"} 3
# HELP crmsync_leases_held Leases this process holds, by kind (mail and pim: accounts it syncs; maintenance: it is the leader).
# TYPE crmsync_leases_held gauge
crmsync_leases_held{kind="mail"} 1
crmsync_leases_held{kind="maintenance"} 1
crmsync_leases_held{kind="pim"} 0
# HELP crmsync_outbox_depth Outgoing mail not yet handed to a server, by state (queued, sending).
# TYPE crmsync_outbox_depth gauge
crmsync_outbox_depth{state="queued"} 2
crmsync_outbox_depth{state="sending"} 1
# HELP crmsync_webhook_queue_depth Webhook deliveries not yet answered 2xx nor given up (pending), every organisation together.
# TYPE crmsync_webhook_queue_depth gauge
crmsync_webhook_queue_depth 4
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "crmsync_accounts", "crmsync_leases_held", "crmsync_outbox_depth", "crmsync_webhook_queue_depth"); err != nil {
		t.Error(err)
	}
	if got := gatherValue(t, m, "crmsync_sync_lag_seconds", "mail"); got != 3600 {
		t.Errorf("mail lag = %v, want 3600 (the failing account's hour)", got)
	}
	if got := gatherValue(t, m, "crmsync_sync_lag_seconds", "pim"); got != 0 {
		t.Errorf("pim lag = %v, want 0 without PIM accounts", got)
	}

	// A database that does not answer: the scrape still serves the rest.
	src.err = errors.New("connection refused")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_goroutines") || strings.Contains(rec.Body.String(), "crmsync_accounts{") {
		t.Errorf("scrape with the database down: %d\n%.500s", rec.Code, rec.Body.String())
	}
}

// gatherValue returns the value of a family's sample whose first label
// has value label.
func gatherValue(t *testing.T, m *metrics.Metrics, name, label string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if s.GetLabel()[0].GetValue() == label {
				return s.GetGauge().GetValue() + s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// Two processes' metrics (two servers in one test) never share counts,
// and a provider's refusals are counted by its code, else by status.
func TestCountersPerRegistryAndProviderCodes(t *testing.T) {
	a := metrics.New(metrics.Config{Store: &source{}, Owner: "a"})
	b := metrics.New(metrics.Config{Store: &source{}, Owner: "b"})
	a.MailPass("imap", 5)
	a.MailPass("imap", 0)
	a.PIMPass("carddav/contacts", 2, 1)
	a.Failed("mail", "imap", "auth_failed")
	g := a.Provider("microsoft")
	g.Attempt(200, "")
	g.Attempt(429, "TooManyRequests")
	g.Attempt(404, "")
	g.Attempt(0, "")
	g.ThrottleWait(1500 * time.Millisecond)
	a.ObserveHTTP("GET /api/v1/mail-accounts/{id}", 200, 10*time.Millisecond)

	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"crmsync_messages_stored_total", "imap", 5},
		{"crmsync_pim_items_synced_total", "carddav/contacts", 3},
		{"crmsync_sync_failures_total", "auth_failed", 1},
		{"crmsync_throttle_waits_total", "microsoft", 1},
		{"crmsync_throttle_wait_seconds_total", "microsoft", 1.5},
	} {
		if got := sumFamily(t, a, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
		if got := sumFamily(t, b, c.name); got != 0 {
			t.Errorf("the other registry's %s = %v", c.name, got)
		}
	}
	want := `
# HELP crmsync_provider_errors_total Refused or unanswered requests to provider APIs, by provider and error code (the provider's code, else the HTTP status, or no_answer).
# TYPE crmsync_provider_errors_total counter
crmsync_provider_errors_total{code="404",provider="microsoft"} 1
crmsync_provider_errors_total{code="TooManyRequests",provider="microsoft"} 1
crmsync_provider_errors_total{code="no_answer",provider="microsoft"} 1
# HELP crmsync_provider_requests_total Attempts of requests to provider APIs (Microsoft Graph, Google), by provider and status class (2xx, 4xx, 5xx, none when no answer came).
# TYPE crmsync_provider_requests_total counter
crmsync_provider_requests_total{provider="microsoft",status_class="2xx"} 1
crmsync_provider_requests_total{provider="microsoft",status_class="4xx"} 2
crmsync_provider_requests_total{provider="microsoft",status_class="none"} 1
`
	if err := testutil.GatherAndCompare(a.Registry(), strings.NewReader(want), "crmsync_provider_errors_total", "crmsync_provider_requests_total"); err != nil {
		t.Error(err)
	}
}

// sumFamily adds every sample of a counter family (0 when absent).
func sumFamily(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, s := range mf.GetMetric() {
				total += s.GetCounter().GetValue()
			}
		}
	}
	return total
}
