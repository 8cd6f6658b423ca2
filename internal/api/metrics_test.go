package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/metrics"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// metricValue returns the value of the sample named with exactly these
// labels in a Prometheus text exposition, and whether it is there.
func metricValue(text, name, labels string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// A Microsoft mailbox synced by the real loops: /metrics then reports the
// server's accounts by provider and state, the messages stored, the
// provider's requests, its refusals by code and the Retry-After waits,
// the lease this process holds, the outbox and the API's latencies by
// route pattern (never by a path with an id).
func TestMetricsAfterSyncPasses(t *testing.T) {
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		e := newGraphEnv(t, opts)
		e.owner = lease.NewOwner()
		e.metrics = metrics.New(metrics.Config{Store: e.st, Owner: e.owner})
		e.srv = api.New(api.Config{Store: e.st, Now: e.clock.Now, OAuth: e.svc,
			Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Metrics: e.metrics.Handler(), ObserveHTTP: e.metrics.ObserveHTTP})
		for i := 1; i <= 3; i++ {
			e.g.AddMessage("inbox", graphMessage(i), false)
		}
		r := e.callback(e.signIn("mail"), "application/json")
		if r.Status != 200 || r.Body["mail_account_id"] == nil {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		id := int64(r.Body["mail_account_id"].(float64))
		e.start()
		e.waitFor("first sync", func() bool { return e.account(id).Str("state") == "synced" && len(e.messages(id)) == 3 })
		e.g.ThrottleAfter(0, time.Second)
		e.g.AddMessage("inbox", graphMessage(4), false)
		e.waitFor("mail after throttling", func() bool { return len(e.messages(id)["graph message 4"]) == 1 })

		// The pass that stored message 4 reports when it ends.
		var text string
		e.waitFor("the pass counted", func() bool {
			text = string(e.must(200, "GET", "/metrics", "", nil).Raw)
			v, _ := metricValue(text, "crmsync_messages_stored_total", `{provider="microsoft"}`)
			return v == 4
		})
		for _, family := range []string{"crmsync_accounts", "crmsync_sync_lag_seconds", "crmsync_messages_stored_total",
			"crmsync_provider_requests_total", "crmsync_provider_errors_total", "crmsync_throttle_waits_total",
			"crmsync_throttle_wait_seconds_total", "crmsync_leases_held", "crmsync_outbox_depth",
			"crmsync_http_request_duration_seconds", "go_goroutines"} {
			if !strings.Contains(text, "# HELP "+family+" ") {
				t.Errorf("no %s family", family)
			}
		}
		want := func(name, labels string, ok func(float64) bool) {
			t.Helper()
			v, found := metricValue(text, name, labels)
			if !found || !ok(v) {
				t.Errorf("%s%s = %v (found %v)", name, labels, v, found)
			}
		}
		atLeast := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
		equal := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
		want("crmsync_accounts", `{kind="mail",provider="microsoft",state="synced"}`, equal(1))
		want("crmsync_messages_stored_total", `{provider="microsoft"}`, equal(4))
		want("crmsync_provider_requests_total", `{provider="microsoft",status_class="2xx"}`, atLeast(2))
		want("crmsync_provider_requests_total", `{provider="microsoft",status_class="4xx"}`, atLeast(1))
		want("crmsync_throttle_waits_total", `{provider="microsoft"}`, atLeast(1))
		want("crmsync_throttle_wait_seconds_total", `{provider="microsoft"}`, atLeast(0.5))
		want("crmsync_leases_held", `{kind="mail"}`, equal(1))
		want("crmsync_leases_held", `{kind="pim"}`, equal(0))
		want("crmsync_outbox_depth", `{state="queued"}`, equal(0))
		want("crmsync_sync_lag_seconds", `{kind="mail"}`, func(v float64) bool { return v >= 0 && v < 60 })
		if !regexp.MustCompile(`(?m)^crmsync_provider_errors_total\{code="[^"]+",provider="microsoft"\} [1-9]`).MatchString(text) {
			t.Errorf("no provider error counted by code:\n%s", grepLines(text, "crmsync_provider_errors_total"))
		}
		want("crmsync_http_request_duration_seconds_count", `{route="GET /api/v1/mail-accounts/{id}",status_class="2xx"}`, atLeast(1))
		if strings.Contains(text, fmt.Sprintf("/mail-accounts/%d", id)) {
			t.Errorf("a route label holds an id:\n%s", grepLines(text, "route="))
		}
	})
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /readyz answers 200 on a current schema and 503, with the reason, on
// a database whose schema is behind this binary (a migration pending);
// /metrics without metrics wired answers 404.
func TestReadyz(t *testing.T) {
	for _, db := range []struct {
		name  string
		full  storetest.Factory
		empty func(testing.TB) *sqlstore.DB
	}{{"sqlite", storetest.SQLite, storetest.SQLiteEmpty}, {"postgres", storetest.Postgres, storetest.PostgresEmpty}} {
		t.Run(db.name, func(t *testing.T) {
			b := setup(t, bundleOpts{db: db.full})
			r := b.must(200, "GET", "/readyz", "", nil)
			if r.Str("status") != "ok" || r.Body["schema_version"] != r.Body["schema_wanted"] {
				t.Errorf("ready: %s", r.Raw)
			}
			b.must(404, "GET", "/metrics", "", nil)

			behind := db.empty(t)
			if _, err := behind.MigrateTo(context.Background(), 3); err != nil {
				t.Fatal(err)
			}
			b.srv = api.New(api.Config{Store: behind, Logger: slog.New(slog.NewJSONHandler(b.logs, nil))})
			r = b.must(503, "GET", "/readyz", "", nil)
			if r.Str("status") != "unavailable" || !strings.Contains(r.Str("reason"), "crmsync migrate") || r.Body["schema_version"] != 3.0 {
				t.Errorf("behind: %s", r.Raw)
			}
		})
	}
}
