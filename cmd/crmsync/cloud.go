package main

import (
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/store"
)

// cloudOptions are the durations of the loops of mailboxes signed in with
// a provider.
type cloudOptions struct {
	poll, lifetime, keepAlive time.Duration
}

// parseCloud reads --graph-poll, --graph-subscription-lifetime and
// --token-keepalive.
func parseCloud(cfg config.Config) (cloudOptions, error) {
	var o cloudOptions
	for _, d := range []struct {
		dst  *time.Duration
		s    string
		flag string
		min  time.Duration
		hint string
	}{
		{&o.poll, cfg.GraphPoll, "graph-poll", 5 * time.Second, "like 30s"},
		{&o.lifetime, cfg.GraphLifetime, "graph-subscription-lifetime", time.Hour, "like 70h30m (4,230 minutes)"},
		{&o.keepAlive, cfg.TokenKeepAlive, "token-keepalive", time.Hour, "like 168h (7 days)"},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < d.min {
			return o, usageErrorf("--%s: %q is not a duration of at least %s, %s", d.flag, d.s, d.min, d.hint)
		}
		*d.dst = v
	}
	return o, nil
}

// graphPush says how Microsoft mailboxes learn of new mail: Graph notifies
// the API's public endpoints when --public-url is https (mailconn checks),
// else they are polled.
func graphPush(publicURL string, o cloudOptions, st store.MailPush) mailconn.GraphPush {
	base := strings.TrimSuffix(publicURL, "/")
	return mailconn.GraphPush{NotificationURL: base + api.GraphNotificationsPath, LifecycleURL: base + api.GraphLifecyclePath,
		Store: st, Lifetime: o.lifetime, Poll: o.poll}
}
