// Package config declares crmsync's options and reads them. Every option is
// a command-line flag of the subcommands that use it, backed by an
// environment variable: a flag given on the command line beats its
// variable, which beats the default. An empty variable counts as unset.
// `crmsync SUBCOMMAND --help` shows each flag with its variable and default.
//
// Options are declared once, in Options; the table below is generated from
// them (go test ./internal/config -run TestDocTable -update) and a test
// keeps it current. The README reproduces it.
//
// # Options
//
//	| flag | environment | default | commands | meaning |
//	| --- | --- | --- | --- | --- |
//	| `--db DSN` | `CRMSYNC_DB` | `crmsync.db` | init, org create, users token, users password, serve, worker, migrate, status, keys rotate, keys usage | Database: a postgres:// or postgresql:// URL selects PostgreSQL; anything else is the path of a SQLite file (a sqlite: or file: prefix is allowed). |
//	| `--http ADDR` | `CRMSYNC_HTTP` | `127.0.0.1:8080` | serve | Address the REST API listens on; use :8080 to listen on every interface. |
//	| `--org NAME` | `CRMSYNC_ORG` | — | init | Name of the first organisation (required). |
//	| `--name NAME` | `CRMSYNC_ORG` | — | org create | Name of the new organisation (required). |
//	| `--admin-email EMAIL` | `CRMSYNC_ADMIN_EMAIL` | — | init, org create | Email address of the organisation's admin, who signs in with it (required; unique across organisations). |
//	| `--admin-name NAME` | `CRMSYNC_ADMIN_NAME` | — | init, org create | Display name of the admin (default: the part of the email before the @). |
//	| `--admin-password-file FILE` | `CRMSYNC_ADMIN_PASSWORD_FILE` | — | init, org create | File holding the admin's password (one trailing newline is ignored; at least 10 characters). Without it the admin signs in with the printed API token only until a password is set. |
//	| `--token-out FILE` | `CRMSYNC_TOKEN_OUT` | — | init, org create | Write the admin's API token to FILE, created with mode 0600, instead of standard output. An existing FILE is refused, never overwritten: it may hold the only token. |
//	| `--email EMAIL` | `CRMSYNC_USER_EMAIL` | — | users token, users password | Email address of the user, who signs in with it (required). |
//	| `--name NAME` | `CRMSYNC_TOKEN_NAME` | `crmsync users token` | users token | Name of the new token, shown in the user's token list so they know which to revoke later. |
//	| `--out FILE` | `CRMSYNC_TOKEN_OUT` | — | users token | Write the token to FILE, created with mode 0600, instead of standard output. An existing FILE is refused, never overwritten: it may hold the only token. |
//	| `--password-file FILE` | `CRMSYNC_PASSWORD_FILE` | — | users password | File holding the new password (one trailing newline is ignored; at least 10 characters). Without it the password is asked for on the terminal, not shown, or read as one line from standard input when that is not a terminal. |
//	| `--secret-key-file FILE` | `CRMSYNC_SECRET_KEY_FILE` | — | init, org create, serve, worker, keys rotate, keys usage | Key file for the credentials stored encrypted: mode 0600, one line "ID KEY" per key (KEY: 32 random bytes in base64), the last one active. Default with SQLite: the database path plus .key. init creates the file if it is missing. |
//	| — | `CRMSYNC_SECRET_KEY` | — | init, org create, serve, worker, keys rotate, keys usage | The keys themselves instead of a key file: "ID KEY" entries separated by newlines or commas, the last one active (`crmsync keys generate` prints one). Not a flag, so that keys never show in a process list. |
//	| `--no-new-key` | `CRMSYNC_NO_NEW_KEY` | `false` | keys rotate | Only re-encrypt under the active key; do not append a new key to the key file. |
//	| `--log-level LEVEL` | `CRMSYNC_LOG_LEVEL` | `info` | serve, worker | Least severe log messages written: debug, info, warn or error. |
//	| `--log-format FORMAT` | `CRMSYNC_LOG_FORMAT` | `text` | serve, worker | Log format on standard error: text (key=value) or json (one object per line). |
//	| `--mail-ca-file FILE` | `CRMSYNC_MAIL_CA_FILE` | — | serve, worker, autoconfig | PEM file of extra certificate authorities trusted for IMAP and SMTP servers (a company CA); the system's authorities stay trusted. Certificates are always verified. |
//	| `--private-hosts LIST` | `CRMSYNC_PRIVATE_HOSTS` | — | serve, worker, autoconfig | Internal servers users may reach, comma-separated CIDRs, addresses or host names (10.0.0.0/8, mail.corp.internal): mail and CardDAV/CalDAV servers, autoconfiguration, redirects and webhook endpoints. Loopback, private, link-local and other non-public addresses are refused otherwise (422 destination_not_allowed), so that a user cannot make the server reach internal hosts. |
//	| `--smtp ADDR` | `CRMSYNC_SMTP` | — | serve | Address of the inbound SMTP server for forwarding mode (for example :25 or 127.0.0.1:2525); off when empty. Needs --dropbox-domain. |
//	| `--dropbox-domain DOMAIN` | `CRMSYNC_DROPBOX_DOMAIN` | — | serve | Domain of the dropbox addresses (its MX must point at this server's --smtp address). A forwarding-mode mailbox gets TOKEN@DOMAIN. |
//	| `--public-url URL` | `CRMSYNC_PUBLIC_URL` | `http://127.0.0.1:8080` | serve, worker | Address users reach this server at: the base of the sign-in redirect (register {URL}/oauth/microsoft/callback with the organisation's Microsoft app) and of the web UI the browser returns to. When it is https, mailboxes signed in with Microsoft get new mail by Graph's change notifications to {URL}/graph/notifications (Graph must reach it); otherwise they are polled every --graph-poll. Workers need the API's address too. |
//	| `--graph-poll DURATION` | `CRMSYNC_GRAPH_POLL` | `30s` | serve, worker | How often a mailbox signed in with Microsoft is asked for new mail when change notifications are off (no https --public-url) or failing. With notifications, a round still runs every 15 minutes for what they missed. |
//	| `--graph-subscription-lifetime DURATION` | `CRMSYNC_GRAPH_SUBSCRIPTION_LIFETIME` | `70h30m` | serve, worker | Lifetime asked for a Microsoft Graph mail subscription (4,230 minutes by Graph's documented limit; newer figures say 7 days). It is renewed once half of it has passed. |
//	| `--google-poll DURATION` | `CRMSYNC_GOOGLE_POLL` | `30s` | serve, worker | How often a mailbox signed in with Google is asked for new mail (history.list) when push is off (no --google-pubsub-topic) or failing. With push, a round still runs every 15 minutes for what it missed. |
//	| `--google-pubsub-topic TOPIC` | `CRMSYNC_GOOGLE_PUBSUB_TOPIC` | — | serve, worker | Pub/Sub topic (projects/PROJECT/topics/TOPIC, in the project of the organisations' Google apps, with publish rights for gmail-api-push@system.gserviceaccount.com) that Gmail watches publish to. Give the topic a push subscription to {URL}/google/notifications?token=SECRET with SECRET as --google-pubsub-token; without a topic, Gmail mailboxes are polled every --google-poll. |
//	| `--google-pubsub-token SECRET` | `CRMSYNC_GOOGLE_PUBSUB_TOKEN` | — | serve | Secret in the token query parameter of the Pub/Sub push subscription's endpoint: a push without it is ignored. Required with --google-pubsub-topic; at least 32 characters (prefer the environment variable, flags show in ps). |
//	| `--token-keepalive DURATION` | `CRMSYNC_TOKEN_KEEPALIVE` | `168h` | serve, worker | Refresh a mailbox's sign-in token set when nothing used it for this long, so that the provider does not let an idle refresh token lapse (Microsoft does after a period of inactivity). |
//	| `--retention DURATION` | `CRMSYNC_RETENTION` | `720h` | serve | How long a disconnected mailbox's messages and links are kept, so that a reconnect restores them (default 30 days). |
//	| `--trust-forwarded-for` | `CRMSYNC_TRUST_FORWARDED_FOR` | `false` | serve | Take the client's address, which password attempts are limited by, from the last X-Forwarded-For entry. Set it only behind a reverse proxy that sets that header; otherwise clients could pick any address. |
//	| `--password-hash-memory MIB` | `CRMSYNC_PASSWORD_HASH_MEMORY` | `256` | serve | Memory password hashing may take at once, in MiB (19 MiB a hash; at least 2 and at most 2 per CPU run at once). Sign-ins beyond it wait their turn. |
//	| `--metrics-addr ADDR` | `CRMSYNC_METRICS_ADDR` | — | worker | Address a worker serves its Prometheus metrics on, at /metrics (off when empty). `crmsync serve` serves /metrics on --http. |
//	| `--json` | `CRMSYNC_STATUS_JSON` | `false` | status | Print the overview as one JSON object (for scripts) instead of tables. |
//
// # Databases
//
// --db selects the store: a postgres:// or postgresql:// URL is PostgreSQL,
// anything else is a SQLite file (ParseDB). With SQLite and no key
// configured, the secret key file is the database path plus ".key".
package config
