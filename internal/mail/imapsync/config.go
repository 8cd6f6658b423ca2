package imapsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/portcheck"
)

// Security values for Config.Security.
const (
	SecurityTLS      = "tls"      // implicit TLS (port 993), RFC 8314
	SecuritySTARTTLS = "starttls" // plain connection upgraded with STARTTLS (port 143), RFC 3501 §6.2.1
	SecurityNone     = "none"     // no encryption: loopback or Config.AllowPlaintext only
)

// Defaults for the zero values of Config.
const (
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	// MaxIdle bounds one Idle call: RFC 2177 §3 lets servers drop a client
	// idle for 30 minutes, so a caller looping on Idle re-issues IDLE at
	// least every 25.
	MaxIdle = 25 * time.Minute
	// logoutTimeout bounds the polite LOGOUT in Close.
	logoutTimeout = 5 * time.Second
)

// Config is how to reach and log in to one IMAP account.
type Config struct {
	Host string
	// Port defaults to 993 for "tls" and 143 otherwise.
	Port int
	// Security is "tls" (the default), "starttls" or "none".
	Security string
	Username string
	Password string
	// OAuth2Token, when set, logs in with AUTHENTICATE XOAUTH2 (Gmail,
	// Microsoft 365) instead of the password.
	OAuth2Token string
	// TLSConfig is cloned; its ServerName defaults to Host. Tests set
	// RootCAs here.
	TLSConfig *tls.Config
	// AllowPlaintext permits Security "none" to a host that is not a
	// loopback address: the password then crosses the network in clear.
	AllowPlaintext bool
	// DialTimeout bounds the TCP connection, the TLS handshake and the
	// greeting (default 30 s).
	DialTimeout time.Duration
	// GreetingTimeout bounds the wait for the server's first bytes, in
	// clear and again after a TLS handshake (default
	// portcheck.DefaultTimeout, a few seconds): a mail server greets at
	// once, and one that stays silent is most often an SSL port waiting
	// for a ClientHello, which the user should hear about now rather than
	// after DialTimeout (package portcheck).
	GreetingTimeout time.Duration
	// CommandTimeout is how long a command may go without the server
	// sending anything before the connection is declared dead (default
	// 60 s). During a FETCH every byte received restarts it, so a large
	// batch on a slow but live link does not time out.
	CommandTimeout time.Duration
	// MaxMessageBytes bounds one message body the server sends (default
	// DefaultMaxMessageBytes, 100 MiB): a larger literal fails the
	// connection with connerr.Protocol (frame.go).
	MaxMessageBytes int64
	// MaxFolders bounds how many folders Folders accepts (default
	// DefaultMaxFolders); more fail with connerr.Protocol.
	MaxFolders int
	// Logger receives debug events (never credentials); nil discards.
	Logger *slog.Logger
	// Dial opens the TCP connection; nil is a plain net.Dialer. The
	// connector wiring passes the network guard's (package netguard), so
	// that a user's settings cannot reach internal hosts.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrPlaintext is wrapped by the *connerr.Error Dial returns when Security is
// "none" towards a non-loopback host without AllowPlaintext.
var ErrPlaintext = errors.New("imapsync: refusing to log in without TLS")

// withDefaults returns a copy with the zero values filled in, or a
// *connerr.Error for a configuration that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	cfg.Security = strings.ToLower(strings.TrimSpace(cfg.Security))
	if cfg.Security == "" {
		cfg.Security = SecurityTLS
	}
	switch cfg.Security {
	case SecurityTLS, SecuritySTARTTLS, SecurityNone:
	default:
		return cfg, &connerr.Error{Kind: connerr.Protocol,
			Message: fmt.Sprintf("Unknown connection security %q: choose tls, starttls or none.", cfg.Security)}
	}
	if cfg.Host == "" {
		return cfg, &connerr.Error{Kind: connerr.Protocol, Message: "No IMAP server given."}
	}
	if cfg.Port == 0 {
		cfg.Port = 143
		if cfg.Security == SecurityTLS {
			cfg.Port = 993
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, &connerr.Error{Kind: connerr.Protocol, Message: fmt.Sprintf("Invalid port %d.", cfg.Port)}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.GreetingTimeout <= 0 {
		cfg.GreetingTimeout = portcheck.DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxFolders <= 0 {
		cfg.MaxFolders = DefaultMaxFolders
	}
	if cfg.Security == SecurityNone && !cfg.AllowPlaintext && !isLoopback(cfg.Host) {
		return cfg, &connerr.Error{Kind: connerr.TLS, Server: cfg.addr(), Err: ErrPlaintext,
			Message: fmt.Sprintf("Refusing to send your password unencrypted to %s: choose TLS or STARTTLS.", cfg.Host)}
	}
	return cfg, nil
}

// addr is "host:port".
func (cfg Config) addr() string { return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)) }

// tlsConfig is cfg.TLSConfig cloned, with ServerName defaulting to Host
// and at least TLS 1.2.
func (cfg Config) tlsConfig() *tls.Config {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc
}

// isLoopback reports whether host names this machine without a lookup:
// "localhost" (RFC 6761 §6.3) or a loopback IP literal.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.IsLoopback()
}
