package webtest

import (
	"context"
	"time"

	"github.com/chromedp/chromedp"
)

// AxeWithin is Axe bounded by within rather than Timeout: each run loads
// axe-core's half-megabyte script and checks the whole page, which on a
// machine busy with other browsers can take longer than a step should.
func (b *Browser) AxeWithin(within time.Duration) []Violation {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	script := axeSource + `;
(async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]});
  return r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
    id: v.id, impact: v.impact, description: v.description, targets: v.nodes.map(n => n.target.join(" "))}));
})()`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("running axe: %v\n--- page (%s) ---\n%s", err, b.URL(), b.Text())
	}
	return v
}
