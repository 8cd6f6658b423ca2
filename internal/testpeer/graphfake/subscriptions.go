package graphfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Change notifications (reference §6.6, §15 "Graph webhooks"):
// POST /subscriptions validates the notification and lifecycle URLs
// (a POST with ?validationToken=…, answered within 10 s with the token as
// text/plain) before it answers 201; PATCH renews, DELETE deletes; a
// subscription lapses at its expirationDateTime. Messages created, updated
// or deleted in a subscribed folder are announced to notificationUrl with
// the subscription's clientState; lifecycle events (reauthorizationRequired,
// subscriptionRemoved, missed) are sent on demand with Lifecycle.

// DefaultMaxSubscriptionLifetime is the longest lifetime the fake grants
// an Outlook message subscription: 4,230 minutes in the docs' table (§6.6;
// §16 reports a newer 10,080). SetMaxSubscriptionLifetime changes it.
const DefaultMaxSubscriptionLifetime = 4230 * time.Minute

// validationTimeout is how long Graph waits for a validation answer.
const validationTimeout = 10 * time.Second

// TenantID is the tenant named in notifications.
const TenantID = "00000000-0000-0000-0000-0000000000aa"

type fakeSub struct {
	id, resource, changeType, notificationURL, lifecycleURL, clientState string
	folder                                                               string // folder id; "" for every folder (/me/messages)
	expires                                                              time.Time
	reauth                                                               bool
}

type subscriptions struct {
	m           map[string]*fakeSub
	maxLifetime time.Duration
	failCreate  bool
	deliveries  []Delivery
	inflight    sync.WaitGroup
}

// Delivery is one notification the fake sent, and how it was answered.
type Delivery struct {
	SubscriptionID string
	ChangeType     string // created, updated, deleted; or the lifecycle event
	Status         int    // 0 when the endpoint could not be reached
	Latency        time.Duration
}

// SubscriptionState is a subscription as the fake holds it.
type SubscriptionState struct {
	ID, Resource, ChangeType, NotificationURL, LifecycleURL, ClientState string
	Expires                                                              time.Time
	// NeedsReauthorization is set by a reauthorizationRequired event until
	// the subscription is renewed or reauthorized.
	NeedsReauthorization bool
}

func init() {
	// The subscriptions are served beside /me (graph.go's ServeHTTP).
	topRoutes = append(topRoutes, route{prefix: "subscriptions", serve: (*Graph).serveSubscriptions})
}

func (g *Graph) subs() *subscriptions {
	if g.subscriptions == nil {
		g.subscriptions = &subscriptions{m: map[string]*fakeSub{}, maxLifetime: DefaultMaxSubscriptionLifetime}
	}
	return g.subscriptions
}

// SetClock makes the fake read time from now (subscription expiry, message
// dates).
func (g *Graph) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = now
}

// SetMaxSubscriptionLifetime sets the longest lifetime a subscription may
// ask for; longer ones are refused with 400.
func (g *Graph) SetMaxSubscriptionLifetime(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.subs().maxLifetime = d
}

// FailSubscriptions makes subscription creation answer 403 (an app
// without the permission, a tenant that forbids webhooks) while on.
func (g *Graph) FailSubscriptions(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.subs().failCreate = on
}

// Subscriptions returns the live subscriptions.
func (g *Graph) Subscriptions() []SubscriptionState {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []SubscriptionState
	for _, s := range g.liveSubs() {
		out = append(out, SubscriptionState{ID: s.id, Resource: s.resource, ChangeType: s.changeType, NotificationURL: s.notificationURL,
			LifecycleURL: s.lifecycleURL, ClientState: s.clientState, Expires: s.expires, NeedsReauthorization: s.reauth})
	}
	return out
}

// Deliveries waits for the notifications under way and returns every one
// sent so far.
func (g *Graph) Deliveries() []Delivery {
	g.mu.Lock()
	s := g.subs()
	g.mu.Unlock()
	s.inflight.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Delivery(nil), g.subs().deliveries...)
}

// liveSubs drops the lapsed subscriptions and returns the others. g.mu is
// held.
func (g *Graph) liveSubs() []*fakeSub {
	s := g.subs()
	now := g.now()
	var out []*fakeSub
	for id, sub := range s.m {
		if !now.Before(sub.expires) {
			delete(s.m, id)
			continue
		}
		out = append(out, sub)
	}
	return out
}

// Lifecycle sends a lifecycle event (reauthorizationRequired,
// subscriptionRemoved or missed) for subscription id to its
// lifecycleNotificationUrl and returns the endpoint's status.
// subscriptionRemoved deletes the subscription first;
// reauthorizationRequired marks it until it is renewed.
func (g *Graph) Lifecycle(id, event string) (int, error) {
	g.mu.Lock()
	g.liveSubs()
	sub := g.subs().m[id]
	if sub == nil || sub.lifecycleURL == "" {
		g.mu.Unlock()
		return 0, fmt.Errorf("graphfake: no subscription %s with a lifecycle URL", id)
	}
	switch event {
	case "subscriptionRemoved":
		delete(g.subs().m, id)
	case "reauthorizationRequired":
		sub.reauth = true
	case "missed":
	default:
		g.mu.Unlock()
		return 0, fmt.Errorf("graphfake: unknown lifecycle event %q", event)
	}
	item := map[string]any{"subscriptionId": sub.id, "subscriptionExpirationDateTime": sub.expires.Format(time.RFC3339),
		"tenantId": TenantID, "clientState": sub.clientState, "lifecycleEvent": event}
	target, client := sub.lifecycleURL, g.notifier()
	g.mu.Unlock()
	status, d := post(client, target, map[string]any{"value": []any{item}})
	g.mu.Lock()
	g.subs().deliveries = append(g.subs().deliveries, Delivery{SubscriptionID: id, ChangeType: event, Status: status, Latency: d})
	g.mu.Unlock()
	return status, nil
}

// notifier is the client notifications and validations are sent with.
func (g *Graph) notifier() *http.Client {
	if g.Notifier != nil {
		return g.Notifier
	}
	return http.DefaultClient
}

// notifyChange announces a change of message m (in folder) to every
// subscription that covers the folder and the change type, in the
// background as Graph does. g.mu is held.
func (g *Graph) notifyChange(changeType string, m *fakeMessage, folder string) {
	for _, sub := range g.liveSubs() {
		if sub.folder != "" && sub.folder != folder || !strings.Contains(sub.changeType, changeType) {
			continue
		}
		item := map[string]any{"subscriptionId": sub.id, "subscriptionExpirationDateTime": sub.expires.Format(time.RFC3339),
			"changeType": changeType, "resource": "Users/" + TenantID + "/Messages/" + m.id, "clientState": sub.clientState, "tenantId": TenantID,
			"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Message", "@odata.id": "Users/" + TenantID + "/Messages/" + m.id,
				"@odata.etag": fmt.Sprintf(`W/"CQAAABYAAA%d"`, m.seq), "id": m.id}}
		target, client, id, s := sub.notificationURL, g.notifier(), sub.id, g.subs()
		s.inflight.Add(1)
		go func() {
			defer s.inflight.Done()
			status, d := post(client, target, map[string]any{"value": []any{item}})
			g.mu.Lock()
			s.deliveries = append(s.deliveries, Delivery{SubscriptionID: id, ChangeType: changeType, Status: status, Latency: d})
			g.mu.Unlock()
		}()
	}
}

// post sends a notification and returns the status (0: unreachable) and
// how long the endpoint took to answer.
func post(client *http.Client, target string, body any) (int, time.Duration) {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), validationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// validate is Graph's handshake with an endpoint: a POST with a
// validationToken that must come back, as text/plain, within 10 s.
func validate(client *http.Client, target string) bool {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + randomID()
	ctx, cancel := context.WithTimeout(context.Background(), validationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"?validationToken="+url.QueryEscape(token), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<12))
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") && string(body) == token
}

// serveSubscriptions answers /v1.0/subscriptions[/{id}[/reauthorize]].
func (g *Graph) serveSubscriptions(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 1 && r.Method == http.MethodPost:
		g.createSubscription(w, r)
	case len(seg) == 2 && r.Method == http.MethodPatch:
		g.renewSubscription(w, r, seg[1], true)
	case len(seg) == 3 && seg[2] == "reauthorize" && r.Method == http.MethodPost:
		g.renewSubscription(w, r, seg[1], false)
	case len(seg) == 2 && r.Method == http.MethodGet:
		g.mu.Lock()
		defer g.mu.Unlock()
		g.liveSubs()
		if sub := g.subs().m[seg[1]]; sub != nil {
			writeGraphJSON(w, sub.json())
			return
		}
		graphError(w, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
	case len(seg) == 2 && r.Method == http.MethodDelete:
		g.mu.Lock()
		defer g.mu.Unlock()
		g.liveSubs()
		if g.subs().m[seg[1]] == nil {
			graphError(w, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
			return
		}
		delete(g.subs().m, seg[1])
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported request.")
	}
}

func (s *fakeSub) json() map[string]any {
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
		"id": s.id, "resource": s.resource, "changeType": s.changeType, "notificationUrl": s.notificationURL,
		"expirationDateTime": s.expires.Format("2006-01-02T15:04:05.0000000Z"), "clientState": s.clientState,
		"applicationId": "00000000-0000-0000-0000-0000000000bb", "creatorId": "00000000-0000-0000-0000-0000000000cc"}
	if s.lifecycleURL != "" {
		out["lifecycleNotificationUrl"] = s.lifecycleURL
	}
	return out
}

func (g *Graph) createSubscription(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChangeType      string    `json:"changeType"`
		NotificationURL string    `json:"notificationUrl"`
		LifecycleURL    string    `json:"lifecycleNotificationUrl"`
		Resource        string    `json:"resource"`
		Expiration      time.Time `json:"expirationDateTime"`
		ClientState     string    `json:"clientState"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		graphError(w, http.StatusBadRequest, "InvalidRequest", "The body is not JSON.")
		return
	}
	for _, ct := range strings.Split(body.ChangeType, ",") {
		if ct != "created" && ct != "updated" && ct != "deleted" {
			graphError(w, http.StatusBadRequest, "InvalidRequest", "Invalid changeType.")
			return
		}
	}
	for _, u := range []string{body.NotificationURL, body.LifecycleURL} {
		if p, err := url.Parse(u); u != "" && (err != nil || p.Scheme != "https" || p.Host == "") || body.NotificationURL == "" {
			graphError(w, http.StatusBadRequest, "InvalidRequest", "The notification URL must be an https URL.")
			return
		}
	}
	if len(body.ClientState) > 128 {
		graphError(w, http.StatusBadRequest, "InvalidRequest", "clientState is longer than 128 characters.")
		return
	}
	g.mu.Lock()
	folder, ok := g.subscribedFolder(body.Resource)
	now, max, fail := g.now(), g.subs().maxLifetime, g.subs().failCreate
	client := g.notifier()
	g.mu.Unlock()
	switch {
	case fail:
		graphError(w, http.StatusForbidden, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access denied]")
		return
	case !ok:
		graphError(w, http.StatusBadRequest, "InvalidRequest", "Resource not supported.")
		return
	case !body.Expiration.After(now) || body.Expiration.After(now.Add(max)):
		graphError(w, http.StatusBadRequest, "InvalidRequest",
			fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(max/time.Minute)))
		return
	}
	// Graph validates before it answers; the endpoint may take up to 10 s.
	for _, u := range []string{body.NotificationURL, body.LifecycleURL} {
		if u != "" && !validate(client, u) {
			graphError(w, http.StatusBadRequest, "ValidationError",
				"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
			return
		}
	}
	sub := &fakeSub{id: randomUUID(), resource: body.Resource, changeType: body.ChangeType, notificationURL: body.NotificationURL,
		lifecycleURL: body.LifecycleURL, clientState: body.ClientState, folder: folder, expires: body.Expiration.UTC()}
	g.mu.Lock()
	g.subs().m[sub.id] = sub
	out := sub.json()
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(out)
}

// renewSubscription is PATCH (a new expirationDateTime) or reauthorize.
func (g *Graph) renewSubscription(w http.ResponseWriter, r *http.Request, id string, patch bool) {
	var body struct {
		Expiration time.Time `json:"expirationDateTime"`
	}
	if patch {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Expiration.IsZero() {
			graphError(w, http.StatusBadRequest, "InvalidRequest", "expirationDateTime is required.")
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.liveSubs()
	sub := g.subs().m[id]
	if sub == nil {
		graphError(w, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		return
	}
	now := g.now()
	if patch {
		if !body.Expiration.After(now) || body.Expiration.After(now.Add(g.subs().maxLifetime)) {
			graphError(w, http.StatusBadRequest, "InvalidRequest",
				fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(g.subs().maxLifetime/time.Minute)))
			return
		}
		sub.expires = body.Expiration.UTC()
	}
	sub.reauth = false
	if !patch {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeGraphJSON(w, sub.json())
}

// subscribedFolder reads a message resource: /me/messages (every folder,
// "") or /me/mailFolders('{id|name}')/messages. g.mu is held.
func (g *Graph) subscribedFolder(resource string) (string, bool) {
	seg := strings.Split(normalizePath(resource), "/")
	if len(seg) > 0 && (strings.EqualFold(seg[0], "me") || strings.EqualFold(seg[0], "users")) {
		if strings.EqualFold(seg[0], "users") && len(seg) > 1 {
			seg = seg[1:]
		}
		seg = seg[1:]
	}
	switch {
	case len(seg) == 1 && seg[0] == "messages":
		return "", true
	case len(seg) == 3 && seg[0] == "mailfolders" && seg[2] == "messages":
		if f := g.mail.folder(seg[1]); f != nil {
			return f.id, true
		}
	}
	return "", false
}
