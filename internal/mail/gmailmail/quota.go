package gmailmail

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
)

// Quota units of the calls made (§9.6, the table that gives a cost for
// every method: projects created from May 2026 may be charged more for
// messages.get, and Google's 403 then slows the sync down instead).
const (
	costLabels  = 1
	costProfile = 1
	costHistory = 2
	costList    = 5
	costGet     = 5
	costModify  = 5
	costSend    = 100
)

// DefaultUnitsPerMinute is a user's Gmail quota per minute (§9.6: 15,000
// units per user per minute, 250 a second).
const DefaultUnitsPerMinute = 15000

// pacer spends quota units no faster than Google grants them, so a first
// sync of a large mailbox goes at the quota's pace instead of running into
// 403 userRateLimitExceeded and backing off. A second's worth may be spent
// at once. Safe for concurrent use (Fetch asks several messages at once).
type pacer struct {
	mu     sync.Mutex
	rate   float64 // units a second
	burst  float64
	tokens float64
	last   time.Time
}

func newPacer(perMinute int) *pacer {
	if perMinute <= 0 {
		return nil
	}
	r := float64(perMinute) / 60
	return &pacer{rate: r, burst: r, tokens: r, last: time.Now()}
}

// wait takes cost units, waiting until they are granted. A nil pacer
// never waits.
func (p *pacer) wait(ctx context.Context, cost int) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	p.tokens -= float64(cost)
	d := time.Duration(-p.tokens / p.rate * float64(time.Second))
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getJSON reads a bounded JSON answer into v, once its units are granted.
func (m *Mailbox) getJSON(ctx context.Context, cost int, path string, limit int64, v any) error {
	if err := m.pace.wait(ctx, cost); err != nil {
		return err
	}
	return m.c.GetJSON(ctx, path, nil, limit, v)
}

// do sends r once its units are granted.
func (m *Mailbox) do(ctx context.Context, cost int, r cloudapi.Request) (*http.Response, error) {
	if err := m.pace.wait(ctx, cost); err != nil {
		return nil, err
	}
	return m.c.Do(ctx, r)
}
