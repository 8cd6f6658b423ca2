package autoconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/netguard"
)

// Security is how a connection to a server is protected.
type Security string

const (
	TLS      Security = "tls"      // implicit TLS from the first byte (IMAP 993, submission 465)
	StartTLS Security = "starttls" // plain connection upgraded with STARTTLS (IMAP 143, submission 587)
	None     Security = "none"     // no encryption: the password crosses the network in clear
)

// UsernameForm says how a server's username is derived from the address.
type UsernameForm string

const (
	UsernameEmail     UsernameForm = "email"     // the full address
	UsernameLocalPart UsernameForm = "localpart" // the part before the @
	UsernameOther     UsernameForm = "other"     // something else; Username says what, or is empty when unknown
)

// Protocol names the service a Prober checks.
type Protocol string

const (
	IMAP Protocol = "imap"
	SMTP Protocol = "smtp" // message submission (RFC 6409)
)

// Source says which mechanism found a Result.
type Source string

const (
	SourceBuiltin Source = "builtin"
	SourceXML     Source = "autoconfig-xml"
	SourceSRV     Source = "srv"
	SourceMX      Source = "mx"
	SourceGuess   Source = "guess"
)

// Auth says what the provider accepts to sign in over IMAP and SMTP.
type Auth string

const (
	// AuthPassword: the account's password (as far as we know).
	AuthPassword Auth = "password"
	// AuthAppPassword: the provider refuses the account's own password from
	// mail apps; the user creates an app password (Result.Hint says where).
	AuthAppPassword Auth = "app_password"
	// AuthOAuth: only OAuth works; the account should be connected through
	// the provider's sign-in (and its own connector) rather than a password.
	AuthOAuth Auth = "oauth"
)

// Server is how to reach one IMAP or SMTP server for the address asked for.
type Server struct {
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Security Security `json:"security"`
	// Username is the username to sign in with, resolved for this address
	// (the address itself, its local part, …); empty when the form is
	// UsernameOther and the source did not say.
	Username     string       `json:"username"`
	UsernameForm UsernameForm `json:"username_form"`
}

// Result is what Discover found.
type Result struct {
	IMAP *Server `json:"imap"`
	SMTP *Server `json:"smtp"` // nil when the source named no SMTP server
	// Source is the mechanism that found the settings; Detail says where,
	// for a person: the URL of the autoconfig file, the SRV or MX records,
	// the table entry.
	Source Source `json:"source"`
	Detail string `json:"detail"`
	// Provider is the id of a provider of the built-in table ("gmail",
	// "outlook", "office365", "icloud", …), found by domain or by MX; empty
	// otherwise. It lets the caller offer a dedicated connector.
	Provider string `json:"provider,omitempty"`
	Auth     Auth   `json:"auth"`
	// SignIn names the provider ("google", "microsoft") whose sign-in
	// connects this mailbox through the provider's own API instead of
	// IMAP; empty when there is none. Whether the organisation can use it
	// (it has registered that provider's app) is the caller's to say.
	SignIn string `json:"sign_in,omitempty"`
	// Hint is a sentence for the user when the settings alone are not
	// enough: an app password to create, IMAP access to switch on, a server
	// that does not encrypt.
	Hint string `json:"hint,omitempty"`
}

// ErrInvalidAddress is returned (wrapped) for input that is not an email
// address with a usable domain.
var ErrInvalidAddress = errors.New("autoconfig: not a valid email address")

// ErrNotFound matches the *NotFoundError that Discover returns when no
// source knows the domain.
var ErrNotFound = errors.New("autoconfig: no settings found; enter the server settings by hand")

// NotFoundError says that no source yielded settings for Domain. Its message
// is meant for the user; Tried lists what was looked at and why it did not
// help, for logs and `crmsync autoconfig -v`.
type NotFoundError struct {
	Domain string
	Tried  []string
}

func (e *NotFoundError) Error() string {
	return "autoconfig: no settings found for " + e.Domain + "; enter the server settings by hand"
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Resolver is the DNS a Discoverer uses; *net.Resolver satisfies it. Names
// are passed fully qualified (with a final dot) so that no search domain of
// the host is appended to them.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Prober confirms that host:port answers proto with the given security; it
// returns nil when it does. Guesses are kept only when confirmed.
type Prober func(ctx context.Context, proto Protocol, host string, port int, sec Security) error

// DefaultTimeout bounds a whole Discover call when Discoverer.Timeout is 0.
const DefaultTimeout = 15 * time.Second

// Discoverer finds server settings. The zero value is ready to use: system
// DNS, a safe HTTP client, real probes. A Discoverer is safe for concurrent
// use and keeps no state between calls.
type Discoverer struct {
	// Resolver is used for every DNS query, including the addresses the
	// HTTP fetches and probes connect to. nil means net.DefaultResolver.
	Resolver Resolver
	// HTTPClient fetches autoconfig files. nil means a client built for the
	// purpose: no proxy, short timeouts, at most 3 redirects and none from
	// https to http, and every connection through Guard. A client given
	// here is used as it is: refusing private addresses is then its
	// business.
	HTTPClient *http.Client
	// Probe confirms guessed servers. nil means connecting for real: a TCP
	// connection, a TLS handshake with certificate verification (after
	// STARTTLS for StartTLS), and the protocol's greeting.
	Probe Prober
	// Guard decides which addresses the default HTTP client and the
	// default Prober may connect to; nil allows public addresses only.
	// The operator's --private-hosts list is the one crmsync passes.
	Guard *netguard.Guard
	// Timeout bounds a whole Discover call; 0 means DefaultTimeout.
	Timeout time.Duration
}

// outcome is what one source found: ok with a Result, or notes on why not.
type outcome struct {
	res   Result
	ok    bool
	tried []string
}

// Discover returns the settings for email. Errors: ErrInvalidAddress
// (wrapped) for a bad address, a *NotFoundError when nothing was found
// (including when the Timeout ran out), and the context's error when ctx
// itself ends.
func (d *Discoverer) Discover(ctx context.Context, email string) (Result, error) {
	a, err := parseAddress(email)
	if err != nil {
		return Result{}, err
	}
	if p := providerByDomain(a.domain); p != nil {
		return p.result(a, SourceBuiltin, "crmsync's built-in settings for "+p.name), nil
	}

	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	g := newGuard(d.Guard, r)
	client := d.HTTPClient
	if client == nil {
		client = newHTTPClient(g)
		defer client.CloseIdleConnections()
	}

	// The lookups get two thirds of the time, so that a web server that
	// never answers leaves the guesses some.
	lookCtx, cancelLook := context.WithTimeout(ctx, timeout*2/3)
	defer cancelLook()
	run := func(f func(context.Context) outcome) <-chan outcome {
		c := make(chan outcome, 1)
		go func() { c <- f(lookCtx) }()
		return c
	}
	lookups := []<-chan outcome{
		run(func(ctx context.Context) outcome { return fromXML(ctx, client, a) }),
		run(func(ctx context.Context) outcome { return fromSRV(ctx, r, a) }),
		run(func(ctx context.Context) outcome { return fromMX(ctx, r, a) }),
	}
	var tried []string
	for _, c := range lookups {
		o := <-c
		if o.ok {
			return o.res, nil
		}
		tried = append(tried, o.tried...)
	}
	cancelLook()

	if err := parent.Err(); err != nil {
		return Result{}, fmt.Errorf("autoconfig: %w", context.Cause(parent))
	}
	probe := d.Probe
	if probe == nil {
		probe = g.probe
	}
	o := guess(ctx, probe, a)
	if o.ok {
		return o.res, nil
	}
	tried = append(tried, o.tried...)
	if err := parent.Err(); err != nil {
		return Result{}, fmt.Errorf("autoconfig: %w", context.Cause(parent))
	}
	return Result{}, &NotFoundError{Domain: a.domain, Tried: tried}
}

// serverFor builds a Server for address a.
func serverFor(a address, host string, port int, sec Security, form UsernameForm) *Server {
	s := &Server{Host: host, Port: port, Security: sec, UsernameForm: form}
	switch form {
	case UsernameEmail:
		s.Username = a.email
	case UsernameLocalPart:
		s.Username = a.local
	}
	return s
}
