package smtpout

import "context"

// Probe checks that a submission server answers where cfg says, with the
// security it names: it connects, completes TLS, says EHLO, upgrades with
// STARTTLS when asked, and quits without logging in (an organisation's
// mail service is checked before any user's password exists). Failures
// are *connerr.Error.
func Probe(ctx context.Context, cfg Config) error {
	cfg.Username, cfg.Password = "", ""
	return Verify(ctx, cfg)
}
