package imapsync

import (
	"context"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/emersion/go-imap/v2"
)

// Probe checks that an IMAP server answers where the settings say, with
// the security they name, and speaks IMAP: it connects, completes TLS or
// STARTTLS, reads the greeting and asks for CAPABILITY (RFC 3501 §6.1.1),
// then logs out. It does not log in: an organisation's mail service is
// checked before any user's password exists. Failures are *connerr.Error.
func Probe(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	c := newConn(cfg)
	if err := c.connect(ctx); err != nil {
		c.abort()
		return err
	}
	defer c.Close()
	o, err := c.begin(ctx, "CAPABILITY")
	if err != nil {
		return err
	}
	defer o.end()
	caps, err := c.c.Capability().Wait()
	if err != nil {
		return o.fail(err)
	}
	if !caps.Has(imap.CapIMAP4rev1) && !caps.Has(imap.CapIMAP4rev2) {
		return c.cls.fault(connerr.Protocol, nil, "%s answers, but does not say it speaks IMAP4rev1: check the host and port.", cfg.Host)
	}
	return nil
}
