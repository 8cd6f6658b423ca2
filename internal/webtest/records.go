package webtest

import (
	"encoding/json"

	"github.com/chromedp/chromedp"
)

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

// Post submits form fields to path as the page's forms do (with the
// page's CSRF token), without leaving the page: for what a page offers
// no button for, such as a record of another organisation.
func (b *Browser) Post(path string, form map[string]string) Fetched {
	b.t.Helper()
	fields, _ := json.Marshal(form)
	return get(b, "posting to "+path, chromedp.Evaluate[Fetched](`(() => {
  const body = new URLSearchParams(`+string(fields)+`);
  const token = document.querySelector('meta[name="csrf-token"]').content;
  return fetch(`+jsString(path)+`, {method: "POST", body, credentials: "same-origin", headers: {"X-CSRF-Token": token}}).then(async (r) => ({
    status: r.status, contentType: r.headers.get("Content-Type") || "", disposition: r.headers.get("Content-Disposition") || "", body: await r.text()}));
})()`, chromedp.EvalAwaitPromise))
}
