package googlefake

// Gmail's push through Pub/Sub (reference §9.4): while a watch is on, a
// change touching a watched label publishes {emailAddress, historyId} to
// the watch's topic, at most once a second per user (extra ones are
// dropped, as Gmail does), and the topic's push subscription, which a test
// sets as an operator would (SetPushEndpoint), POSTs it in the background
// in Pub/Sub's envelope. Deliveries are recorded with their answer.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// PushDelivery is one push POSTed to an endpoint.
type PushDelivery struct {
	Address, HistoryID string
	Status             int           // the endpoint's answer; 0: no answer
	Latency            time.Duration // until the endpoint answered
}

// pushState is the Pub/Sub side: push subscriptions by topic, the last
// publication and what was delivered.
type pushState struct {
	endpoints  map[string]string // topic -> push endpoint
	client     *http.Client
	last       time.Time // last publication (the one-a-second cap)
	dropped    int
	deliveries []PushDelivery
}

// SetPushEndpoint gives topic a push subscription to endpoint (with the
// operator's ?token=…), posted with client (nil: http.DefaultClient).
func (g *Gmail) SetPushEndpoint(topic, endpoint string, client *http.Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.push.endpoints == nil {
		g.push.endpoints = map[string]string{}
	}
	g.push.endpoints[topic] = endpoint
	g.push.client = client
}

// Pushes returns the deliveries so far and how many publications the
// one-a-second cap dropped.
func (g *Gmail) Pushes() ([]PushDelivery, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.push.deliveries), g.push.dropped
}

// publish announces a change of m's labels (before and after) to the
// watch, if any covers it. g.mu is held.
func (g *Gmail) publish(labels []string) {
	w := g.watch
	if w == nil || !g.now().Before(w.Expiration) {
		return
	}
	if len(w.LabelIDs) > 0 && !slices.ContainsFunc(labels, func(l string) bool { return slices.Contains(w.LabelIDs, l) }) {
		return
	}
	now := time.Now()
	if !g.push.last.IsZero() && now.Sub(g.push.last) < time.Second {
		g.push.dropped++
		return
	}
	g.push.last = now
	endpoint := g.push.endpoints[w.TopicName]
	if endpoint == "" {
		return // a topic nobody subscribed to: published, delivered nowhere
	}
	hid := strconv.FormatUint(g.hid, 10)
	data, _ := json.Marshal(map[string]string{"emailAddress": g.email, "historyId": hid})
	body, _ := json.Marshal(map[string]any{
		"message": map[string]any{"data": base64.StdEncoding.EncodeToString(data), "messageId": hid,
			"publishTime": now.UTC().Format(time.RFC3339Nano)},
		"subscription": "projects/fake/subscriptions/gmail-push"})
	client := g.push.client
	if client == nil {
		client = http.DefaultClient
	}
	d := PushDelivery{Address: g.email, HistoryID: hid}
	go func() {
		start := time.Now()
		resp, err := client.Post(endpoint, "application/json", bytes.NewReader(body))
		d.Latency = time.Since(start)
		if err == nil {
			d.Status = resp.StatusCode
			resp.Body.Close()
		}
		g.mu.Lock()
		g.push.deliveries = append(g.push.deliveries, d)
		g.mu.Unlock()
	}()
}
