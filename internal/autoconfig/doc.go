// Package autoconfig finds the IMAP and SMTP settings for an email address,
// so that a user connecting a mailbox types an address and a password and,
// most of the time, nothing else. It imports only the standard library: it
// knows nothing of storage, HTTP routes or the CLI.
//
// # Sources, in order
//
// Discoverer.Discover tries, for user@example.com:
//
//  1. builtin: a table of the big mailbox providers (providers.go), keyed by
//     the address's domain. It comes first because it needs no network at
//     all, because several of those providers publish nothing the generic
//     mechanisms below would find, and because it carries what a generic
//     lookup cannot know: that Google wants an app password, that Microsoft
//     takes only OAuth. A domain found here causes no DNS query.
//  2. autoconfig-xml: the domain's own configuration file in the Mozilla
//     format, at autoconfig.example.com or example.com/.well-known (see
//     clientconfig.go). The domain's owner wrote it: it is the best source
//     for anything not in the table.
//  3. srv: DNS SRV records, RFC 6186 and RFC 8314 (srv.go).
//  4. mx: the domain's MX hosts, when they belong to a provider of the table
//     (Google Workspace, Microsoft 365, Zoho, Fastmail, …): the hosted domain
//     gets that provider's settings (mx.go).
//  5. guess: imap.example.com, mail.example.com and the like, kept only when a
//     server answers there with a valid certificate (guess.go, probe.go).
//
// The first source that yields an IMAP server wins; its SMTP server, if any,
// comes with it. When none does, Discover returns a *NotFoundError (it
// matches ErrNotFound) and the client asks the user for the settings.
// Sources 2 to 4 run concurrently and are consulted in that order, so a slow
// web server does not delay the DNS answers; guesses start only when they
// have all come back empty, since they connect to hosts that may not be
// mail servers at all.
//
// # Trust
//
// The HTTP fetches go to hosts named by DNS and by redirects that anyone can
// set up. By default they refuse to connect to loopback, private, link-local,
// CGNAT and other non-public addresses, checked on the address actually
// dialled (after resolution, and again for every redirect), so neither DNS
// rebinding nor a redirect reaches a service inside the network crmsync runs
// in. Discoverer.Guard, the operator's --private-hosts list (package
// netguard), lifts that for the internal mail servers it names. Probes for
// guessed hosts follow the same rule.
//
// None of the sources is authenticated beyond TLS to the host it names: DNS
// answers (SRV, MX) and an autoconfig file fetched over http can be forged by
// whoever controls the network path. The settings are therefore a proposal
// shown to the user, never used silently, and the connectors verify the
// server's certificate against the host name of the settings.
package autoconfig
