// Package pimconn connects stored PIM accounts (address books and
// calendars reached over CardDAV and CalDAV) to their servers: it verifies
// a login and lists the collections an account can sync before it is
// saved, seals the password, and opens the sealed credential to build a
// dav.Client for the sync loop. The API uses it to verify; the sync loops
// use it to connect.
//
// It is wiring, not protocol: the protocol lives in pim/dav, which knows
// nothing of storage or keys.
package pimconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Collection kinds, as store.PIMCollection.Kind holds them (spelled as
// pim's, which the engine uses).
const (
	KindContacts = pim.Contacts
	KindEvents   = pim.Events
	KindTasks    = pim.Tasks
)

// KindNoCollections is the kind of the *connerr.Error Verify returns when
// the server has nothing this account could sync: the user must create an
// address book or calendar (or give another address). Like connerr's kinds
// it is the error code the API answers with; the account state it shows is
// sync_error (connerr.Kind.State).
const KindNoCollections connerr.Kind = "no_collections"

// VerifyTimeout bounds a verification (discovery takes a few requests):
// a server that does not answer makes the user wait this long at most.
const VerifyTimeout = time.Minute

// Connector reaches the CardDAV and CalDAV servers of stored accounts.
type Connector struct {
	Credentials store.Credentials
	Keys        *secret.Keyring
	// Guard is the network guard every request and redirect goes through
	// (package netguard); nil allows public addresses only, so a user's
	// URL cannot reach loopback or the internal network. crmsync passes
	// the operator's --private-hosts.
	Guard *netguard.Guard
	// TLSConfig is the base TLS configuration of the guarded client
	// (tests set RootCAs); nil trusts the system's authorities.
	TLSConfig *tls.Config
	// HTTPClient, when set, sends the requests as it is, instead of the
	// guarded client: refusing internal addresses is then its business.
	// Tests that count or break requests set it.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Cloud opens the services of accounts signed in with a provider
	// (kinds microsoft and google); nil, they cannot be synced.
	Cloud CloudOpener

	once    sync.Once
	guarded *http.Client
}

// httpClient is HTTPClient, or the guarded client built once (its
// transport keeps connections for reuse).
func (c *Connector) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	c.once.Do(func() {
		c.guarded = &http.Client{Transport: c.Guard.Transport(c.TLSConfig), Timeout: davTimeout}
	})
	return c.guarded
}

// davTimeout bounds one request of the guarded client: dav's default.
const davTimeout = 5 * time.Minute

func (c *Connector) client(baseURL, username, password string) *dav.Client {
	return &dav.Client{BaseURL: baseURL, Username: username, Password: password, HTTPClient: c.httpClient()}
}

func (c *Connector) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Verify logs in to the server at baseURL, discovers the user's address
// books and calendars, and returns those an account of kind can sync (see
// Usable). A failure is a *connerr.Error: auth_failed, unreachable,
// throttled, tls_error or protocol from the server, or KindNoCollections
// when it has nothing to sync.
func (c *Connector) Verify(ctx context.Context, kind crm.PIMKind, baseURL, username, password string) ([]store.PIMCollection, error) {
	if !kind.Valid() {
		return nil, &connerr.Error{Kind: connerr.Protocol, Message: fmt.Sprintf("Unknown account kind %q: use carddav or caldav.", kind)}
	}
	vctx, cancel := context.WithTimeout(ctx, VerifyTimeout)
	defer cancel()
	cl := c.client(baseURL, username, password)
	d, err := cl.Discover(vctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// Our own bound, not the caller's: the server is too slow.
			return nil, &connerr.Error{Kind: connerr.Unreachable, Server: hostOf(baseURL), Err: err,
				Message: fmt.Sprintf("%s did not answer within %s: check the address, or try again later.", hostOf(baseURL), VerifyTimeout)}
		}
		return nil, err
	}
	cols := Usable(kind, d.Collections)
	if len(cols) == 0 {
		return nil, noCollections(kind, d, baseURL, username)
	}
	c.logger().LogAttrs(ctx, slog.LevelDebug, "pim account verified", slog.String("kind", string(kind)),
		slog.String("host", hostOf(baseURL)), slog.Int("collections", len(cols)))
	return cols, nil
}

// Usable returns the collections an account of kind can sync, in the order
// discovered (by href): for carddav the address books (Kind "contacts");
// for caldav the calendars that accept events (Kind "events") and those
// that accept tasks (Kind "tasks"), a calendar accepting both listed once
// for each. Read-only collections are left out: the sync writes.
func Usable(kind crm.PIMKind, cols []dav.Collection) []store.PIMCollection {
	out := []store.PIMCollection{}
	for _, col := range cols {
		if col.ReadOnly {
			continue
		}
		switch {
		case kind == crm.PIMCardDAV && col.Type == dav.AddressBook:
			out = append(out, store.PIMCollection{Href: col.Href, Kind: KindContacts, DisplayName: col.DisplayName})
		case kind == crm.PIMCalDAV && col.Type == dav.Calendar:
			if col.Supports("VEVENT") {
				out = append(out, store.PIMCollection{Href: col.Href, Kind: KindEvents, DisplayName: col.DisplayName})
			}
			if col.Supports("VTODO") {
				out = append(out, store.PIMCollection{Href: col.Href, Kind: KindTasks, DisplayName: col.DisplayName})
			}
		}
	}
	return out
}

// noCollections says why nothing can be synced, in the user's words.
func noCollections(kind crm.PIMKind, d *dav.Discovery, baseURL, username string) *connerr.Error {
	host := hostOf(baseURL)
	what, service, app, home, all := "calendar", "CalDAV", "calendar", d.CalendarHome, d.Calendars()
	if kind == crm.PIMCardDAV {
		what, service, app, home, all = "address book", "CardDAV", "contacts", d.AddressBookHome, d.AddressBooks()
	}
	writable := 0
	for _, c := range all {
		if !c.ReadOnly {
			writable++
		}
	}
	var msg string
	switch {
	case home == "":
		msg = fmt.Sprintf("%s has no %s for %s: it does not offer %s at this address. Check the address of your provider's %s server.", host, what, username, service, service)
	case len(all) == 0:
		msg = fmt.Sprintf("%s has no %s for %s. Create one on the server (or in your %s app), then try again.", host, what, username, app)
	case writable == 0:
		msg = fmt.Sprintf("%s has no %s for %s that crmsync can write to (only read-only ones). Create one, or ask for write access, then try again.", host, what, username)
	default:
		msg = fmt.Sprintf("%s has no calendar for %s that holds events or tasks. Create one on the server (or in your calendar app), then try again.", host, username)
	}
	return &connerr.Error{Kind: KindNoCollections, Server: host, Message: msg}
}

func hostOf(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return baseURL
}

// Seal encrypts a password bound to its credential id.
func (c *Connector) Seal(credentialID string, password []byte) ([]byte, error) {
	return c.Keys.Seal(password, secret.CredentialAD(credentialID))
}

// password opens an account's credential.
func (c *Connector) password(ctx context.Context, a crm.PIMAccount) (string, error) {
	if a.CredentialID == "" {
		return "", &connerr.Error{Kind: connerr.Auth, Message: "No password is stored for this account. Enter it again to reconnect."}
	}
	cred, err := c.Credentials.GetCredential(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return "", fmt.Errorf("pimconn: reading credential of account %d: %w", a.ID, err)
	}
	pt, err := c.Keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		// A key problem is the operator's to fix, not the user's: say so.
		return "", &connerr.Error{Kind: connerr.Protocol, Err: err,
			Message: "The stored password cannot be decrypted with this server's keys. An administrator must restore the secret key (CRMSYNC_SECRET_KEY or the key file)."}
	}
	return string(pt), nil
}

// Collections lists the collections the account can sync, logging in
// with its stored password: a collection chosen in its options is checked
// without asking the user for the password again.
func (c *Connector) Collections(ctx context.Context, a crm.PIMAccount) ([]store.PIMCollection, error) {
	if a.Kind.SignedIn() {
		svc, err := c.cloud(ctx, a)
		if err != nil {
			return nil, err
		}
		return svc.Collections(ctx)
	}
	pw, err := c.password(ctx, a)
	if err != nil {
		return nil, err
	}
	return c.Verify(ctx, a.Kind, a.URL, a.Username, pw)
}

// Client returns a dav.Client logged in as the account, with its stored
// password.
func (c *Connector) Client(ctx context.Context, a crm.PIMAccount) (*dav.Client, error) {
	pw, err := c.password(ctx, a)
	if err != nil {
		return nil, err
	}
	return c.client(a.URL, a.Username, pw), nil
}
