package webtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Expand opens the <details> whose <summary> shows text ("Advanced
// settings"), so that the fields inside can be filled; an open one stays
// open.
func (b *Browser) Expand(text string) {
	b.t.Helper()
	x := fmt.Sprintf(`//details[summary[normalize-space(.)=%s]]`, xq(text))
	b.run("finding "+text, chromedp.WaitVisible(chromedp.Search(x+"/summary")))
	if !get(b, "reading "+text, chromedp.JavascriptAttribute[bool](chromedp.Search(x), "open")) {
		b.run("opening "+text, chromedp.Click(chromedp.Search(x+"/summary")))
	}
}

// WaitTextIn waits until the first element matching the CSS selector
// shows text (a live state rather than the history below it), failing
// after within.
func (b *Browser) WaitTextIn(selector, text string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := b.TextIn(selector)
		if strings.Contains(got, text) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s did not show %q within %s; it shows:\n%s", selector, text, within, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TextIn is the visible text of the first element matching the CSS
// selector ("" when there is none).
func (b *Browser) TextIn(selector string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const el = document.querySelector(`+jsString(selector)+`); return el ? el.innerText : ""; })()`))
	return s
}

// Value is the value of the first form control matching the CSS
// selector (a read-only address to copy).
func (b *Browser) Value(selector string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const el = document.querySelector(`+jsString(selector)+`); return el ? el.value : ""; })()`))
	return s
}
