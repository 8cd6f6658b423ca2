package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/dropbox"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/maintenance"
	"github.com/crmsync/crmsync/internal/metrics"
	"github.com/crmsync/crmsync/internal/oauth"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/web"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// HTTP server limits.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the REST API and run the background loops",
		help: "Serves the REST API (under /api/v1, described at /api/v1/openapi.json; /healthz and /readyz for probes, /metrics for Prometheus) and runs the " +
			"background loops, until SIGINT or SIGTERM, then finishes the requests under way (up to 10 s) and stops. " +
			"It refuses to start on a database whose schema is not the one this binary needs, or without the secret key.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.String(&cfg.HTTPAddr, config.HTTP)
			cfg.RegisterSecretKeyFile(fs)
			cfg.RegisterLog(fs)
			cfg.RegisterMail(fs)
			fs.String(&cfg.SMTPAddr, config.SMTP)
			fs.String(&cfg.DropboxDomain, config.DropboxDomain)
			fs.String(&cfg.PublicURL, config.PublicURL)
			cfg.RegisterCloud(fs)
			fs.String(&cfg.GoogleToken, config.GooglePubSubToken)
			fs.String(&cfg.Retention, config.Retention)
			fs.Bool(&cfg.TrustForwardedFor, config.TrustForwardedFor)
			fs.String(&cfg.PasswordHashMemory, config.PasswordHashMemory)
		},
		run: func(ctx context.Context, a *app, cfg config.Config) error { return serve(ctx, a, cfg, true) },
	}
}

func workerCommand() *command {
	return &command{
		name:    "worker",
		summary: "run the background loops only (scale-out on PostgreSQL)",
		help: "Runs the background loops without serving the API, until SIGINT or SIGTERM. Processes sharing a " +
			"PostgreSQL database split the work between them through leases, so workers on more machines add capacity; " +
			"`crmsync serve` runs the same loops itself.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			cfg.RegisterMail(fs)
			fs.String(&cfg.PublicURL, config.PublicURL)
			cfg.RegisterCloud(fs)
			cfg.RegisterSecretKeyFile(fs)
			cfg.RegisterLog(fs)
			fs.String(&cfg.MetricsAddr, config.MetricsAddr)
		},
		run: func(ctx context.Context, a *app, cfg config.Config) error { return serve(ctx, a, cfg, false) },
	}
}

// serve is `crmsync serve` (withAPI) and `crmsync worker`.
func serve(ctx context.Context, a *app, cfg config.Config, withAPI bool) error {
	log := cfg.Logger(a.stderr)
	guard, err := networkGuard(cfg)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg.DB, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.RequireCurrent(ctx, db); err != nil {
		return err
	}
	kr, source, _, err := loadKeys(a, cfg, db, false)
	if err != nil {
		return err
	}
	log.Info("opened the database", "kind", db.kind, "db", db.display)
	log.Info("loaded the secret keys", "source", source, "active_key", kr.ActiveKeyID())
	warnUnopenedCredentials(ctx, log, db, kr, source)
	if !withAPI && db.kind == config.SQLite {
		log.Warn("a worker on SQLite adds no capacity: `crmsync serve` already runs every loop; workers help with PostgreSQL")
	}

	if s := guard.String(); s != "" {
		log.Info("users may reach these internal servers", "private_hosts", s)
	}
	conn, err := newMailConnector(cfg, guard, db, kr, log)
	if err != nil {
		return err
	}

	pconn := newPIMConnector(guard, db, kr, log)

	hashMemory, err := parseHashMemory(cfg.PasswordHashMemory)
	if err != nil {
		return err
	}
	retention, err := parseRetention(cfg.Retention)
	if err != nil {
		return err
	}
	// Sign-in belongs to the API (a worker has no --public-url).
	var signIn *oauth.Service
	var singleSignOn *sso.Service
	if withAPI {
		if signIn, err = newOAuth(guard, db, kr, cfg.PublicURL); err != nil {
			return err
		}
		singleSignOn = newSSO(guard, db, kr, cfg.PublicURL)
	}
	// The sync loops refresh the tokens of mailboxes signed in with a
	// provider: a worker gets a service for that alone (no sign-in, so no
	// public address).
	tokens := signIn
	if tokens == nil {
		tokens = newOAuthTokens(guard, db, kr)
	}
	// One registry per process: its counters are this process's work,
	// its account and outbox figures the whole server's.
	owner := lease.NewOwner()
	mx := metrics.New(metrics.Config{Store: db, Owner: owner, Logger: log})
	cloud := &cloudconn.Clients{OAuth: tokens, Guard: guard,
		Observer: func(provider string) cloudapi.Observer { return mx.Provider(provider) }}
	conn.Cloud = cloud
	pconn.Cloud = cloud // the same gates: a user's mail, contacts, calendar and tasks share the provider's limits
	cc, err := parseCloud(cfg)
	if err != nil {
		return err
	}
	conn.GraphPush = graphPush(cfg.PublicURL, cc, db)
	if conn.GraphPush.Enabled() {
		log.Info("Microsoft mailboxes get new mail by change notifications", "endpoint", conn.GraphPush.NotificationURL)
	} else {
		log.Info("Microsoft mailboxes are polled for new mail: change notifications need an https --public-url", "every", cc.poll)
	}
	if conn.GooglePush, err = googlePush(cfg, cc, db, withAPI); err != nil {
		return err
	}
	if conn.GooglePush.Enabled() {
		log.Info("Gmail mailboxes get new mail by push through Pub/Sub", "topic", conn.GooglePush.Topic,
			"endpoint", strings.TrimSuffix(cfg.PublicURL, "/")+api.GoogleNotificationsPath)
	} else {
		log.Info("Gmail mailboxes are polled for new mail: push needs --google-pubsub-topic", "every", conn.GooglePush.Poll)
	}
	var inbound *dropbox.Server
	if withAPI && cfg.SMTPAddr != "" {
		if inbound, err = startDropbox(cfg, db, log); err != nil {
			return err
		}
		defer inbound.Close()
	}

	// Webhook deliveries: the queue is attached to the store before any
	// loop or request writes, so that every event's job is inserted with it.
	hooks, hookSvc, err := startWebhooks(ctx, db, kr, guard, log)
	if err != nil {
		return err
	}

	workers := syncer.New(syncer.Config{Store: db, Logger: log, Owner: owner, Observer: mx,
		Mail:      &syncer.MailConfig{Dial: conn.Dial, Engine: mailsync.Config{Parse: conn.Parse, Send: conn.Send}},
		PIM:       pimConfig(pconn, db),
		KeepAlive: &maintenance.KeepAlive{Idle: cc.keepAlive, Refresh: tokens.Refresh}})
	var srv *http.Server
	var ln net.Listener
	if withAPI {
		// Listen before anything starts, so that a busy port fails at once.
		ln, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return err
		}
		apiSrv := api.New(api.Config{Store: db, Logger: log, Mail: apiMail{conn}, Wake: workers.WakeMail,
			PIM: pconn, WakePIM: workers.WakePIM,
			DropboxDomain: cfg.DropboxDomain, Retention: retention,
			TrustForwardedFor: cfg.TrustForwardedFor, PasswordHashMemory: hashMemory,
			OAuth: signIn, SSO: singleSignOn, Keys: kr, GooglePushToken: cfg.GoogleToken, Metrics: mx.Handler(), ObserveHTTP: mx.ObserveHTTP,
			Webhooks: hookSvc})
		// The web app runs its workflows through the API's services.
		apiSrv.Mount(web.New(web.Config{Store: db, Logger: log, Accounts: apiSrv.Accounts(), Users: apiSrv.Users(),
			SignIn: apiSrv.SignIn(), Messages: apiSrv.Messages(), OAuth: signIn, SSO: singleSignOn,
			SecureCookies:     strings.HasPrefix(cfg.PublicURL, "https://"),
			TrustForwardedFor: cfg.TrustForwardedFor, DropboxDomain: cfg.DropboxDomain, Retention: retention}))
		srv = &http.Server{
			Handler:           apiSrv,
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	} else if cfg.MetricsAddr != "" {
		// A worker has no API; its metrics (the leases it holds, the
		// passes it ran) get a listener of their own.
		if ln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", mx.Handler())
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	}

	loopsCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var wg sync.WaitGroup
	wg.Go(func() {
		workers.Run(loopsCtx)
	})
	if err := hooks.Start(loopsCtx); err != nil {
		stopLoops()
		wg.Wait()
		return fmt.Errorf("starting the webhook queue: %w", err)
	}

	serveErr := make(chan error, 1)
	switch {
	case withAPI:
		go func() { serveErr <- srv.Serve(ln) }()
		log.Info("listening on http://"+ln.Addr().String(), "addr", ln.Addr().String())
	case srv != nil:
		go func() { serveErr <- srv.Serve(ln) }()
		log.Info("worker started; metrics on http://"+ln.Addr().String()+"/metrics", "addr", ln.Addr().String())
	default:
		log.Info("worker started")
	}

	select {
	case <-ctx.Done():
		log.Info("stopping: finishing the requests and loops under way")
	case err = <-serveErr:
		log.Error("the HTTP server failed; stopping", "err", err)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("requests still running after the shutdown timeout were cut off", "err", serr)
			srv.Close()
		}
		cancel()
	}
	// Attempts under way finish (each is bounded), then the loops stop.
	qctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout+webhooks.DefaultAttemptTimeout)
	if qerr := hooks.Stop(qctx); qerr != nil {
		log.Warn("webhook deliveries still running at shutdown were cut off; they are sent again", "err", qerr)
	}
	cancel()
	stopLoops()
	wg.Wait()
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
