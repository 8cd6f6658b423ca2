package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

func init() {
	extraTests["WebhookEndpoints"] = testWebhookEndpoints
	extraTests["WebhookEvents"] = testWebhookEvents
	extraTests["WebhookDeliveries"] = testWebhookDeliveries
}

// queueSpy is a webhook queue that remembers what it was given and may
// refuse.
type queueSpy struct {
	mu   sync.Mutex
	ids  []int64
	fail error
}

func (q *queueSpy) queue(_ context.Context, tx *sql.Tx, ids []int64) error {
	if tx == nil {
		return errors.New("no transaction")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.ids = append(q.ids, ids...)
	return nil
}

func (q *queueSpy) taken() []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ids
	q.ids = nil
	return out
}

func endpoint(t testing.TB, b bundle, url string, events ...string) store.WebhookEndpoint {
	t.Helper()
	e, err := b.s.CreateWebhookEndpoint(b.ctx, store.WebhookEndpoint{OrgID: b.org.ID, URL: url, Events: events, Active: true, CredentialID: "webhook-" + url})
	must(t, err)
	return e
}

func testWebhookEndpoints(t *testing.T, f Factory) {
	b := setup(t, f)
	s, ctx := b.s, b.ctx
	must(t, s.PutCredential(ctx, store.Credential{ID: "webhook-a", OrgID: b.org.ID, Purpose: "webhook_secret", Ciphertext: []byte{1}}))
	e, err := s.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{OrgID: b.org.ID, URL: "https://crm.example/hook", Description: "CRM",
		Events: []string{store.EventMessageStored, store.EventAccountStateChanged}, Active: true, CredentialID: "webhook-a"})
	must(t, err)
	if e.ID == 0 || !e.Active || !slices.Equal(e.Events, []string{store.EventAccountStateChanged, store.EventMessageStored}) || e.CredentialID != "webhook-a" {
		t.Fatalf("created = %+v", e)
	}
	other := newOrg(t, s, "globex")
	if _, err := s.GetWebhookEndpoint(ctx, other.org.ID, e.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another organisation reads the endpoint: %v", err)
	}
	if _, err := s.UpdateWebhookEndpoint(ctx, other.org.ID, e.ID, func(*store.WebhookEndpoint) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another organisation changes the endpoint: %v", err)
	}
	wantErr(t, s.DeleteWebhookEndpoint(ctx, other.org.ID, e.ID), store.ErrNotFound)
	if l, _ := s.ListWebhookEndpoints(ctx, other.org.ID); len(l) != 0 {
		t.Fatalf("another organisation lists %d endpoints", len(l))
	}
	u, err := s.UpdateWebhookEndpoint(ctx, b.org.ID, e.ID, func(e *store.WebhookEndpoint) error {
		e.Events, e.Active, e.URL = []string{store.EventTaskSynced}, false, "https://crm.example/v2"
		return nil
	})
	must(t, err)
	got, err := s.GetWebhookEndpoint(ctx, b.org.ID, e.ID)
	must(t, err)
	if got.Active || got.URL != "https://crm.example/v2" || !slices.Equal(got.Events, []string{store.EventTaskSynced}) || got.Description != "CRM" || !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("updated = %+v", got)
	}
	list, err := s.ListWebhookEndpoints(ctx, b.org.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("list = %+v", list)
	}
	must(t, s.DeleteWebhookEndpoint(ctx, b.org.ID, e.ID))
	wantErr(t, s.DeleteWebhookEndpoint(ctx, b.org.ID, e.ID), store.ErrNotFound)
	if _, err := s.GetCredential(ctx, b.org.ID, "webhook-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the endpoint's secret outlives it: %v", err)
	}
}

// deliveriesOf reads an endpoint's deliveries with their payloads, oldest
// first.
func deliveriesOf(t testing.TB, s store.Store, orgID, endpointID int64) []store.WebhookDelivery {
	t.Helper()
	list, err := s.ListWebhookDeliveries(context.Background(), orgID, endpointID, 0, 1000)
	must(t, err)
	slices.Reverse(list)
	for i := range list {
		d, err := s.WebhookDelivery(context.Background(), list[i].ID)
		must(t, err)
		list[i] = d
	}
	return list
}

type eventBody struct {
	ID    string         `json:"id"`
	Type  string         `json:"type"`
	OrgID int64          `json:"org_id"`
	Data  map[string]any `json:"data"`
}

func payload(t testing.TB, d store.WebhookDelivery) eventBody {
	t.Helper()
	var ev eventBody
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		t.Fatalf("payload %q: %v", d.Payload, err)
	}
	if ev.ID != d.EventID || ev.Type != d.EventType {
		t.Fatalf("payload %+v does not match its delivery %+v", ev, d)
	}
	return ev
}

func testWebhookEvents(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	db := s.(*sqlstore.DB)
	spy := &queueSpy{}
	db.SetWebhookQueue(spy.queue)
	t.Cleanup(func() { db.SetWebhookQueue(nil) })

	// No endpoint: nothing is recorded.
	_, err := s.SaveMessages(ctx, mb.fence, mb.inbox.ID, store.FolderCursor{}, []crm.Email{email(1, 1, "h0", time.Now(), "x@nowhere.example")})
	must(t, err)
	if n, _ := s.WebhookQueueDepth(ctx); n != 0 || len(spy.taken()) != 0 {
		t.Fatalf("events recorded without a subscriber: depth %d", n)
	}

	all := endpoint(t, mb.bundle, "https://a.example/", store.EventMessageStored, store.EventMessageLinked, store.EventMessageSent, store.EventAccountStateChanged)
	storedOnly := endpoint(t, mb.bundle, "https://b.example/", store.EventMessageStored)
	off := endpoint(t, mb.bundle, "https://c.example/", store.EventMessageStored)
	_, err = s.UpdateWebhookEndpoint(ctx, mb.org.ID, off.ID, func(e *store.WebhookEndpoint) error { e.Active = false; return nil })
	must(t, err)
	other := newOrg(t, s, "globex")
	otherEP := endpoint(t, other, "https://d.example/", store.EventMessageStored)
	mb.bundle.contact(t, mb.av, "Hank", "hank@globex.com")

	res, err := s.SaveMessages(ctx, mb.fence, mb.inbox.ID, store.FolderCursor{}, []crm.Email{
		email(1, 2, "h1", time.Now(), "hank@globex.com"), email(1, 3, "h2", time.Now(), "x@nowhere.example")})
	must(t, err)
	if res.Inserted != 2 {
		t.Fatalf("saved = %+v", res)
	}
	got := deliveriesOf(t, s, mb.org.ID, all.ID)
	var stored, linked []store.WebhookDelivery
	for _, d := range got {
		switch d.EventType {
		case store.EventMessageStored:
			stored = append(stored, d)
		case store.EventMessageLinked:
			linked = append(linked, d)
		}
	}
	if len(stored) != 2 || len(linked) != 1 || len(got) != 3 {
		t.Fatalf("deliveries = %+v, want 2 message.stored and 1 message.linked", got)
	}
	ev := payload(t, linked[0])
	if ev.Data["target_type"] != "contact" || ev.Data["source"] != "auto" || ev.OrgID != mb.org.ID {
		t.Fatalf("message.linked = %+v", ev)
	}
	subjects := map[any]any{}
	for _, d := range stored {
		ev := payload(t, d)
		subjects[ev.Data["subject"]] = ev.Data["from"]
	}
	if len(subjects) != 2 || subjects["Subject h1"] != "hank@globex.com" || subjects["Subject h2"] != "x@nowhere.example" {
		t.Fatalf("message.stored subjects and senders = %v", subjects)
	}
	if b := deliveriesOf(t, s, mb.org.ID, storedOnly.ID); len(b) != 2 || (b[0].EventID != stored[0].EventID && b[1].EventID != stored[0].EventID) || b[0].State != store.DeliveryPending {
		t.Fatalf("the second endpoint's deliveries = %+v (want the same 2 events)", b)
	}
	if c := deliveriesOf(t, s, mb.org.ID, off.ID); len(c) != 0 {
		t.Fatalf("a disabled endpoint got %d deliveries", len(c))
	}
	if d := deliveriesOf(t, s, other.org.ID, otherEP.ID); len(d) != 0 {
		t.Fatalf("another organisation's endpoint got %d deliveries", len(d))
	}
	queued := spy.taken()
	if len(queued) != 5 {
		t.Fatalf("queued %v, want the 5 deliveries in their transaction", queued)
	}
	if n, _ := s.WebhookQueueDepth(ctx); n != 5 {
		t.Fatalf("depth = %d, want 5", n)
	}

	// The same messages again: nothing new happened, no event.
	_, err = s.SaveMessages(ctx, mb.fence, mb.inbox.ID, store.FolderCursor{}, []crm.Email{email(1, 2, "h1", time.Now(), "hank@globex.com")})
	must(t, err)
	if n := len(deliveriesOf(t, s, mb.org.ID, all.ID)); n != 3 {
		t.Fatalf("a message stored again made events: %d deliveries", n)
	}

	// A change that rolls back leaves no event: the queue refuses, so the
	// whole transaction (message, event, deliveries) is undone.
	spy.fail = errors.New("queue down")
	_, err = s.SaveMessages(ctx, mb.fence, mb.inbox.ID, store.FolderCursor{}, []crm.Email{email(1, 4, "h3", time.Now(), "x@nowhere.example")})
	if err == nil {
		t.Fatal("a change whose jobs could not be queued was committed")
	}
	spy.fail = nil
	if ids, _ := s.StoredIDs(ctx, mb.inbox.ID); slices.Contains(ids, "1:4") {
		t.Fatal("the message of a rolled-back transaction was stored")
	}
	if n := len(deliveriesOf(t, s, mb.org.ID, all.ID)); n != 3 {
		t.Fatalf("a rolled-back change left events: %d deliveries", n)
	}
	// A change refused by its fence (lease lost) leaves none either.
	stale := mb.fence
	stale.Generation++
	if _, err := s.SaveMessages(ctx, stale, mb.inbox.ID, store.FolderCursor{}, []crm.Email{email(1, 5, "h4", time.Now(), "x@nowhere.example")}); err == nil {
		t.Fatal("a stale fence wrote")
	}
	if n := len(deliveriesOf(t, s, mb.org.ID, all.ID)); n != 3 {
		t.Fatalf("a refused change left events: %d deliveries", n)
	}

	// Account state, with its error code; an unchanged state says nothing.
	for range 2 {
		_, err = s.UpdateMailAccount(ctx, mb.uv, mb.account.ID, func(a *crm.MailAccount) error {
			a.State, a.ErrorCode, a.ErrorMessage = crm.StateAuthFailed, "auth_failed", "wrong password"
			return nil
		})
		must(t, err)
	}
	must(t, s.RecordAccountStatus(ctx, mb.fence, mb.account.ID, store.AccountStatus{State: crm.StateSynced}, nil))
	var states []eventBody
	for _, d := range deliveriesOf(t, s, mb.org.ID, all.ID) {
		if d.EventType == store.EventAccountStateChanged {
			states = append(states, payload(t, d))
		}
	}
	if len(states) != 2 || states[0].Data["error_code"] != "auth_failed" || states[0].Data["state"] != "auth_failed" ||
		states[1].Data["state"] != "synced" || states[1].Data["previous_error_code"] != "auth_failed" {
		t.Fatalf("account.state_changed = %+v", states)
	}

	// Sent mail.
	it, err := s.EnqueueMail(ctx, mb.uv, crm.OutboxItem{AccountID: mb.account.ID, MessageID: "m1@crmsync", Request: crm.SendRequest{To: []crm.Address{{Email: "hank@globex.com"}}, Subject: "Hi"}, Raw: []byte("raw")})
	must(t, err)
	it.State, it.Attempts = crm.OutboxSending, 1
	must(t, s.UpdateOutbox(ctx, mb.fence, it))
	it.State = crm.OutboxSent
	must(t, s.UpdateOutbox(ctx, mb.fence, it))
	must(t, s.UpdateOutbox(ctx, mb.fence, it))
	var sent []eventBody
	for _, d := range deliveriesOf(t, s, mb.org.ID, all.ID) {
		if d.EventType == store.EventMessageSent {
			sent = append(sent, payload(t, d))
		}
	}
	if len(sent) != 1 || sent[0].Data["message_id"] != "m1@crmsync" {
		t.Fatalf("message.sent = %+v", sent)
	}

	// A manual link.
	c := mb.bundle.contact(t, mb.uv, "Zoe", "zoe@else.example")
	ids, err := s.ListEmails(ctx, mb.uv, store.EmailFilter{})
	must(t, err)
	must(t, s.SetLink(ctx, mb.uv, ids.Items[0].ID, crm.LinkContact, c.ID, true))
	must(t, s.SetLink(ctx, mb.uv, ids.Items[0].ID, crm.LinkContact, c.ID, true))
	var manual int
	for _, d := range deliveriesOf(t, s, mb.org.ID, all.ID) {
		if d.EventType == store.EventMessageLinked && payload(t, d).Data["source"] == "manual" {
			manual++
		}
	}
	if manual != 1 {
		t.Fatalf("manual links reported %d times, want once", manual)
	}
}

func testWebhookDeliveries(t *testing.T, f Factory) {
	mb := setupMail(t, f)
	s, ctx := mb.s, mb.ctx
	db := s.(*sqlstore.DB)
	e := endpoint(t, mb.bundle, "https://a.example/", store.EventAccountStateChanged)

	// Recorded with no queue attached (a command-line write): pending,
	// and queued later by the sweep.
	_, err := s.UpdateMailAccount(ctx, mb.uv, mb.account.ID, func(a *crm.MailAccount) error { a.State = crm.StateSynced; return nil })
	must(t, err)
	ds := deliveriesOf(t, s, mb.org.ID, e.ID)
	if len(ds) != 1 {
		t.Fatalf("deliveries = %+v", ds)
	}
	if _, err := s.QueueStrandedWebhookDeliveries(ctx, 10); err == nil {
		t.Fatal("stranded deliveries queued with no queue")
	}
	spy := &queueSpy{}
	db.SetWebhookQueue(spy.queue)
	t.Cleanup(func() { db.SetWebhookQueue(nil) })
	n, err := s.QueueStrandedWebhookDeliveries(ctx, 10)
	must(t, err)
	if q := spy.taken(); n != 1 || !slices.Equal(q, []int64{ds[0].ID}) {
		t.Fatalf("swept %d, queued %v", n, q)
	}
	if n, _ := s.QueueStrandedWebhookDeliveries(ctx, 10); n != 0 {
		t.Fatalf("a queued delivery was queued again (%d)", n)
	}

	d := ds[0]
	wantErr(t, func() error { _, err := s.RetryWebhookDelivery(ctx, mb.org.ID, e.ID, d.ID); return err }(), store.ErrConflict)
	next := time.Now().Add(time.Minute).Truncate(time.Microsecond)
	must(t, s.RecordWebhookAttempt(ctx, d.ID, store.WebhookAttempt{Status: 503, Error: "the endpoint answered 503", Body: "busy", State: store.DeliveryPending, NextAt: &next}))
	must(t, s.RecordWebhookAttempt(ctx, d.ID, store.WebhookAttempt{Status: 500, Error: "the endpoint answered 500", Body: "oops", State: store.DeliveryFailed}))
	got, err := s.WebhookDelivery(ctx, d.ID)
	must(t, err)
	if got.State != store.DeliveryFailed || got.Attempts != 2 || got.LastStatus != 500 || got.LastBody != "oops" || got.LastAttemptAt == nil || got.EventID != d.EventID {
		t.Fatalf("after two attempts = %+v", got)
	}
	if n, _ := s.WebhookQueueDepth(ctx); n != 0 {
		t.Fatalf("a failed delivery counts in the queue depth (%d)", n)
	}
	other := newOrg(t, s, "globex")
	wantErr(t, func() error { _, err := s.RetryWebhookDelivery(ctx, other.org.ID, e.ID, d.ID); return err }(), store.ErrNotFound)
	r, err := s.RetryWebhookDelivery(ctx, mb.org.ID, e.ID, d.ID)
	must(t, err)
	if r.State != store.DeliveryPending || r.Attempts != 0 || r.EventID != d.EventID {
		t.Fatalf("sent again = %+v", r)
	}
	if q := spy.taken(); !slices.Equal(q, []int64{d.ID}) {
		t.Fatalf("send again queued %v", q)
	}
	must(t, s.RecordWebhookAttempt(ctx, d.ID, store.WebhookAttempt{Status: 204, State: store.DeliveryDelivered}))
	got, _ = s.WebhookDelivery(ctx, d.ID)
	if got.State != store.DeliveryDelivered || got.DeliveredAt == nil || got.Attempts != 1 {
		t.Fatalf("delivered = %+v", got)
	}
	if l, _ := s.ListWebhookDeliveries(ctx, other.org.ID, e.ID, 0, 10); len(l) != 0 {
		t.Fatal("another organisation reads the log")
	}
	// Retention: a pending delivery stays, a finished one goes with its
	// event once past the date.
	_, err = s.UpdateMailAccount(ctx, mb.uv, mb.account.ID, func(a *crm.MailAccount) error { a.State = crm.StateAuthFailed; return nil })
	must(t, err)
	if n, err := s.PurgeWebhookDeliveries(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purged %d recent deliveries (%v)", n, err)
	}
	if n64, err := s.PurgeWebhookDeliveries(ctx, time.Now().Add(time.Hour)); err != nil || n64 != 1 {
		t.Fatalf("purged %d, want the delivered one (%v)", n64, err)
	}
	if _, err := s.WebhookDelivery(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a delivered delivery past retention remains: %v", err)
	}
	if left := deliveriesOf(t, s, mb.org.ID, e.ID); len(left) != 1 || left[0].State != store.DeliveryPending || left[0].EventType != store.EventAccountStateChanged {
		t.Fatalf("left = %+v, want the pending one", left)
	}
	must(t, s.DeleteWebhookEndpoint(ctx, mb.org.ID, e.ID))
	if _, err := s.WebhookDelivery(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed endpoint's delivery remains: %v", err)
	}
}

func init() { extraTests["WebhookPIMEvents"] = testWebhookPIMEvents }

// A record written by a PIM sync, and a PIM account's state, are events.
func testWebhookPIMEvents(t *testing.T, f Factory) {
	pb := setupPIM(t, f)
	b, s := pb.bundle, pb.s
	e := endpoint(t, b, "https://a.example/", store.EventContactSynced, store.EventAccountStateChanged)
	in := crm.Contact{FirstName: "Hank", Emails: []string{"hank@globex.com"}, OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}
	// A task (nobody subscribed) and a contact in one transaction: the
	// contact's event is recorded all the same.
	task := crm.Task{Summary: "Call Hank", OwnerID: pb.user.ID, Status: crm.TaskNeedsAction}
	w, err := s.ApplyPIMWrites(b.ctx, pb.fence, pb.uv, []store.PIMWrite{{Task: &task, AccountID: pb.account.ID}, {Contact: &in, AccountID: pb.account.ID,
		Item: &store.PIMItem{CollectionID: pb.book.ID, Href: "/ann/contacts/hank.vcf", UID: "hank", ETag: `"1"`}}})
	must(t, err)
	must(t, s.RecordPIMStatus(b.ctx, pb.fence, pb.account.ID, store.AccountStatus{State: crm.StateAuthFailed, ErrorCode: "auth_failed"}, false, nil))
	// A write refused as a whole (a stale fence) is no event.
	stale := pb.fence
	stale.Generation++
	if _, err := s.ApplyPIMWrites(b.ctx, stale, pb.uv, []store.PIMWrite{{Contact: &crm.Contact{FirstName: "Zed", OwnerID: pb.user.ID, Lifecycle: crm.LifecycleLead}}}); err == nil {
		t.Fatal("a stale fence wrote")
	}
	ds := deliveriesOf(t, s, b.org.ID, e.ID)
	if len(ds) != 2 {
		t.Fatalf("deliveries = %+v, want contact.synced and account.state_changed", ds)
	}
	c := payload(t, ds[0])
	if c.Type != store.EventContactSynced || c.Data["record_id"] != float64(w[1].Contact.ID) || c.Data["crm_changed"] != true ||
		c.Data["pim_account_id"] != float64(pb.account.ID) || c.Data["href"] != "/ann/contacts/hank.vcf" {
		t.Fatalf("contact.synced = %+v", c)
	}
	if st := payload(t, ds[1]); st.Type != store.EventAccountStateChanged || st.Data["kind"] != "pim" || st.Data["error_code"] != "auth_failed" {
		t.Fatalf("account.state_changed = %+v", st)
	}
}
