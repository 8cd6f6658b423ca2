package googlefake_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// The Gmail fake's behaviour as the reference (§9) states it, asked over
// HTTP as any client would.

type client struct {
	t   *testing.T
	srv *httptest.Server
}

func newGmail(t *testing.T) (*googlefake.API, *client) {
	a := googlefake.NewAPI()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, &client{t, srv}
}

// do sends a request and decodes a JSON answer into v (when not nil); it
// returns the status.
func (c *client) do(method, path string, body any, v any) int {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.srv.URL+"/gmail/v1/users/me"+path, rd)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func msg(n int) []byte {
	return []byte(fmt.Sprintf("From: bob@globex.example\r\nTo: ann@acme.example\r\nSubject: S%d\r\nMessage-ID: <m%d@x>\r\nDate: Mon, 2 Nov 2026 10:%02d:00 +0000\r\n\r\nBody %d\r\n", n, n, n, n))
}

type list struct {
	Messages []struct{ ID string } `json:"messages"`
	Next     string                `json:"nextPageToken"`
	Estimate int                   `json:"resultSizeEstimate"`
}

func TestListNewestFirstPagedAndSpamTrash(t *testing.T) {
	a, c := newGmail(t)
	g := a.Gmail()
	var want []string
	for i := 0; i < 7; i++ {
		want = append([]string{g.AddMessage(msg(i), "INBOX")}, want...)
	}
	g.AddMessage(msg(30), "INBOX", "SPAM")
	trashed := g.AddMessage(msg(31), "INBOX")
	g.Trash(trashed)
	var got []string
	tok := ""
	for pages := 0; ; pages++ {
		var l list
		q := "/messages?labelIds=INBOX&maxResults=3"
		if tok != "" {
			q += "&pageToken=" + tok
		}
		if st := c.do("GET", q, nil, &l); st != 200 || l.Estimate != 7 {
			t.Fatalf("status %d, estimate %d", st, l.Estimate)
		}
		for _, m := range l.Messages {
			got = append(got, m.ID)
		}
		if tok = l.Next; tok == "" {
			if pages != 2 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want newest first %v (no spam, no trash)", got, want)
	}
	var l list
	c.do("GET", "/messages?labelIds=INBOX&includeSpamTrash=true", nil, &l)
	if len(l.Messages) != 9 {
		t.Fatalf("includeSpamTrash: %d listed", len(l.Messages))
	}
	if st := c.do("GET", "/messages?pageToken=garbage", nil, nil); st != 400 {
		t.Fatalf("a bad page token: %d", st)
	}
}

func TestGetFormats(t *testing.T) {
	a, c := newGmail(t)
	id := a.Gmail().AddMessage(msg(1), "INBOX", "UNREAD")
	var raw struct {
		ID, Raw, InternalDate, HistoryID string
		LabelIDs                         []string `json:"labelIds"`
	}
	c.do("GET", "/messages/"+id+"?format=raw", nil, &raw)
	b, err := base64.URLEncoding.DecodeString(raw.Raw)
	if err != nil || !bytes.Equal(b, msg(1)) || !slices.Equal(raw.LabelIDs, []string{"INBOX", "UNREAD"}) || raw.InternalDate == "" || raw.HistoryID == "" {
		t.Fatalf("raw: %+v (%v)", raw, err)
	}
	var min map[string]any
	c.do("GET", "/messages/"+id+"?format=minimal", nil, &min)
	if min["raw"] != nil || min["payload"] != nil || min["labelIds"] == nil {
		t.Fatalf("minimal: %v", min)
	}
	var meta struct {
		Payload struct {
			Headers []struct{ Name, Value string }
		}
	}
	c.do("GET", "/messages/"+id+"?format=metadata&metadataHeaders=Subject", nil, &meta)
	if len(meta.Payload.Headers) != 1 || meta.Payload.Headers[0].Value != "S1" {
		t.Fatalf("metadata: %+v", meta.Payload.Headers)
	}
	var full struct {
		Payload struct {
			MimeType string
			Body     struct{ Data string }
		}
	}
	c.do("GET", "/messages/"+id, nil, &full)
	if d, _ := base64.URLEncoding.DecodeString(full.Payload.Body.Data); full.Payload.MimeType != "text/plain" || string(d) != "Body 1\r\n" {
		t.Fatalf("full: %+v", full.Payload)
	}
	if st := c.do("GET", "/messages/ffff", nil, nil); st != 404 {
		t.Fatalf("unknown message: %d", st)
	}
}

type history struct {
	History []struct {
		ID            string
		MessagesAdded []struct {
			Message struct {
				ID       string
				LabelIDs []string `json:"labelIds"`
			}
		} `json:"messagesAdded"`
		LabelsAdded   []struct{ LabelIDs []string }           `json:"labelsAdded"`
		LabelsRemoved []struct{ LabelIDs []string }           `json:"labelsRemoved"`
		Deleted       []struct{ Message struct{ ID string } } `json:"messagesDeleted"`
	}
	Next      string `json:"nextPageToken"`
	HistoryID string `json:"historyId"`
}

func TestHistoryAscendingPagedTypedAndExpiring(t *testing.T) {
	a, c := newGmail(t)
	g := a.Gmail()
	var p struct{ HistoryID, EmailAddress string }
	c.do("GET", "/profile", nil, &p)
	id := g.AddMessage(msg(1), "INBOX", "UNREAD")
	g.Modify(id, nil, []string{"UNREAD"})
	g.Modify(id, []string{"STARRED"}, nil)
	g.Delete(id)
	var all []string
	kinds := 0
	tok := ""
	last := uint64(0)
	for {
		var h history
		q := "/history?startHistoryId=" + p.HistoryID + "&maxResults=3"
		if tok != "" {
			q += "&pageToken=" + tok
		}
		if st := c.do("GET", q, nil, &h); st != 200 {
			t.Fatalf("status %d", st)
		}
		for _, r := range h.History {
			n, _ := strconv.ParseUint(r.ID, 10, 64)
			if n <= last || n == last+1 {
				t.Fatalf("history ids %d then %d: want ascending, not contiguous", last, n)
			}
			last = n
			all = append(all, r.ID)
			kinds += len(r.MessagesAdded) + len(r.LabelsAdded) + len(r.LabelsRemoved) + len(r.Deleted)
		}
		if tok = h.Next; tok == "" {
			break
		}
	}
	if len(all) != 4 || kinds != 4 {
		t.Fatalf("%d records, %d changes; want 4 and 4", len(all), kinds)
	}
	var h history
	c.do("GET", "/history?startHistoryId="+p.HistoryID+"&historyTypes=labelRemoved", nil, &h)
	if len(h.History) != 1 || h.History[0].LabelsRemoved[0].LabelIDs[0] != "UNREAD" {
		t.Fatalf("labelRemoved only: %+v", h.History)
	}
	g.ExpireHistory()
	if st := c.do("GET", "/history?startHistoryId="+p.HistoryID, nil, nil); st != 404 {
		t.Fatalf("an expired start: %d, want 404", st)
	}
	c.do("GET", "/profile", nil, &p)
	if st := c.do("GET", "/history?startHistoryId="+p.HistoryID, nil, nil); st != 200 {
		t.Fatalf("a fresh start: %d", st)
	}
}

func TestModifySendWatchAndCosts(t *testing.T) {
	a, c := newGmail(t)
	g := a.Gmail()
	one, two := g.AddMessage(msg(1), "INBOX", "UNREAD"), g.AddMessage(msg(2), "INBOX", "UNREAD")
	before := a.Stats().Units
	if st := c.do("POST", "/messages/batchModify", map[string]any{"ids": []string{one, two}, "removeLabelIds": []string{"UNREAD"}, "addLabelIds": []string{"STARRED"}}, nil); st != 204 {
		t.Fatalf("batchModify: %d", st)
	}
	if s, _ := g.Message(two); slices.Contains(s.Labels, "UNREAD") || !slices.Contains(s.Labels, "STARRED") {
		t.Fatalf("labels %v", s.Labels)
	}
	if st := c.do("POST", "/messages/"+one+"/modify", map[string]any{"addLabelIds": []string{"NOPE"}}, nil); st != 400 {
		t.Fatalf("unknown label: %d", st)
	}
	var sent struct {
		ID       string
		LabelIDs []string `json:"labelIds"`
	}
	c.do("POST", "/messages/send", map[string]string{"raw": base64.URLEncoding.EncodeToString(msg(3))}, &sent)
	if !slices.Equal(sent.LabelIDs, []string{"SENT"}) || !slices.Equal(g.Messages("SENT"), []string{sent.ID}) {
		t.Fatalf("sent %+v; SENT %v", sent, g.Messages("SENT"))
	}
	if got := a.Stats().Units - before; got != 50+5+100 {
		t.Fatalf("%d units, want batchModify 50 + a refused modify 5 + send 100", got)
	}
	var w struct{ HistoryID, Expiration string }
	if st := c.do("POST", "/watch", map[string]any{"topicName": "projects/p/topics/t", "labelIds": []string{"INBOX"}}, &w); st != 200 || w.Expiration == "" || g.Watch() == nil {
		t.Fatalf("watch: %d %+v", st, w)
	}
	if st := c.do("POST", "/watch", map[string]any{"topicName": "t"}, nil); st != 400 {
		t.Fatalf("a bad topic: %d", st)
	}
	c.do("POST", "/stop", nil, nil)
	if g.Watch() != nil {
		t.Fatal("stop kept the watch")
	}
}
