package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// Bounds of the warnings a pass writes to the account's history: a
// hostile server may send thousands of bad values, and the history is read
// by people.
const (
	maxWarningEvents   = 20 // items whose warnings are written one by one
	maxWarningsPerItem = 10 // values named per item; the rest are counted
)

// itemWarnings records what the CRM's rules cut or dropped from an item
// (crm.Sanitize…): the item is stored, and the account's history says
// what it lost, so that nothing is dropped silently.
func (p *collectionPass) itemWarnings(ctx context.Context, href string, id int64, ws []crm.Warning) {
	if len(ws) == 0 {
		return
	}
	p.stats.Warned++
	parts := make([]string, 0, min(len(ws), maxWarningsPerItem)+1)
	for _, w := range ws[:min(len(ws), maxWarningsPerItem)] {
		parts = append(parts, w.String())
	}
	if n := len(ws) - maxWarningsPerItem; n > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", n))
	}
	msg := fmt.Sprintf("%s %d (%s) does not fit the CRM's rules and was stored without some values: %s.",
		p.side.recordType(), id, href, strings.Join(parts, "; "))
	p.warnings = append(p.warnings, msg)
	if len(p.warnings) <= maxWarningEvents {
		p.event(ctx, "item_warning", msg)
	}
}

// warningsLeftOut writes, at the end of a pass, how many items' warnings
// were not written one by one.
func (p *collectionPass) warningsLeftOut(ctx context.Context) {
	if n := len(p.warnings) - maxWarningEvents; n > 0 {
		p.event(ctx, "item_warning", fmt.Sprintf("%s: %d more items were stored without some of their values.", p.coll.DisplayName, n))
	}
}

// unwritable says why a record's fields must not be written to the
// server ("" when they may): an event whose recurrence rule crmsync does
// not accept (SECONDLY, a huge COUNT) came from the server and stays there
// as it is, since the server expands it on every query.
func (p *collectionPass) unwritable(f pim.Fields) string {
	if p.side.recordType() != pim.RecordEvent {
		return ""
	}
	return crm.RRuleProblem(f[pim.FieldRRule].Str)
}
