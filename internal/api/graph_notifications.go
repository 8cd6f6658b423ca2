package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/mail/graphmail"
)

// Microsoft Graph's change notifications (reference §6.6) come to two
// public endpoints under --public-url: Graph cannot carry a bearer token,
// so a notification is believed only when its clientState matches the
// hash kept for its subscription. Whatever comes in, the answer is the
// same 202 with no body: a caller learns nothing of which subscriptions
// exist. The handler never syncs: it leaves news for the account's loop
// (in the store, for a loop in another process) and wakes it when this
// process runs it; Graph wants an answer within 3 s.
const (
	// GraphNotificationsPath receives change notifications (Graph's
	// notificationUrl).
	GraphNotificationsPath = "/graph/notifications"
	// GraphLifecyclePath receives lifecycle events (Graph's
	// lifecycleNotificationUrl).
	GraphLifecyclePath = "/graph/lifecycle"
)

// Bounds of a notification: Graph batches a few items per POST.
const (
	maxNotificationBody  = 1 << 20
	maxNotificationItems = 1000
	maxValidationToken   = 4096
	notificationBudget   = 2 * time.Second
)

// GraphNotifications is the body Graph POSTs to either endpoint.
type GraphNotifications struct {
	Value []GraphNotification `json:"value"`
}

// GraphNotification is one item: a change (changeType) or a lifecycle
// event (lifecycleEvent). Other fields Graph sends are not read: which
// message changed is the delta round's to find.
type GraphNotification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

func (s *Server) graphRoutes() {
	for _, path := range []string{GraphNotificationsPath, GraphLifecyclePath} {
		pattern := "POST " + path
		s.queries[pattern] = []string{"validationToken"}
		lifecycle := path == GraphLifecyclePath
		s.register(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.graphNotification(w, r, lifecycle) }))
	}
}

// graphNotification answers the validation handshake (the token back as
// text/plain) or takes a batch of notifications and answers 202.
func (s *Server) graphNotification(w http.ResponseWriter, r *http.Request, lifecycle bool) {
	q := r.URL.Query()
	if q.Has("validationToken") {
		token := q.Get("validationToken")
		if len(token) > maxValidationToken {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, token)
		return
	}
	var body GraphNotifications
	err := json.NewDecoder(io.LimitReader(r.Body, maxNotificationBody)).Decode(&body)
	w.WriteHeader(http.StatusAccepted)
	http.NewResponseController(w).Flush() // Graph has its answer; the rest is ours
	if err != nil || len(body.Value) > maxNotificationItems {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "ignored an unreadable Graph notification", slog.Any("err", err))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), notificationBudget)
	defer cancel()
	woken := map[int64]bool{}
	for _, n := range body.Value {
		if id, ok := s.takeGraphNotification(ctx, n, lifecycle); ok && !woken[id] {
			woken[id] = true
			if s.cfg.Wake != nil {
				s.cfg.Wake(id)
			}
		}
	}
}

// takeGraphNotification records what one authentic notification asks of
// its account's loop and returns the account to wake. One whose
// subscription is unknown or whose client state does not match is
// ignored.
func (s *Server) takeGraphNotification(ctx context.Context, n GraphNotification, lifecycle bool) (int64, bool) {
	if n.SubscriptionID == "" || len(n.SubscriptionID) > 256 {
		return 0, false
	}
	sub, err := s.st.MailSubscriptionByID(ctx, n.SubscriptionID)
	if err != nil || sub == nil || !graphmail.ClientStateMatches(n.ClientState, sub.ClientStateHash) {
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "reading a mail subscription failed", slog.Any("err", err))
		}
		return 0, false
	}
	event := "change"
	if lifecycle {
		event = n.LifecycleEvent
	}
	switch event {
	case "change", "missed":
		// A delta round finds what changed (or what was missed).
		err = s.st.MarkMailNews(ctx, sub.SubscriptionID)
	case "reauthorizationRequired":
		// Renewed by the loop's next pass.
		err = s.st.ExpireMailSubscription(ctx, sub.SubscriptionID, s.cfg.Now())
	case "subscriptionRemoved":
		// Created again by the loop, which then runs a round.
		err = s.st.DeleteMailSubscription(ctx, sub.AccountID, sub.SubscriptionID)
	default:
		return 0, false
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "recording a Graph notification failed", slog.String("event", event), slog.Any("err", err))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "Graph notification", slog.String("event", event), slog.Int64("account", sub.AccountID))
	return sub.AccountID, true
}
