package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/internal/store"
)

// The lease kinds always reported, held or not, so that a dashboard sees
// 0 rather than no series.
var leaseKinds = []string{"mail", "pim"}

var (
	accountsDesc = prometheus.NewDesc("crmsync_accounts",
		"Mail and PIM accounts of the whole server, by kind (mail, pim), provider and state.",
		[]string{"kind", "provider", "state"}, nil)
	lagDesc = prometheus.NewDesc("crmsync_sync_lag_seconds",
		"Time since the last successful sync of the account that is most behind (never synced: since it was added), by kind; accounts that do not sync (forwarding mode, disconnected) are left out.",
		[]string{"kind"}, nil)
	outboxDesc = prometheus.NewDesc("crmsync_outbox_depth",
		"Outgoing mail not yet handed to a server, by state (queued, sending).",
		[]string{"state"}, nil)
	webhookDesc = prometheus.NewDesc("crmsync_webhook_queue_depth",
		"Webhook deliveries not yet answered 2xx nor given up (pending), every organisation together.",
		nil, nil)
	leasesDesc = prometheus.NewDesc("crmsync_leases_held",
		"Leases this process holds, by kind (mail and pim: accounts it syncs; maintenance: it is the leader).",
		[]string{"kind"}, nil)
)

// overview reads the database at each scrape: the counts are the
// server's, whichever process is asked, so there is nothing to keep in
// step between processes.
type overview struct{ cfg Config }

func (o *overview) Describe(ch chan<- *prometheus.Desc) {
	ch <- accountsDesc
	ch <- lagDesc
	ch <- outboxDesc
	ch <- webhookDesc
	ch <- leasesDesc
}

func (o *overview) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.ScrapeTimeout)
	defer cancel()
	counts, err := o.cfg.Store.AccountCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(accountsDesc, err)
	} else {
		type key struct{ kind, provider, state string }
		sums := map[key]int64{}
		for _, c := range counts {
			sums[key{c.Kind, c.Provider, string(c.State)}] += c.Count
		}
		for k, n := range sums {
			ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(n), k.kind, k.provider, k.state)
		}
		now := o.cfg.Now()
		for _, kind := range []string{store.AccountKindMail, store.AccountKindPIM} {
			lag := 0.0
			if t := store.OldestSync(counts, kind); t != nil {
				lag = max(0, now.Sub(*t).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag, kind)
		}
	}
	if queued, sending, err := o.cfg.Store.OutboxDepth(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(outboxDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(queued), "queued")
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(sending), "sending")
	}
	if n, err := o.cfg.Store.WebhookQueueDepth(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(webhookDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(webhookDesc, prometheus.GaugeValue, float64(n))
	}
	leases, err := o.cfg.Store.ListLeases(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(leasesDesc, err)
		return
	}
	held := map[string]int{}
	for _, k := range leaseKinds {
		held[k] = 0
	}
	for _, l := range leases {
		if l.Owner == o.cfg.Owner {
			held[l.Kind]++
		}
	}
	for k, n := range held {
		ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(n), k)
	}
}
