package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// WebhookRequest is the body of POST /api/v1/webhooks and PATCH
// /api/v1/webhooks/{id}: an absent field is left as it is.
type WebhookRequest = webhooks.Input

func (s *Server) webhookRoutes() {
	s.authed("POST /api/v1/webhooks", s.createWebhook)
	s.authed("GET /api/v1/webhooks", s.listWebhooks)
	s.authed("GET /api/v1/webhooks/{id}", s.getWebhook)
	s.authed("PATCH /api/v1/webhooks/{id}", s.updateWebhook)
	s.authed("DELETE /api/v1/webhooks/{id}", s.deleteWebhook)
	s.queried("GET /api/v1/webhooks/{id}/deliveries", s.listWebhookDeliveries, "limit", "cursor")
	s.authed("POST /api/v1/webhooks/{id}/deliveries/{delivery}/retry", s.retryWebhookDelivery)
}

// webhooks returns the service when the caller is an admin: webhooks
// carry the whole organisation's activity.
func (s *Server) webhooks(c *caller) (*webhooks.Service, error) {
	if s.cfg.Webhooks == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Webhooks are not enabled on this server."}
	}
	if !c.Viewer.CanAdminister() {
		return nil, forbidden("Only an admin can manage the organisation's webhooks.")
	}
	return s.cfg.Webhooks, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	var req WebhookRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	e, err := svc.Create(r.Context(), c.Viewer.OrgID, req)
	if err != nil {
		return storeError(err, "webhook")
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	list, err := svc.List(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return storeError(err, "webhook")
	}
	return writeList(w, store.Page[webhooks.Endpoint]{Items: list}, func(e webhooks.Endpoint) webhooks.Endpoint { return e })
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := svc.Get(r.Context(), c.Viewer.OrgID, id)
	if err != nil {
		return storeError(err, "webhook")
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req WebhookRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	e, err := svc.Update(r.Context(), c.Viewer.OrgID, id, req)
	if err != nil {
		return storeError(err, "webhook")
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), c.Viewer.OrgID, id); err != nil {
		return storeError(err, "webhook")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listWebhookDeliveries is an endpoint's delivery log, newest first; the
// cursor is the id to continue below.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	limit, err := q.limit(50, 500)
	if err != nil {
		return err
	}
	var before int64
	if q.has("cursor") {
		if before, err = strconv.ParseInt(q.str("cursor"), 10, 64); err != nil || before <= 0 {
			return badRequest(codeInvalidCursor, "cursor", "The cursor is not one this server issued. Use the next_cursor of the previous page unchanged, or omit it to start from the first page.")
		}
	}
	list, err := svc.Deliveries(r.Context(), c.Viewer.OrgID, id, before, limit)
	if err != nil {
		return storeError(err, "webhook")
	}
	page := store.Page[webhooks.Delivery]{Items: list}
	if len(list) == limit {
		page.NextCursor = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return writeList(w, page, func(d webhooks.Delivery) webhooks.Delivery { return d })
}

func (s *Server) retryWebhookDelivery(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.webhooks(c)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	did, err := pathID(r, "delivery")
	if err != nil {
		return err
	}
	d, err := svc.Retry(r.Context(), c.Viewer.OrgID, id, did)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("", "This delivery is still being attempted: its next attempt is planned. Send it again once it has failed or been delivered.")
		}
		return storeError(err, "webhook delivery")
	}
	writeJSON(w, http.StatusAccepted, d)
	return nil
}
