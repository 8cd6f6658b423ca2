package webtest

import (
	"strings"

	"github.com/chromedp/chromedp"
)

// TextOf is the text of the first element matching the CSS selector css
// ("" when there is none): a value the page shows once, such as a key or
// a new token's secret, that a test must read to go on.
func (b *Browser) TextOf(css string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "reading "+css, chromedp.Evaluate[string](`(() => {
  const el = document.querySelector(`+jsString(css)+`);
  return el ? el.textContent : "";
})()`)))
}
