package config

import (
	"fmt"
	"strings"
)

// Option is one setting: a command-line flag and the environment variable
// behind it. Options are declared once, here, so that --help, the table in
// the package documentation and the README cannot disagree.
type Option struct {
	Flag     string   // without dashes; "" for a setting read only from the environment
	Env      string   // CRMSYNC_…
	Default  string   // as shown in --help and used when neither flag nor variable is set
	Arg      string   // placeholder in --help ("DSN"); "" for a boolean flag
	Commands []string // the subcommands that take it
	Usage    string   // one sentence, for --help and the table
}

// The options. Their order is that of the table in the package documentation.
var (
	DB = Option{Flag: "db", Env: "CRMSYNC_DB", Default: "crmsync.db", Arg: "DSN",
		Commands: []string{"init", "org create", "users token", "users password", "serve", "worker", "migrate", "status", "keys rotate", "keys usage"},
		Usage: "Database: a postgres:// or postgresql:// URL selects PostgreSQL; anything else is the path of a SQLite file " +
			"(a sqlite: or file: prefix is allowed)."}
	HTTP = Option{Flag: "http", Env: "CRMSYNC_HTTP", Default: "127.0.0.1:8080", Arg: "ADDR",
		Commands: []string{"serve"},
		Usage:    "Address the REST API listens on; use :8080 to listen on every interface."}
	Org = Option{Flag: "org", Env: "CRMSYNC_ORG", Arg: "NAME",
		Commands: []string{"init"},
		Usage:    "Name of the first organisation (required)."}
	OrgName = Option{Flag: "name", Env: "CRMSYNC_ORG", Arg: "NAME",
		Commands: []string{"org create"},
		Usage:    "Name of the new organisation (required)."}
	AdminEmail = Option{Flag: "admin-email", Env: "CRMSYNC_ADMIN_EMAIL", Arg: "EMAIL",
		Commands: []string{"init", "org create"},
		Usage:    "Email address of the organisation's admin, who signs in with it (required; unique across organisations)."}
	AdminName = Option{Flag: "admin-name", Env: "CRMSYNC_ADMIN_NAME", Arg: "NAME",
		Commands: []string{"init", "org create"},
		Usage:    "Display name of the admin (default: the part of the email before the @)."}
	AdminPasswordFile = Option{Flag: "admin-password-file", Env: "CRMSYNC_ADMIN_PASSWORD_FILE", Arg: "FILE",
		Commands: []string{"init", "org create"},
		Usage: "File holding the admin's password (one trailing newline is ignored; at least 10 characters). " +
			"Without it the admin signs in with the printed API token only until a password is set."}
	TokenOut = Option{Flag: "token-out", Env: "CRMSYNC_TOKEN_OUT", Arg: "FILE",
		Commands: []string{"init", "org create"},
		Usage: "Write the admin's API token to FILE, created with mode 0600, instead of standard output. An existing FILE is " +
			"refused, never overwritten: it may hold the only token."}
	UserEmail = Option{Flag: "email", Env: "CRMSYNC_USER_EMAIL", Arg: "EMAIL",
		Commands: []string{"users token", "users password"},
		Usage:    "Email address of the user, who signs in with it (required)."}
	TokenName = Option{Flag: "name", Env: "CRMSYNC_TOKEN_NAME", Default: "crmsync users token", Arg: "NAME",
		Commands: []string{"users token"},
		Usage:    "Name of the new token, shown in the user's token list so they know which to revoke later."}
	Out = Option{Flag: "out", Env: "CRMSYNC_TOKEN_OUT", Arg: "FILE",
		Commands: []string{"users token"},
		Usage: "Write the token to FILE, created with mode 0600, instead of standard output. An existing FILE is refused, " +
			"never overwritten: it may hold the only token."}
	PasswordFile = Option{Flag: "password-file", Env: "CRMSYNC_PASSWORD_FILE", Arg: "FILE",
		Commands: []string{"users password"},
		Usage: "File holding the new password (one trailing newline is ignored; at least 10 characters). Without it the " +
			"password is asked for on the terminal, not shown, or read as one line from standard input when that is not a terminal."}
	SecretKeyFile = Option{Flag: "secret-key-file", Env: "CRMSYNC_SECRET_KEY_FILE", Arg: "FILE",
		Commands: []string{"init", "org create", "serve", "worker", "keys rotate", "keys usage"},
		Usage: "Key file for the credentials stored encrypted: mode 0600, one line \"ID KEY\" per key (KEY: 32 random bytes in base64), " +
			"the last one active. Default with SQLite: the database path plus .key. init creates the file if it is missing."}
	SecretKey = Option{Env: "CRMSYNC_SECRET_KEY",
		Commands: []string{"init", "org create", "serve", "worker", "keys rotate", "keys usage"},
		Usage: "The keys themselves instead of a key file: \"ID KEY\" entries separated by newlines or commas, the last one active " +
			"(`crmsync keys generate` prints one). Not a flag, so that keys never show in a process list."}
	NoNewKey = Option{Flag: "no-new-key", Env: "CRMSYNC_NO_NEW_KEY", Default: "false",
		Commands: []string{"keys rotate"},
		Usage:    "Only re-encrypt under the active key; do not append a new key to the key file."}
	LogLevel = Option{Flag: "log-level", Env: "CRMSYNC_LOG_LEVEL", Default: "info", Arg: "LEVEL",
		Commands: []string{"serve", "worker"},
		Usage:    "Least severe log messages written: debug, info, warn or error."}
	LogFormat = Option{Flag: "log-format", Env: "CRMSYNC_LOG_FORMAT", Default: "text", Arg: "FORMAT",
		Commands: []string{"serve", "worker"},
		Usage:    "Log format on standard error: text (key=value) or json (one object per line)."}

	MailCAFile = Option{Flag: "mail-ca-file", Env: "CRMSYNC_MAIL_CA_FILE", Arg: "FILE",
		Commands: []string{"serve", "worker", "autoconfig"},
		Usage: "PEM file of extra certificate authorities trusted for IMAP and SMTP servers (a company CA); " +
			"the system's authorities stay trusted. Certificates are always verified."}
	PrivateHosts = Option{Flag: "private-hosts", Env: "CRMSYNC_PRIVATE_HOSTS", Arg: "LIST",
		Commands: []string{"serve", "worker", "autoconfig"},
		Usage: "Internal servers users may reach, comma-separated CIDRs, addresses or host names (10.0.0.0/8, mail.corp.internal): " +
			"mail and CardDAV/CalDAV servers, autoconfiguration, redirects and webhook endpoints. Loopback, private, link-local and other non-public " +
			"addresses are refused otherwise (422 destination_not_allowed), so that a user cannot make the server reach internal hosts."}

	SMTP = Option{Flag: "smtp", Env: "CRMSYNC_SMTP", Arg: "ADDR",
		Commands: []string{"serve"},
		Usage: "Address of the inbound SMTP server for forwarding mode (for example :25 or 127.0.0.1:2525); off when empty. " +
			"Needs --dropbox-domain."}
	DropboxDomain = Option{Flag: "dropbox-domain", Env: "CRMSYNC_DROPBOX_DOMAIN", Arg: "DOMAIN",
		Commands: []string{"serve"},
		Usage: "Domain of the dropbox addresses (its MX must point at this server's --smtp address). " +
			"A forwarding-mode mailbox gets TOKEN@DOMAIN."}
	PublicURL = Option{Flag: "public-url", Env: "CRMSYNC_PUBLIC_URL", Default: "http://127.0.0.1:8080", Arg: "URL",
		Commands: []string{"serve", "worker"},
		Usage: "Address users reach this server at: the base of the sign-in redirect (register {URL}/oauth/microsoft/callback " +
			"with the organisation's Microsoft app) and of the web UI the browser returns to. When it is https, mailboxes signed in " +
			"with Microsoft get new mail by Graph's change notifications to {URL}/graph/notifications (Graph must reach it); " +
			"otherwise they are polled every --graph-poll. Workers need the API's address too."}
	GraphPoll = Option{Flag: "graph-poll", Env: "CRMSYNC_GRAPH_POLL", Default: "30s", Arg: "DURATION",
		Commands: []string{"serve", "worker"},
		Usage: "How often a mailbox signed in with Microsoft is asked for new mail when change notifications are off (no https " +
			"--public-url) or failing. With notifications, a round still runs every 15 minutes for what they missed."}
	GraphSubscriptionLifetime = Option{Flag: "graph-subscription-lifetime", Env: "CRMSYNC_GRAPH_SUBSCRIPTION_LIFETIME", Default: "70h30m", Arg: "DURATION",
		Commands: []string{"serve", "worker"},
		Usage: "Lifetime asked for a Microsoft Graph mail subscription (4,230 minutes by Graph's documented limit; newer figures " +
			"say 7 days). It is renewed once half of it has passed."}
	GooglePoll = Option{Flag: "google-poll", Env: "CRMSYNC_GOOGLE_POLL", Default: "30s", Arg: "DURATION",
		Commands: []string{"serve", "worker"},
		Usage: "How often a mailbox signed in with Google is asked for new mail (history.list) when push is off (no " +
			"--google-pubsub-topic) or failing. With push, a round still runs every 15 minutes for what it missed."}
	GooglePubSubTopic = Option{Flag: "google-pubsub-topic", Env: "CRMSYNC_GOOGLE_PUBSUB_TOPIC", Arg: "TOPIC",
		Commands: []string{"serve", "worker"},
		Usage: "Pub/Sub topic (projects/PROJECT/topics/TOPIC, in the project of the organisations' Google apps, with publish " +
			"rights for gmail-api-push@system.gserviceaccount.com) that Gmail watches publish to. Give the topic a push " +
			"subscription to {URL}/google/notifications?token=SECRET with SECRET as --google-pubsub-token; without a topic, " +
			"Gmail mailboxes are polled every --google-poll."}
	GooglePubSubToken = Option{Flag: "google-pubsub-token", Env: "CRMSYNC_GOOGLE_PUBSUB_TOKEN", Arg: "SECRET",
		Commands: []string{"serve"},
		Usage: "Secret in the token query parameter of the Pub/Sub push subscription's endpoint: a push without it is ignored. " +
			"Required with --google-pubsub-topic; at least 32 characters (prefer the environment variable, flags show in ps)."}
	TokenKeepAlive = Option{Flag: "token-keepalive", Env: "CRMSYNC_TOKEN_KEEPALIVE", Default: "168h", Arg: "DURATION",
		Commands: []string{"serve", "worker"},
		Usage: "Refresh a mailbox's sign-in token set when nothing used it for this long, so that the provider does not let an " +
			"idle refresh token lapse (Microsoft does after a period of inactivity)."}
	Retention = Option{Flag: "retention", Env: "CRMSYNC_RETENTION", Default: "720h", Arg: "DURATION",
		Commands: []string{"serve"},
		Usage:    "How long a disconnected mailbox's messages and links are kept, so that a reconnect restores them (default 30 days)."}
	TrustForwardedFor = Option{Flag: "trust-forwarded-for", Env: "CRMSYNC_TRUST_FORWARDED_FOR", Default: "false",
		Commands: []string{"serve"},
		Usage: "Take the client's address, which password attempts are limited by, from the last X-Forwarded-For entry. " +
			"Set it only behind a reverse proxy that sets that header; otherwise clients could pick any address."}
	MetricsAddr = Option{Flag: "metrics-addr", Env: "CRMSYNC_METRICS_ADDR", Arg: "ADDR",
		Commands: []string{"worker"},
		Usage: "Address a worker serves its Prometheus metrics on, at /metrics (off when empty). `crmsync serve` serves " +
			"/metrics on --http."}
	StatusJSON = Option{Flag: "json", Env: "CRMSYNC_STATUS_JSON", Default: "false",
		Commands: []string{"status"},
		Usage:    "Print the overview as one JSON object (for scripts) instead of tables."}
	PasswordHashMemory = Option{Flag: "password-hash-memory", Env: "CRMSYNC_PASSWORD_HASH_MEMORY", Default: "256", Arg: "MIB",
		Commands: []string{"serve"},
		Usage: "Memory password hashing may take at once, in MiB (19 MiB a hash; at least 2 and at most 2 per CPU run at once). " +
			"Sign-ins beyond it wait their turn."}
)

// Options lists every option, in table order.
var Options = []Option{DB, HTTP, Org, OrgName, AdminEmail, AdminName, AdminPasswordFile, TokenOut, UserEmail, TokenName, Out, PasswordFile, SecretKeyFile, SecretKey, NoNewKey, LogLevel, LogFormat,
	MailCAFile, PrivateHosts, SMTP, DropboxDomain, PublicURL, GraphPoll, GraphSubscriptionLifetime, GooglePoll, GooglePubSubTopic, GooglePubSubToken, TokenKeepAlive, Retention, TrustForwardedFor, PasswordHashMemory, MetricsAddr, StatusJSON}

// MarkdownTable renders Options as the Markdown table of the package
// documentation and the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | commands | meaning |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, o := range Options {
		flag := "—"
		if o.Flag != "" {
			flag = "`--" + o.Flag
			if o.Arg != "" {
				flag += " " + o.Arg
			}
			flag += "`"
		}
		def := "—"
		if o.Default != "" {
			def = "`" + o.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", flag, o.Env, def, strings.Join(o.Commands, ", "), o.Usage)
	}
	return b.String()
}
