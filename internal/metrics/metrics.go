// Package metrics is the process's Prometheus registry: the counters the
// sync loops, the provider clients and the API feed through small
// observer interfaces (so that none of them imports Prometheus), and a
// collector that reads the database's overview at each scrape. Each
// Metrics has its own registry: nothing is global, so tests and several
// servers in one process never share counts.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmsync/crmsync/internal/store"
)

// Source is what the scrape-time collector reads.
type Source interface {
	store.Overview
	ListLeases(ctx context.Context) ([]store.Lease, error)
}

// Config says what the metrics describe.
type Config struct {
	Store Source
	// Owner is this process's lease owner (syncer.Config.Owner): the
	// leases it holds are counted.
	Owner string
	// ScrapeTimeout bounds the database reads of one scrape (default 5 s).
	ScrapeTimeout time.Duration
	Now           func() time.Time // default time.Now
	Logger        *slog.Logger     // default slog.Default()
}

// Metrics holds the registry and the metrics fed by observers.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	messagesStored   *prometheus.CounterVec
	pimItems         *prometheus.CounterVec
	syncFailures     *prometheus.CounterVec
	providerRequests *prometheus.CounterVec
	providerErrors   *prometheus.CounterVec
	throttleWaits    *prometheus.CounterVec
	throttleSeconds  *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
}

// New returns the metrics of one process, registered in a registry of
// their own with the Go runtime's and the process's.
func New(cfg Config) *Metrics {
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: cfg.Logger,
		messagesStored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_messages_stored_total",
			Help: "Messages stored anew by the mail sync loops of this process, by provider."}, []string{"provider"}),
		pimItems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_pim_items_synced_total",
			Help: "Contacts, tasks and events written by the PIM sync loops of this process, by provider and direction (to_crm, to_remote)."},
			[]string{"provider", "direction"}),
		syncFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_sync_failures_total",
			Help: "Failed passes of the account loops of this process (IMAP, SMTP, DAV and provider APIs alike), by loop kind (mail, pim), provider and the error code users see."},
			[]string{"kind", "provider", "code"}),
		providerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_provider_requests_total",
			Help: "Attempts of requests to provider APIs (Microsoft Graph, Google), by provider and status class (2xx, 4xx, 5xx, none when no answer came)."},
			[]string{"provider", "status_class"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_provider_errors_total",
			Help: "Refused or unanswered requests to provider APIs, by provider and error code (the provider's code, else the HTTP status, or no_answer)."},
			[]string{"provider", "code"}),
		throttleWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_throttle_waits_total",
			Help: "Requests to provider APIs held back by a Retry-After, by provider."}, []string{"provider"}),
		throttleSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmsync_throttle_wait_seconds_total",
			Help: "Time requests to provider APIs waited on a Retry-After, by provider."}, []string{"provider"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crmsync_http_request_duration_seconds",
			Help:    "Latency of the API's answers, by route pattern (never a raw path) and status class.",
			Buckets: prometheus.DefBuckets}, []string{"route", "status_class"}),
	}
	m.reg.MustRegister(m.messagesStored, m.pimItems, m.syncFailures, m.providerRequests, m.providerErrors,
		m.throttleWaits, m.throttleSeconds, m.httpDuration,
		&overview{cfg: cfg},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry the metrics are in (tests gather it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format. A scrape
// whose database reads fail still answers the other metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)})
}

// MailPass counts the messages a mail pass stored (syncer.Observer).
func (m *Metrics) MailPass(provider string, inserted int64) {
	if inserted > 0 {
		m.messagesStored.WithLabelValues(provider).Add(float64(inserted))
	}
}

// PIMPass counts the records a PIM pass wrote (syncer.Observer).
func (m *Metrics) PIMPass(provider string, toCRM, toRemote int64) {
	if toCRM > 0 {
		m.pimItems.WithLabelValues(provider, "to_crm").Add(float64(toCRM))
	}
	if toRemote > 0 {
		m.pimItems.WithLabelValues(provider, "to_remote").Add(float64(toRemote))
	}
}

// Failed counts a failed pass of an account loop (syncer.Observer).
func (m *Metrics) Failed(kind, provider, code string) {
	m.syncFailures.WithLabelValues(kind, provider, code).Inc()
}

// ObserveHTTP records an API answer; route is the ServeMux pattern.
func (m *Metrics) ObserveHTTP(route string, status int, d time.Duration) {
	m.httpDuration.WithLabelValues(route, statusClass(status)).Observe(d.Seconds())
}

// Provider returns the observer of one provider's API clients
// (cloudapi.Observer).
func (m *Metrics) Provider(name string) *ProviderObserver {
	return &ProviderObserver{m: m, name: name}
}

// ProviderObserver counts one provider's requests (cloudapi.Observer).
type ProviderObserver struct {
	m    *Metrics
	name string
}

// Attempt counts one attempt and, unless it succeeded, its error code.
func (o *ProviderObserver) Attempt(status int, code string) {
	o.m.providerRequests.WithLabelValues(o.name, statusClass(status)).Inc()
	if status/100 == 2 {
		return
	}
	switch {
	case code != "":
	case status == 0:
		code = "no_answer"
	default:
		code = strconv.Itoa(status)
	}
	o.m.providerErrors.WithLabelValues(o.name, code).Inc()
}

// ThrottleWait counts a wait on a Retry-After.
func (o *ProviderObserver) ThrottleWait(d time.Duration) {
	o.m.throttleWaits.WithLabelValues(o.name).Inc()
	o.m.throttleSeconds.WithLabelValues(o.name).Add(d.Seconds())
}

// statusClass is "2xx"… for an HTTP status, "none" for no answer.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}
