package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/autoconfig"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/mail/dropbox"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// newMailConnector builds what the API and the sync loops use to reach
// mail servers.
func newMailConnector(cfg config.Config, guard *netguard.Guard, creds store.Credentials, kr *secret.Keyring, log *slog.Logger) (*mailconn.Connector, error) {
	tc, err := mailTLS(cfg.MailCAFile)
	if err != nil {
		return nil, err
	}
	d := &autoconfig.Discoverer{Guard: guard}
	return &mailconn.Connector{Credentials: creds, Keys: kr, Discoverer: d, Guard: guard, TLSConfig: tc, Logger: log}, nil
}

// mailTLS trusts the system's authorities plus those of caFile.
func mailTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--mail-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--mail-ca-file: %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// apiMail adapts the connector to the API's interface.
type apiMail struct{ *mailconn.Connector }

func (m apiMail) Discover(ctx context.Context, email string) (api.Discovery, error) {
	r, err := m.Connector.Discover(ctx, email)
	if errors.Is(err, autoconfig.ErrNotFound) {
		return api.Discovery{}, api.ErrSettingsNotFound
	}
	if err != nil {
		return api.Discovery{}, err
	}
	return api.Discovery{IMAP: mailconn.Settings(r.IMAP), SMTP: mailconn.Settings(r.SMTP), Source: string(r.Source),
		Provider: r.Provider, Detail: r.Detail, Auth: string(r.Auth), SignIn: r.SignIn, Hint: r.Hint}, nil
}

func autoconfigCommand() *command {
	return &command{
		name:    "autoconfig",
		summary: "find the IMAP and SMTP settings of an email address",
		help: "Looks up the server settings for ADDRESS the way the API does (built-in providers, the domain's autoconfig " +
			"file, SRV and MX records, then probing likely host names) and prints them as JSON, or says that nothing was found. " +
			"Usage: crmsync autoconfig [flags] ADDRESS",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			fs.TakesArg("ADDRESS")
			cfg.RegisterMail(fs)
		},
		run: func(ctx context.Context, a *app, cfg config.Config) error {
			guard, err := networkGuard(cfg)
			if err != nil {
				return err
			}
			d := &autoconfig.Discoverer{Guard: guard}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			r, err := d.Discover(ctx, cfg.Arg)
			if errors.Is(err, autoconfig.ErrInvalidAddress) {
				return usageErrorf("%v", err)
			}
			if err != nil {
				var nf *autoconfig.NotFoundError
				if errors.As(err, &nf) {
					for _, t := range nf.Tried {
						fmt.Fprintln(a.stderr, "  tried:", t)
					}
				}
				return err
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		},
	}
}

// parseRetention reads --retention.
func parseRetention(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour {
		return 0, usageErrorf("--retention: %q is not a duration of at least 1h, like 720h (30 days)", s)
	}
	return d, nil
}

// startDropbox listens for forwarding-mode mail on --smtp.
func startDropbox(cfg config.Config, db *database, log *slog.Logger) (*dropbox.Server, error) {
	if cfg.DropboxDomain == "" {
		return nil, usageErrorf("--smtp needs --dropbox-domain: the domain of the dropbox addresses")
	}
	srv := dropbox.New(dropbox.Config{Addr: cfg.SMTPAddr, Domain: cfg.DropboxDomain, Logger: log.With("server", "smtp")},
		&mailsync.Dropbox{Store: db, Logger: log})
	ln, err := net.Listen("tcp", cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--smtp: %w", err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, dropbox.ErrServerClosed) {
			log.Error("the inbound SMTP server stopped", "err", err)
		}
	}()
	log.Info("receiving forwarded mail on smtp://"+ln.Addr().String(), "dropbox_domain", cfg.DropboxDomain)
	return srv, nil
}
