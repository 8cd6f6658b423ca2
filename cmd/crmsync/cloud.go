package main

import (
	"cmp"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/store"
)

// cloudOptions are the durations of the loops of mailboxes signed in with
// a provider.
type cloudOptions struct {
	poll, lifetime, keepAlive, googlePoll time.Duration
}

// parseCloud reads --graph-poll, --graph-subscription-lifetime,
// --google-poll and --token-keepalive.
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
		{&o.googlePoll, cfg.GooglePoll, "google-poll", 5 * time.Second, "like 30s"},
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

// minPushToken is the shortest --google-pubsub-token taken: it is the only
// thing that tells the operator's Pub/Sub pushes from anyone's.
const minPushToken = 32

// googlePush says how Gmail mailboxes learn of new mail: watches
// publishing to --google-pubsub-topic, whose push subscription the
// operator points at the API's endpoint with --google-pubsub-token; else
// polling every --google-poll. The API needs the token with a topic:
// without it every push would be ignored.
func googlePush(cfg config.Config, o cloudOptions, st store.MailPush, withAPI bool) (mailconn.GooglePush, error) {
	p := mailconn.GooglePush{Topic: cfg.GoogleTopic, Store: st, Poll: cmp.Or(o.googlePoll, mailconn.DefaultGooglePoll)}
	if p.Topic != "" && !gmailmail.ValidTopic(p.Topic) {
		return p, usageErrorf("--google-pubsub-topic: %q is not a Pub/Sub topic, like projects/my-project/topics/gmail", p.Topic)
	}
	if withAPI && p.Topic != "" && cfg.GoogleToken == "" {
		return p, usageErrorf("--google-pubsub-topic needs --google-pubsub-token, the secret of the push subscription's endpoint")
	}
	if cfg.GoogleToken != "" && len(cfg.GoogleToken) < minPushToken {
		return p, usageErrorf("--google-pubsub-token: at least %d characters are needed", minPushToken)
	}
	return p, nil
}
