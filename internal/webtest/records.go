package webtest

import "github.com/chromedp/chromedp"

// Fetched is what the browser got for a path of the app, fetched with its
// session as a link would be.
type Fetched struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Disposition string `json:"disposition"`
	Body        string `json:"body"`
}

// Fetch gets path (a page, a download) with the window's cookies, without
// leaving the page: for a status (404) or a download's content.
func (b *Browser) Fetch(path string) Fetched {
	b.t.Helper()
	return get(b, "fetching "+path, chromedp.Evaluate[Fetched](`fetch(`+jsString(path)+`, {credentials: "same-origin"}).then(async (r) => ({
  status: r.status, contentType: r.headers.get("Content-Type") || "", disposition: r.headers.get("Content-Disposition") || "", body: await r.text()}))`,
		chromedp.EvalAwaitPromise))
}
