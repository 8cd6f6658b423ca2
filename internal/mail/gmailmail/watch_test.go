package gmailmail_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// watch starts a 7-day watch of the inbox on the topic (§9.4), through a
// quota error; stop ends it; a topic not of the documented form is refused
// before anything is sent.
func TestWatchAndStop(t *testing.T) {
	a := googlefake.NewAPI()
	m := open(t, a, nil)
	ctx := context.Background()
	if _, err := m.Watch(ctx, "gmail"); connerr.KindOf(err) != connerr.Protocol || a.Stats().Requests != 0 {
		t.Fatalf("bad topic: %v after %d requests", err, a.Stats().Requests)
	}
	a.FailAfter(0, 429, "rateLimitExceeded", time.Second)
	w, err := m.Watch(ctx, "projects/p/topics/gmail")
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Requests != 2 || st.Early != 0 {
		t.Fatalf("%+v, want the 429 and its retry after Retry-After", st)
	}
	fw := a.Gmail().Watch()
	if fw == nil || fw.TopicName != "projects/p/topics/gmail" || len(fw.LabelIDs) != 1 || fw.LabelIDs[0] != "INBOX" ||
		!w.Expiration.Equal(fw.Expiration.Truncate(time.Millisecond)) || w.HistoryID == "" {
		t.Fatalf("watch %+v, fake %+v", w, fw)
	}
	if d := time.Until(w.Expiration); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
		t.Errorf("expires in %s, want 7 days", d)
	}
	if err := m.Stop(ctx); err != nil || a.Gmail().Watch() != nil {
		t.Fatalf("stop: %v, watch %+v", err, a.Gmail().Watch())
	}
}

// A Pub/Sub message's data is base64 JSON {emailAddress, historyId}, the
// history id a string (§9.4) or a number; anything else is refused.
func TestParseNotification(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct{ data, addr, hid string }{
		{b64(`{"emailAddress":"user@example.com","historyId":"9876543210"}`), "user@example.com", "9876543210"},
		{b64(`{"emailAddress":"user@example.com","historyId":9876543210}`), "user@example.com", "9876543210"},
		{base64.URLEncoding.EncodeToString([]byte(`{"emailAddress":"u?>@example.com"}`)), "u?>@example.com", ""},
	} {
		n, err := gmailmail.ParseNotification(c.data)
		if err != nil || n.EmailAddress != c.addr || n.HistoryID != c.hid {
			t.Errorf("%s: %+v, %v", c.data, n, err)
		}
	}
	for _, bad := range []string{"", "!!!", b64(`{"historyId":"1"}`), b64(`[1]`)} {
		if n, err := gmailmail.ParseNotification(bad); err == nil {
			t.Errorf("%q: %+v accepted", bad, n)
		}
	}
}
