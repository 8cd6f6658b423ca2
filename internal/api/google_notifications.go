package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/mail"

	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
)

// Gmail's push (reference §9.4): a mailbox's watch publishes to the
// operator's Pub/Sub topic, and the operator's push subscription POSTs
// each message to {public_url}/google/notifications. Pub/Sub carries no
// bearer token crmsync issued, and the reference documents no signature
// on the pushed request, so a push is believed only when its token query
// parameter equals the secret the operator put in the push subscription's
// endpoint (--google-pubsub-token), compared in constant time; Pub/Sub's
// optional OIDC token is not checked, the reference not documenting it.
// Whatever comes in, the answer is the same 204 with no body: a caller
// learns nothing of the token nor of which mailboxes are connected. The
// handler never syncs: it leaves news for the accounts connected to the
// address (in the store, for loops in other processes) and wakes those
// this process runs.
const GoogleNotificationsPath = "/google/notifications"

// Bounds of a push: Pub/Sub sends one small message per request.
const (
	maxPushBody  = 64 << 10
	maxPushToken = 512
)

// PubSubPush is the body Pub/Sub POSTs to a push endpoint. Other fields
// (attributes, messageId, publishTime) are not read: the data says
// whose mailbox changed, and a history round finds what.
type PubSubPush struct {
	Message PubSubMessage `json:"message"`
	// Subscription is the push subscription's name.
	Subscription string `json:"subscription"`
}

// PubSubMessage is the pushed message: its data, base64 JSON
// {emailAddress, historyId}.
type PubSubMessage struct {
	Data string `json:"data"`
}

func (s *Server) googleRoutes() {
	pattern := "POST " + GoogleNotificationsPath
	s.queries[pattern] = []string{"token"}
	s.register(pattern, http.HandlerFunc(s.googleNotification))
}

// googleNotification takes one pushed message and answers 204 (Pub/Sub's
// acknowledgement) before anything else is done.
func (s *Server) googleNotification(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	var body PubSubPush
	err := json.NewDecoder(io.LimitReader(r.Body, maxPushBody)).Decode(&body)
	w.WriteHeader(http.StatusNoContent)
	http.NewResponseController(w).Flush() // Pub/Sub has its answer; the rest is ours
	want := s.cfg.GooglePushToken
	if want == "" || len(token) > maxPushToken || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "ignored a Gmail push without the right token")
		return
	}
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "ignored an unreadable Gmail push", slog.Any("err", err))
		return
	}
	n, err := gmailmail.ParseNotification(body.Message.Data)
	if err == nil {
		_, err = mail.ParseAddress(n.EmailAddress)
	}
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "ignored an unreadable Gmail push", slog.Any("err", err))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), notificationBudget)
	defer cancel()
	ids, err := s.st.MarkMailNewsByAddress(ctx, cloudconn.Google, n.EmailAddress)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "recording a Gmail push failed", slog.Any("err", err))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "Gmail push", slog.Int("accounts", len(ids)))
	for _, id := range ids {
		if s.cfg.Wake != nil {
			s.cfg.Wake(id)
		}
	}
}
