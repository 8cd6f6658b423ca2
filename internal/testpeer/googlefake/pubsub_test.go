package googlefake_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// While a watch of INBOX is on, new inbox mail is pushed to the topic's
// push endpoint in Pub/Sub's envelope ({emailAddress, historyId} in
// base64 data); a change outside INBOX is not; within a second extra
// publications are dropped; after stop nothing is pushed.
func TestGmailPushThroughPubSub(t *testing.T) {
	a, c := newGmail(t)
	g := a.Gmail()
	g.SetEmail("ann@acme.example")
	var mu sync.Mutex
	var got []map[string]string
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Message struct {
				Data string `json:"data"`
			} `json:"message"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &env)
		data, err := base64.StdEncoding.DecodeString(env.Message.Data)
		var n map[string]string
		if err == nil {
			json.Unmarshal(data, &n)
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		if r.URL.Query().Get("token") != "s3cret" {
			t.Errorf("pushed to %s", r.URL)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer endpoint.Close()
	g.SetPushEndpoint("projects/p/topics/t", endpoint.URL+"/push?token=s3cret", endpoint.Client())
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	g.AddMessage(msg(1), "INBOX") // no watch yet
	if st := c.do("POST", "/watch", map[string]any{"topicName": "projects/p/topics/t", "labelIds": []string{"INBOX"}}, nil); st != 200 {
		t.Fatalf("watch: %d", st)
	}
	g.AddMessage(msg(2), "SENT") // not watched
	id := g.AddMessage(msg(3), "INBOX", "UNREAD")
	g.AddMessage(msg(4), "INBOX") // within the second: dropped
	deadline := time.Now().Add(5 * time.Second)
	for count() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	st, _ := g.Message(id)
	if count() != 1 || got[0]["emailAddress"] != "ann@acme.example" || got[0]["historyId"] != strconv.FormatUint(st.HistoryID, 10) {
		t.Fatalf("pushed %v, want ann's address and message 3's history id %d", got, st.HistoryID)
	}
	if d, dropped := g.Pushes(); len(d) != 1 || d[0].Status != http.StatusNoContent || dropped != 1 {
		t.Fatalf("deliveries %+v, dropped %d", d, dropped)
	}

	if st := c.do("POST", "/stop", nil, nil); st != 204 {
		t.Fatalf("stop: %d", st)
	}
	time.Sleep(1100 * time.Millisecond)
	g.AddMessage(msg(5), "INBOX")
	time.Sleep(100 * time.Millisecond)
	if count() != 1 {
		t.Fatalf("pushed after stop: %v", got)
	}
}
