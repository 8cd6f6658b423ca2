// Package webhooks tells the CRM around crmsync what happened: an admin
// registers endpoints (an address, the events wanted, a signing secret
// sealed at rest); the store records each event in the transaction of the
// change it reports, with a delivery per subscribed endpoint; a River job
// per delivery sends it, signed, at least once, retrying with backoff
// (DESIGN §15).
//
// Service is the endpoints' workflow, shared by the REST API and any other
// front end; Queue runs the deliveries.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Service manages an organisation's endpoints. The caller has checked
// that the viewer is an admin; every method is scoped to orgID, so
// another organisation's endpoint is store.ErrNotFound.
type Service struct {
	Store store.Store
	Keys  *secret.Keyring
	// Guard decides which addresses an endpoint may have: the one guard
	// the connectors use (public addresses, and the internal ones the
	// operator allowed with --private-hosts).
	Guard *netguard.Guard
}

// Input is an endpoint's registration or change: nil leaves a field as it
// is (on creation URL and Events are required). Secret sets the signing
// secret; RotateSecret makes a new one, shown once.
type Input struct {
	URL          *string   `json:"url"`
	Description  *string   `json:"description"`
	Events       *[]string `json:"events"`
	Active       *bool     `json:"active"`
	Secret       *string   `json:"secret"`
	RotateSecret bool      `json:"rotate_secret"`
}

// Endpoint is an endpoint as shown: never its secret, except Secret once,
// when crmsync made it.
type Endpoint struct {
	ID          int64     `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Events      []string  `json:"events"`
	Active      bool      `json:"active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Secret is the signing secret crmsync generated, in this answer only.
	Secret string `json:"secret,omitempty"`
}

// Delivery is a delivery as the log shows it.
type Delivery struct {
	ID            int64      `json:"id"`
	EndpointID    int64      `json:"endpoint_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastResponse  string     `json:"last_response,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// MinSecretLength is the shortest secret an admin may set.
const MinSecretLength = 16

func view(e store.WebhookEndpoint) Endpoint {
	return Endpoint{ID: e.ID, URL: e.URL, Description: e.Description, Events: e.Events, Active: e.Active, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func deliveryView(d store.WebhookDelivery) Delivery {
	return Delivery{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, State: d.State, Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, LastResponse: d.LastBody, LastAttemptAt: d.LastAttemptAt,
		NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

func fieldErr(field, code, format string, args ...any) *store.FieldError {
	return &store.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Create registers an endpoint.
func (s *Service) Create(ctx context.Context, orgID int64, in Input) (Endpoint, error) {
	if in.URL == nil || strings.TrimSpace(*in.URL) == "" {
		return Endpoint{}, fieldErr("url", "required", "url is required: the https address crmsync posts events to")
	}
	if in.Events == nil {
		return Endpoint{}, fieldErr("events", "required", "events is required: the events to send, among %s", strings.Join(store.WebhookEventTypes, ", "))
	}
	e := store.WebhookEndpoint{OrgID: orgID, Active: true}
	if err := s.apply(ctx, &e, in); err != nil {
		return Endpoint{}, err
	}
	plain, generated, err := newSecret(in)
	if err != nil {
		return Endpoint{}, err
	}
	e.CredentialID = "webhook-" + randomHex(12)
	if err := s.seal(ctx, orgID, e.CredentialID, plain); err != nil {
		return Endpoint{}, err
	}
	created, err := s.Store.CreateWebhookEndpoint(ctx, e)
	if err != nil {
		_ = s.Store.DeleteCredential(ctx, orgID, e.CredentialID)
		return Endpoint{}, err
	}
	v := view(created)
	if generated {
		v.Secret = plain
	}
	return v, nil
}

// Get reads an endpoint.
func (s *Service) Get(ctx context.Context, orgID, id int64) (Endpoint, error) {
	e, err := s.Store.GetWebhookEndpoint(ctx, orgID, id)
	return view(e), err
}

// List lists the organisation's endpoints.
func (s *Service) List(ctx context.Context, orgID int64) ([]Endpoint, error) {
	list, err := s.Store.ListWebhookEndpoints(ctx, orgID)
	out := make([]Endpoint, 0, len(list))
	for _, e := range list {
		out = append(out, view(e))
	}
	return out, err
}

// Update changes an endpoint. A new secret replaces the old one at once:
// deliveries under way are signed with the new one from their next
// attempt.
func (s *Service) Update(ctx context.Context, orgID, id int64, in Input) (Endpoint, error) {
	var plain string
	var generated bool
	if in.Secret != nil || in.RotateSecret {
		var err error
		if plain, generated, err = newSecret(in); err != nil {
			return Endpoint{}, err
		}
	}
	// Checked before the write: the store's transaction must not wait on
	// the network (the address's lookup) nor write elsewhere.
	var checked store.WebhookEndpoint
	if err := s.apply(ctx, &checked, in); err != nil {
		return Endpoint{}, err
	}
	if plain != "" {
		old, err := s.Store.GetWebhookEndpoint(ctx, orgID, id)
		if err != nil {
			return Endpoint{}, err
		}
		if err := s.seal(ctx, orgID, old.CredentialID, plain); err != nil {
			return Endpoint{}, err
		}
	}
	e, err := s.Store.UpdateWebhookEndpoint(ctx, orgID, id, func(e *store.WebhookEndpoint) error {
		if in.URL != nil {
			e.URL = checked.URL
		}
		if in.Description != nil {
			e.Description = checked.Description
		}
		if in.Events != nil {
			e.Events = checked.Events
		}
		if in.Active != nil {
			e.Active = *in.Active
		}
		return nil
	})
	if err != nil {
		return Endpoint{}, err
	}
	v := view(e)
	if generated {
		v.Secret = plain
	}
	return v, nil
}

// Delete removes an endpoint, its deliveries and its secret.
func (s *Service) Delete(ctx context.Context, orgID, id int64) error {
	return s.Store.DeleteWebhookEndpoint(ctx, orgID, id)
}

// Deliveries is an endpoint's log, newest first.
func (s *Service) Deliveries(ctx context.Context, orgID, id, beforeID int64, limit int) ([]Delivery, error) {
	if _, err := s.Store.GetWebhookEndpoint(ctx, orgID, id); err != nil {
		return nil, err
	}
	list, err := s.Store.ListWebhookDeliveries(ctx, orgID, id, beforeID, limit)
	out := make([]Delivery, 0, len(list))
	for _, d := range list {
		out = append(out, deliveryView(d))
	}
	return out, err
}

// Retry is "send again": a delivered or failed delivery starts over with
// a full schedule of attempts. A pending one is refused with
// store.ErrConflict: its next attempt is already planned.
func (s *Service) Retry(ctx context.Context, orgID, endpointID, deliveryID int64) (Delivery, error) {
	d, err := s.Store.RetryWebhookDelivery(ctx, orgID, endpointID, deliveryID)
	return deliveryView(d), err
}

// apply validates in and writes it into e.
func (s *Service) apply(ctx context.Context, e *store.WebhookEndpoint, in Input) error {
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if len(d) > 500 {
			return fieldErr("description", "invalid_value", "description is at most 500 characters long")
		}
		e.Description = d
	}
	if in.Events != nil {
		evs, err := checkEvents(*in.Events)
		if err != nil {
			return err
		}
		e.Events = evs
	}
	if in.Active != nil {
		e.Active = *in.Active
	}
	// The address last: its check may ask the DNS.
	if in.URL != nil {
		u, err := s.CheckURL(ctx, *in.URL)
		if err != nil {
			return err
		}
		e.URL = u
	}
	return nil
}

func checkEvents(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, fieldErr("events", "required", "events must name at least one event, among %s", strings.Join(store.WebhookEventTypes, ", "))
	}
	var out []string
	for _, ev := range in {
		ev = strings.TrimSpace(ev)
		if !slices.Contains(store.WebhookEventTypes, ev) {
			return nil, fieldErr("events", "invalid_value", "%q is not an event crmsync sends: choose among %s", ev, strings.Join(store.WebhookEventTypes, ", "))
		}
		if !slices.Contains(out, ev) {
			out = append(out, ev)
		}
	}
	slices.Sort(out)
	return out, nil
}

// CheckURL validates an endpoint's address: https (or http to a host the
// operator allowed as internal, such as a receiver on this machine), no
// user or fragment, and a host the network guard lets crmsync reach, as
// for a mail server. The guard checks again at every connection, so a
// name that later resolves inside is refused then too.
func (s *Service) CheckURL(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", fieldErr("url", "invalid_value", "url must be an address such as https://crm.example.com/hooks/crmsync")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fieldErr("url", "invalid_value", "url must start with https://")
	}
	ips, err := s.Guard.Check(ctx, u.Hostname())
	var ce *connerr.Error
	switch {
	case errors.As(err, &ce) && ce.Kind == connerr.NotAllowed:
		return "", fieldErr("url", "not_allowed", "%s", ce.Message)
	case err != nil:
		return "", fieldErr("url", "invalid_value", "crmsync could not find %s (%v): check the address", u.Hostname(), err)
	}
	if u.Scheme == "http" {
		for _, ip := range ips {
			if netguard.IsPublic(ip) {
				return "", fieldErr("url", "invalid_value", "url must use https: plain http is accepted only for internal hosts the operator allowed")
			}
		}
	}
	return u.String(), nil
}

// newSecret is the secret an input sets: the admin's, or a new random one
// (generated reports which).
func newSecret(in Input) (plain string, generated bool, err error) {
	if in.Secret != nil && !in.RotateSecret {
		if len(*in.Secret) < MinSecretLength {
			return "", false, fieldErr("secret", "invalid_value", "secret must be at least %d characters long; leave it out and crmsync makes one", MinSecretLength)
		}
		return *in.Secret, false, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:]), true, nil
}

func (s *Service) seal(ctx context.Context, orgID int64, credID, plain string) error {
	ct, err := s.Keys.Seal([]byte(plain), secret.CredentialAD(credID))
	if err != nil {
		return err
	}
	return s.Store.PutCredential(ctx, store.Credential{ID: credID, OrgID: orgID, Purpose: "webhook_secret", Ciphertext: ct})
}

// openSecret opens an endpoint's signing secret.
func openSecret(ctx context.Context, st store.Credentials, kr *secret.Keyring, orgID int64, credID string) ([]byte, error) {
	c, err := st.GetCredential(ctx, orgID, credID)
	if err != nil {
		return nil, fmt.Errorf("webhooks: the endpoint's secret: %w", err)
	}
	return kr.Open(c.Ciphertext, secret.CredentialAD(c.ID))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
