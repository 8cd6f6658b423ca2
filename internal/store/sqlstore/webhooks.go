package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// WebhookQueue queues deliveries for sending inside the transaction that
// records them (DESIGN §15): the job queue's tables are in the same
// database, so a delivery and its job commit or roll back together.
type WebhookQueue func(ctx context.Context, tx *sql.Tx, deliveryIDs []int64) error

// SetWebhookQueue attaches the job queue (nil detaches it). Deliveries
// recorded while none is attached stay pending and unqueued until
// QueueStrandedWebhookDeliveries queues them.
func (db *DB) SetWebhookQueue(q WebhookQueue) {
	if q == nil {
		db.queue.Store(nil)
		return
	}
	db.queue.Store(&q)
}

// webhookEvent is an event to record in the current transaction.
type webhookEvent struct {
	Type string
	Data any
}

// newEventID is an event's unique id, sent as the Crmsync-Event-Id
// header: receivers de-duplicate on it.
func newEventID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return "evt_" + hex.EncodeToString(b[:])
}

// subscribed lists the active endpoints of the organisation that want
// events of type typ. It is the whole cost of events for an organisation
// without webhooks: one indexed read per transaction.
func (db *DB) subscribed(ctx context.Context, q queryer, orgID int64, typ string) ([]int64, error) {
	return collectIDs(ctx, q, db.q(`SELECT e.id FROM webhook_endpoint_events ee JOIN webhook_endpoints e ON e.id = ee.endpoint_id
		WHERE ee.org_id = ? AND ee.event = ? AND e.active = 1 ORDER BY e.id`), orgID, typ)
}

// recordEvents writes events in tx, the transaction of the change they
// report, with one delivery per subscribed endpoint, and queues those
// deliveries in the same transaction. Events nobody subscribed to are not
// kept.
func (db *DB) recordEvents(ctx context.Context, tx *sql.Tx, orgID int64, evs []webhookEvent) error {
	if len(evs) == 0 {
		return nil
	}
	byType := map[string][]webhookEvent{}
	var types []string
	for _, ev := range evs {
		if _, ok := byType[ev.Type]; !ok {
			types = append(types, ev.Type)
		}
		byType[ev.Type] = append(byType[ev.Type], ev)
	}
	now := db.now()
	queue := db.queue.Load()
	var deliveries []int64
	for _, typ := range types {
		eps, err := db.subscribed(ctx, tx, orgID, typ)
		if err != nil {
			return err
		}
		if len(eps) == 0 {
			continue
		}
		list := byType[typ]
		for lo := 0; lo < len(list); lo += 100 {
			chunk := list[lo:min(lo+100, len(list))]
			var q strings.Builder
			q.WriteString(`INSERT INTO webhook_events (id, org_id, type, payload, created_at) VALUES `)
			args := make([]any, 0, 5*len(chunk))
			ids := make([]any, 0, len(chunk))
			for i, ev := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?)")
				id := newEventID()
				payload, err := json.Marshal(struct {
					ID        string    `json:"id"`
					Type      string    `json:"type"`
					CreatedAt time.Time `json:"created_at"`
					OrgID     int64     `json:"org_id"`
					Data      any       `json:"data"`
				}{id, typ, now, orgID, ev.Data})
				if err != nil {
					return err
				}
				args = append(args, id, orgID, typ, string(payload), micros(now))
				ids = append(ids, id)
			}
			if _, err := tx.ExecContext(ctx, db.q(q.String()), args...); err != nil {
				return err
			}
			dargs := append([]any{boolInt(queue != nil), micros(now), micros(now)}, ids...)
			dargs = append(dargs, int64Args(eps)...)
			got, err := collectIDs(ctx, tx, db.q(`INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, state, enqueued, created_at, updated_at)
				SELECT ev.org_id, e.id, ev.id, 'pending', ?, ?, ? FROM webhook_events ev CROSS JOIN webhook_endpoints e
				WHERE ev.id IN (`+placeholders(len(ids))+`) AND e.id IN (`+placeholders(len(eps))+`) RETURNING id`), dargs...)
			if err != nil {
				return err
			}
			deliveries = append(deliveries, got...)
		}
	}
	if queue != nil && len(deliveries) > 0 {
		slices.Sort(deliveries)
		return (*queue)(ctx, tx, deliveries)
	}
	return nil
}

const webhookEndpointCols = `id, org_id, url, description, active, credential_id, created_at, updated_at`

func (db *DB) scanWebhookEndpoints(ctx context.Context, q queryer, where string, args ...any) ([]store.WebhookEndpoint, error) {
	rows, err := q.QueryContext(ctx, db.q(`SELECT `+webhookEndpointCols+` FROM webhook_endpoints WHERE `+where+` ORDER BY id`), args...)
	if err != nil {
		return nil, err
	}
	var out []store.WebhookEndpoint
	for rows.Next() {
		var e store.WebhookEndpoint
		var active, created, updated int64
		if err := rows.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &active, &e.CredentialID, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		e.Active, e.CreatedAt, e.UpdatedAt = active == 1, fromMicros(created), fromMicros(updated)
		e.Events = []string{}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		evs, err := q.QueryContext(ctx, db.q(`SELECT event FROM webhook_endpoint_events WHERE endpoint_id = ? ORDER BY event`), out[i].ID)
		if err != nil {
			return nil, err
		}
		for evs.Next() {
			var s string
			if err := evs.Scan(&s); err != nil {
				evs.Close()
				return nil, err
			}
			out[i].Events = append(out[i].Events, s)
		}
		evs.Close()
		if err := evs.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) getWebhookEndpoint(ctx context.Context, q queryer, orgID, id int64) (store.WebhookEndpoint, error) {
	list, err := db.scanWebhookEndpoints(ctx, q, `org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return store.WebhookEndpoint{}, err
	}
	if len(list) == 0 {
		return store.WebhookEndpoint{}, store.ErrNotFound
	}
	return list[0], nil
}

func (db *DB) writeWebhookEvents(ctx context.Context, tx *sql.Tx, e store.WebhookEndpoint) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?`), e.ID); err != nil {
		return err
	}
	for _, ev := range e.Events {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO webhook_endpoint_events (endpoint_id, org_id, event) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), e.ID, e.OrgID, ev); err != nil {
			return err
		}
	}
	return nil
}

// CreateWebhookEndpoint stores a new endpoint and its subscriptions.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
	var out store.WebhookEndpoint
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := micros(db.now())
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO webhook_endpoints (org_id, url, description, active, credential_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`), e.OrgID, e.URL, e.Description, boolInt(e.Active), e.CredentialID, now, now).Scan(&e.ID); err != nil {
			return err
		}
		if err := db.writeWebhookEvents(ctx, tx, e); err != nil {
			return err
		}
		var err error
		out, err = db.getWebhookEndpoint(ctx, tx, e.OrgID, e.ID)
		return err
	})
	return out, err
}

// GetWebhookEndpoint reads one endpoint of the organisation.
func (db *DB) GetWebhookEndpoint(ctx context.Context, orgID, id int64) (store.WebhookEndpoint, error) {
	return db.getWebhookEndpoint(ctx, db.r, orgID, id)
}

// ListWebhookEndpoints lists the organisation's endpoints by id.
func (db *DB) ListWebhookEndpoints(ctx context.Context, orgID int64) ([]store.WebhookEndpoint, error) {
	list, err := db.scanWebhookEndpoints(ctx, db.r, `org_id = ?`, orgID)
	if list == nil && err == nil {
		list = []store.WebhookEndpoint{}
	}
	return list, err
}

// UpdateWebhookEndpoint changes an endpoint in one transaction.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, orgID, id int64, apply func(*store.WebhookEndpoint) error) (store.WebhookEndpoint, error) {
	var out store.WebhookEndpoint
	err := db.tx(ctx, func(tx *sql.Tx) error {
		e, err := db.getWebhookEndpoint(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if err := apply(&e); err != nil {
			return err
		}
		e.ID, e.OrgID = id, orgID
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_endpoints SET url = ?, description = ?, active = ?, credential_id = ?, updated_at = ? WHERE id = ? AND org_id = ?`),
			e.URL, e.Description, boolInt(e.Active), e.CredentialID, micros(db.now()), id, orgID); err != nil {
			return err
		}
		if err := db.writeWebhookEvents(ctx, tx, e); err != nil {
			return err
		}
		out, err = db.getWebhookEndpoint(ctx, tx, orgID, id)
		return err
	})
	return out, err
}

// DeleteWebhookEndpoint removes the endpoint, its deliveries and its
// sealed secret. The jobs of its pending deliveries find nothing and end.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, orgID, id int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		e, err := db.getWebhookEndpoint(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM webhook_deliveries WHERE endpoint_id = ?`,
			`DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?`,
			`DELETE FROM webhook_endpoints WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM credentials WHERE id = ? AND org_id = ?`), e.CredentialID, orgID)
		return err
	})
}

const webhookDeliveryCols = `d.id, d.org_id, d.endpoint_id, d.event_id, ev.type, d.state, d.attempts, d.last_status, d.last_error, d.last_body,
	d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.created_at`

func scanWebhookDelivery(sc interface{ Scan(...any) error }, extra ...any) (store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	var last, next, done sql.NullInt64
	var created int64
	err := sc.Scan(append([]any{&d.ID, &d.OrgID, &d.EndpointID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.LastStatus, &d.LastError, &d.LastBody,
		&last, &next, &done, &created}, extra...)...)
	d.LastAttemptAt, d.NextAttemptAt, d.DeliveredAt, d.CreatedAt = fromOptMicros(last), fromOptMicros(next), fromOptMicros(done), fromMicros(created)
	return d, err
}

// ListWebhookDeliveries is an endpoint's delivery log, newest first.
func (db *DB) ListWebhookDeliveries(ctx context.Context, orgID, endpointID, beforeID int64, limit int) ([]store.WebhookDelivery, error) {
	if limit <= 0 {
		limit = 50
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+webhookDeliveryCols+` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.org_id = ? AND d.endpoint_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?`), orgID, endpointID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.WebhookDelivery{}
	for rows.Next() {
		d, err := scanWebhookDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (db *DB) webhookDelivery(ctx context.Context, q queryer, where string, args ...any) (store.WebhookDelivery, error) {
	var payload string
	d, err := scanWebhookDelivery(q.QueryRowContext(ctx, db.q(`SELECT `+webhookDeliveryCols+`, ev.payload FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id WHERE `+where), args...), &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return d, store.ErrNotFound
	}
	d.Payload = []byte(payload)
	return d, err
}

// WebhookDelivery reads a delivery with its payload (the sender's read).
func (db *DB) WebhookDelivery(ctx context.Context, id int64) (store.WebhookDelivery, error) {
	return db.webhookDelivery(ctx, db.r, `d.id = ?`, id)
}

// RecordWebhookAttempt records one attempt's outcome.
func (db *DB) RecordWebhookAttempt(ctx context.Context, id int64, a store.WebhookAttempt) error {
	if a.At.IsZero() {
		a.At = db.now()
	}
	var delivered any
	if a.State == store.DeliveryDelivered {
		delivered = micros(a.At)
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?, last_body = ?,
			last_attempt_at = ?, next_attempt_at = ?, delivered_at = COALESCE(?, delivered_at), updated_at = ? WHERE id = ?`),
			a.State, a.Status, a.Error, a.Body, micros(a.At), optMicros(a.NextAt), delivered, micros(db.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// RetryWebhookDelivery is "send again": the delivery starts over and is
// queued in the same transaction.
func (db *DB) RetryWebhookDelivery(ctx context.Context, orgID, endpointID, id int64) (store.WebhookDelivery, error) {
	var out store.WebhookDelivery
	err := db.tx(ctx, func(tx *sql.Tx) error {
		queue := db.queue.Load()
		res, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET state = 'pending', attempts = 0, enqueued = ?, next_attempt_at = NULL, updated_at = ?
			WHERE id = ? AND org_id = ? AND endpoint_id = ? AND state <> 'pending'`), boolInt(queue != nil), micros(db.now()), id, orgID, endpointID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM webhook_deliveries WHERE id = ? AND org_id = ? AND endpoint_id = ?`), id, orgID, endpointID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return store.ErrConflict // pending: its next attempt is planned
			}
			return store.ErrNotFound
		}
		if queue != nil {
			if err := (*queue)(ctx, tx, []int64{id}); err != nil {
				return err
			}
		}
		out, err = db.webhookDelivery(ctx, tx, `d.id = ?`, id)
		out.Payload = nil
		return err
	})
	return out, err
}

// QueueStrandedWebhookDeliveries queues pending deliveries that were
// recorded while no queue was attached.
func (db *DB) QueueStrandedWebhookDeliveries(ctx context.Context, limit int) (int, error) {
	queue := db.queue.Load()
	if queue == nil {
		return 0, errors.New("sqlstore: no webhook queue attached")
	}
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ids, err := collectIDs(ctx, tx, db.q(`SELECT id FROM webhook_deliveries WHERE state = 'pending' AND enqueued = 0 ORDER BY id LIMIT ?`), limit)
		if err != nil || len(ids) == 0 {
			n = 0
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET enqueued = 1 WHERE id IN (`+placeholders(len(ids))+`)`), int64Args(ids)...); err != nil {
			return err
		}
		n = len(ids)
		return (*queue)(ctx, tx, ids)
	})
	return n, err
}

// WebhookQueueDepth counts pending deliveries.
func (db *DB) WebhookQueueDepth(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// PurgeWebhookDeliveries removes finished deliveries older than before and
// the events none refers to any more (an event never outlives a pending
// delivery).
func (db *DB) PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?`), micros(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM webhook_events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`), micros(before))
		return err
	})
	return n, err
}
