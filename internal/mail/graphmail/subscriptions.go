package graphmail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// Change notifications (reference §6.6): Graph POSTs to a public HTTPS
// address when a message of the subscribed resource is created, updated
// or deleted, so that new mail arrives without polling. This file is the
// protocol only (create, renew, delete); which subscription an account
// has, its client state and when to renew are the wiring's.

// InboxResource is what a mailbox subscribes to: its inbox's messages,
// where new mail arrives (§6.6). Other folders are caught by the
// periodic delta round.
const InboxResource = "/me/mailFolders('inbox')/messages"

// MaxClientState is the longest client state Graph takes (§6.6).
const MaxClientState = 128

// Subscribe is what a subscription is created with.
type Subscribe struct {
	// NotificationURL and LifecycleURL are crmsync's public endpoints
	// (HTTPS); Graph validates both before it answers.
	NotificationURL, LifecycleURL string
	// ClientState is the secret Graph sends back with every notification.
	ClientState string
	// Expires is when the subscription should lapse unless renewed.
	Expires time.Time
}

// Subscription is a created or renewed subscription.
type Subscription struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expirationDateTime"`
}

// Subscribe creates a subscription to new, changed and deleted messages of
// the inbox. Graph answers only once it validated the endpoints (§6.6).
func (m *Mailbox) Subscribe(ctx context.Context, s Subscribe) (Subscription, error) {
	if len(s.ClientState) > MaxClientState {
		return Subscription{}, connerr.Errorf(connerr.Protocol, nil, "The notification secret is longer than Microsoft Graph accepts.")
	}
	body := map[string]any{"changeType": "created,updated,deleted", "notificationUrl": s.NotificationURL,
		"resource": InboxResource, "expirationDateTime": s.Expires.UTC().Format(time.RFC3339), "clientState": s.ClientState}
	if s.LifecycleURL != "" {
		body["lifecycleNotificationUrl"] = s.LifecycleURL
	}
	return m.subscription(ctx, http.MethodPost, "/subscriptions", body)
}

// Renew moves a subscription's expiry to expires (also the answer to a
// reauthorizationRequired lifecycle event, §6.6). A subscription Graph no
// longer has is an error of kind connerr.Gone: create another.
func (m *Mailbox) Renew(ctx context.Context, id string, expires time.Time) (Subscription, error) {
	return m.subscription(ctx, http.MethodPatch, "/subscriptions/"+url.PathEscape(id),
		map[string]any{"expirationDateTime": expires.UTC().Format(time.RFC3339)})
}

// Unsubscribe deletes a subscription; one already gone is no error.
func (m *Mailbox) Unsubscribe(ctx context.Context, id string) error {
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: http.MethodDelete, URL: "/subscriptions/" + url.PathEscape(id)})
	if connerr.KindOf(err) == connerr.Gone {
		return nil
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	return resp.Body.Close()
}

func (m *Mailbox) subscription(ctx context.Context, method, u string, body any) (Subscription, error) {
	var s Subscription
	b, err := json.Marshal(body)
	if err != nil {
		return s, err
	}
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: method, URL: u, Body: b})
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if err := m.c.DecodeJSON(resp.Body, maxSmall, &s); err != nil {
		return s, err
	}
	if s.ID == "" || s.Expires.IsZero() {
		return s, connerr.Errorf(connerr.Protocol, nil, "Microsoft Graph answered a subscription without its id or expiry.")
	}
	return s, nil
}

// NewClientState returns a random client state: 256 bits, URL-safe.
func NewClientState() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ClientStateHash is what is kept of a client state: its hex SHA-256.
func ClientStateHash(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

// ClientStateMatches compares a notification's client state with a kept
// hash in constant time.
func ClientStateMatches(state, hash string) bool {
	return state != "" && subtle.ConstantTimeCompare([]byte(ClientStateHash(state)), []byte(hash)) == 1
}

// DefaultLifetime is the lifetime asked for unless configured: 4,230
// minutes, the docs' figure for Outlook messages (§6.6; §16 says it is
// unsettled).
const DefaultLifetime = 4230 * time.Minute
