package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// Config is every option after parsing. Each subcommand registers, and so
// reads, only the fields it uses.
type Config struct {
	DB                 string
	HTTPAddr           string
	OrgName            string
	AdminEmail         string
	AdminName          string
	AdminPasswordFile  string
	TokenOut           string // --token-out of init and org create, --out of users token
	UserEmail          string
	TokenName          string
	PasswordFile       string
	SecretKeyFile      string
	NoNewKey           bool
	LogLevel           string
	LogFormat          string
	MailCAFile         string
	PrivateHosts       string
	SMTPAddr           string
	DropboxDomain      string
	PublicURL          string
	GraphPoll          string
	GraphLifetime      string
	GooglePoll         string
	GoogleTopic        string
	GoogleToken        string
	TokenKeepAlive     string
	Retention          string
	TrustForwardedFor  bool
	PasswordHashMemory string
	MetricsAddr        string
	StatusJSON         bool
	// Arg is the positional argument of commands that take one.
	Arg string
}

// RegisterMail registers the options of the commands that reach mail
// servers.
func (c *Config) RegisterMail(fs *FlagSet) {
	fs.String(&c.MailCAFile, MailCAFile)
	fs.String(&c.PrivateHosts, PrivateHosts)
}

// RegisterCloud registers the options of the loops of mailboxes signed
// in with a provider: --graph-poll, --graph-subscription-lifetime,
// --google-poll, --google-pubsub-topic, --token-keepalive.
func (c *Config) RegisterCloud(fs *FlagSet) {
	fs.String(&c.GraphPoll, GraphPoll)
	fs.String(&c.GraphLifetime, GraphSubscriptionLifetime)
	fs.String(&c.GooglePoll, GooglePoll)
	fs.String(&c.GoogleTopic, GooglePubSubTopic)
	fs.String(&c.TokenKeepAlive, TokenKeepAlive)
}

// RegisterDB registers --db.
func (c *Config) RegisterDB(fs *FlagSet) { fs.String(&c.DB, DB) }

// RegisterLog registers --log-level and --log-format.
func (c *Config) RegisterLog(fs *FlagSet) {
	fs.Choice(&c.LogLevel, LogLevel, "debug", "info", "warn", "error")
	fs.Choice(&c.LogFormat, LogFormat, "text", "json")
}

// RegisterSecretKeyFile registers --secret-key-file, and documents
// CRMSYNC_SECRET_KEY beside it (package secret reads that one).
func (c *Config) RegisterSecretKeyFile(fs *FlagSet) {
	fs.String(&c.SecretKeyFile, SecretKeyFile)
	fs.EnvOnly(SecretKey)
}

// Logger returns a logger writing to w in the configured format, at the
// configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Database kinds, as returned by ParseDB.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ParseDB tells which database a --db value names. A postgres:// or
// postgresql:// URL (scheme in any case) is PostgreSQL, and target is the
// URL as given. Anything else is a SQLite file, and target is its path,
// without an optional sqlite: or file: prefix (with sqlite:///abs/path and
// file:///abs/path meaning /abs/path).
func ParseDB(dsn string) (kind, target string, err error) {
	dsn = strings.TrimSpace(dsn)
	if hasPrefixFold(dsn, "postgres://") || hasPrefixFold(dsn, "postgresql://") {
		return Postgres, dsn, nil
	}
	path := dsn
	for _, p := range []string{"sqlite:", "file:"} {
		if hasPrefixFold(path, p) {
			path = path[len(p):]
			// An empty URL authority: sqlite:///var/lib/x.db is /var/lib/x.db,
			// and sqlite://x.db is x.db rather than /x.db.
			path = strings.TrimPrefix(path, "//")
			break
		}
	}
	switch {
	case path == "":
		return "", "", errors.New("empty database: give a SQLite file path or a postgres:// URL")
	case strings.ContainsAny(path, "?#"):
		return "", "", fmt.Errorf("SQLite path %q must not contain '?' or '#': crmsync sets the connection options itself", path)
	case strings.HasPrefix(path, "host=") || strings.Contains(path, " dbname=") || strings.HasPrefix(path, "dbname="):
		return "", "", errors.New("that looks like a PostgreSQL key=value connection string: give it as a postgres:// URL instead")
	}
	return SQLite, path, nil
}

// RedactDB returns dsn with any password replaced, for log lines.
func RedactDB(dsn string) string {
	kind, target, err := ParseDB(dsn)
	if err != nil || kind != Postgres {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "postgres://…" // unparsable: show nothing that might be a password
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
