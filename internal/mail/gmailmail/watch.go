package gmailmail

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// Push (reference §9.4): users.watch asks Gmail to publish a message to a
// Pub/Sub topic when the mailbox changes; Pub/Sub then pushes it to
// crmsync's public endpoint. A watch lasts 7 days and is renewed by
// calling watch again (daily is recommended); stop ends it. This file is
// the protocol only: which account watches, when to renew and how a
// pushed message is believed are the wiring's.

// Quota units of watch and stop (Google's quota page; the reference's
// table lists neither).
const (
	costWatch = 100
	costStop  = 50
)

// WatchLabels are the labels watched: the inbox, where new mail arrives
// (§9.4's example). Other labels are caught by the periodic history round.
var WatchLabels = []string{"INBOX"}

// topicName is the form §9.4 gives a topic: projects/{project}/topics/{topic}.
var topicName = regexp.MustCompile(`^projects/[^/]+/topics/[^/]+$`)

// ValidTopic reports whether s is a Pub/Sub topic name as users.watch
// takes it.
func ValidTopic(s string) bool { return topicName.MatchString(s) }

// WatchResult is what users.watch answered: the mailbox's history id then
// and when the watch lapses unless renewed.
type WatchResult struct {
	HistoryID  string
	Expiration time.Time
}

// Watch starts (or renews: the same call) the mailbox's watch of its
// inbox, publishing to topic.
func (m *Mailbox) Watch(ctx context.Context, topic string) (WatchResult, error) {
	if !ValidTopic(topic) {
		return WatchResult{}, connerr.Errorf(connerr.Protocol, nil, "The Pub/Sub topic for Gmail notifications must read projects/PROJECT/topics/TOPIC; an administrator must correct it.")
	}
	body, err := json.Marshal(map[string]any{"topicName": topic, "labelIds": WatchLabels, "labelFilterBehavior": "include"})
	if err != nil {
		return WatchResult{}, err
	}
	resp, err := m.do(ctx, costWatch, cloudapi.Request{Method: http.MethodPost, URL: api + "/watch", Body: body})
	if err != nil {
		return WatchResult{}, err
	}
	defer resp.Body.Close()
	var out struct {
		HistoryID  string `json:"historyId"`
		Expiration string `json:"expiration"` // epoch ms, as a string
	}
	if err := m.c.DecodeJSON(resp.Body, maxSmall, &out); err != nil {
		return WatchResult{}, err
	}
	ms, err := strconv.ParseInt(out.Expiration, 10, 64)
	if err != nil || ms <= 0 {
		return WatchResult{}, &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Message: "Gmail started watching the mailbox without saying until when."}
	}
	return WatchResult{HistoryID: out.HistoryID, Expiration: time.UnixMilli(ms)}, nil
}

// Stop ends the mailbox's watch; Gmail then publishes nothing more for it.
func (m *Mailbox) Stop(ctx context.Context) error {
	resp, err := m.do(ctx, costStop, cloudapi.Request{Method: http.MethodPost, URL: api + "/stop"})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	return resp.Body.Close()
}

// Notification is the data of a Pub/Sub message Gmail published (§9.4):
// whose mailbox changed and its history id then. It says nothing of what
// changed: history.list does, from the account's own cursors.
type Notification struct {
	EmailAddress string
	HistoryID    string
}

// ParseNotification reads the data of a Pub/Sub message Gmail published:
// base64 JSON {emailAddress, historyId} (§9.4). Data that is not one, or
// names no address, is an error.
func ParseNotification(data string) (Notification, error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		// Some encoders send the URL alphabet; accept it too.
		if raw, err = base64.URLEncoding.DecodeString(data); err != nil {
			return Notification{}, err
		}
	}
	var n struct {
		EmailAddress string          `json:"emailAddress"`
		HistoryID    json.RawMessage `json:"historyId"` // a string in §9.4; a number in the wild
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return Notification{}, err
	}
	if n.EmailAddress == "" {
		return Notification{}, errors.New("gmailmail: a notification without an address")
	}
	return Notification{EmailAddress: n.EmailAddress, HistoryID: strings.Trim(string(n.HistoryID), `"`)}, nil
}
