package webtest

import (
	"fmt"

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
