package api_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// TestPIMOptionWithoutPassword: changing one option of a calendar account
// (its task list, its conflict policy) does not ask for the password
// again: a task list the sync has not listed yet is checked against the
// server's list, read with the stored password; one the account does not
// have is refused, naming the field.
func TestPIMOptionWithoutPassword(t *testing.T) {
	eachMailDB(t, func(t *testing.T, m *mailBundle) {
		p := &pimBundle{mailBundle: m, pim: newFakePIM()}
		lister := &listingPIM{fakePIM: p.pim, st: m.st, t: t}
		m.srv = api.New(api.Config{Store: m.st, Logger: slog.New(slog.NewJSONHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Now: m.clock.Now, Mail: m.fake, PIM: lister, WakePIM: p.wake})
		r := p.connect(map[string]any{"kind": "caldav"})
		if r.Status != 201 {
			t.Fatalf("connect: %s", r.Raw)
		}
		id := r.ID()
		before := p.pimAccount(id)
		logins := p.pim.verifyCount()
		path := pimPath(id)

		r = p.mustCall(200, "PATCH", path, p.annToken, map[string]any{"options": map[string]any{"task_collection": "/dav/ann/todo/"}})
		if opts := obj(r.Body["options"]); opts["task_collection"] != "/dav/ann/todo/" || opts["collection"] != "/dav/ann/cal/" {
			t.Errorf("task list changed: %s", r.Raw)
		}
		r = p.mustCall(200, "PATCH", path, p.annToken, map[string]any{"options": map[string]any{"conflict_policy": "crm_wins"}})
		if opts := obj(r.Body["options"]); opts["conflict_policy"] != "crm_wins" || opts["task_collection"] != "/dav/ann/todo/" {
			t.Errorf("policy changed: %s", r.Raw)
		}
		r = p.call("PATCH", path, p.annToken, map[string]any{"options": map[string]any{"task_collection": "/dav/ann/nowhere/"}})
		p.wantErr(r, 422, "invalid_value", "options.task_collection")
		// Every login since connecting was a listing with the stored password.
		if n := p.pim.verifyCount() - logins; n != lister.lists || n == 0 || p.pim.lastVerify(t).Password != goodPassword {
			t.Errorf("%d logins, %d listings with the stored password", n, lister.lists)
		}
		after := p.pimAccount(id)
		if after.CredentialID != before.CredentialID || after.Options.TaskCollection != "/dav/ann/todo/" || after.Options.ConflictPolicy != "crm_wins" {
			t.Errorf("stored %+v", after)
		}
		if p.wokenCount(id) < 2 {
			t.Errorf("woken %d times: the loop must pick the new options up", p.wokenCount(id))
		}
	})
}

// listingPIM is the fake PIM connector that also lists an account's
// collections with its stored password, as pimconn.Connector does.
type listingPIM struct {
	*fakePIM
	st    store.Store
	t     testing.TB
	mu    sync.Mutex
	lists int
}

func (l *listingPIM) Collections(ctx context.Context, a crm.PIMAccount) ([]store.PIMCollection, error) {
	cred, err := l.st.GetCredential(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.lists++
	l.mu.Unlock()
	return l.Verify(ctx, a.Kind, a.URL, a.Username, accountstest.Unseal(l.t, cred.ID, cred.Ciphertext))
}
