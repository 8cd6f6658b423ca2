package webtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

//go:embed axe.min.js
var axeSource string

// chromium is one browser process per test binary; each Browser is a
// browser context of its own in it (its own cookies, like a private
// window), so that tests run in parallel without seeing each other.
var chromium struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// ChromiumPath finds Debian's chromium (never a downloaded browser).
func ChromiumPath() (string, error) {
	for _, p := range []string{os.Getenv("CRMSYNC_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("chromium not found (Debian: apt-get install chromium)")
}

func browserProcess(t testing.TB) context.Context {
	t.Helper()
	chromium.once.Do(func() {
		path, err := ChromiumPath()
		if err != nil {
			chromium.err = err
			return
		}
		dir, err := os.MkdirTemp("", "crmsync-chromium-")
		if err != nil {
			chromium.err = err
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.Flag("headless", true),
			chromedp.Flag("no-sandbox", true),
			chromedp.Flag("disable-gpu", true),
			chromedp.Flag("no-first-run", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("no-default-browser-check", true),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(1280, 900),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		if err := chromedp.Do(ctx); err != nil { // starts the browser
			cancel()
			cancelAlloc()
			chromium.err = fmt.Errorf("starting chromium: %w", err)
			return
		}
		chromium.ctx = ctx
		chromium.cancel = func() { cancel(); cancelAlloc(); os.RemoveAll(dir) }
	})
	if chromium.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(chromium.err)
		}
		t.Skip(chromium.err)
	}
	return chromium.ctx
}

// Close stops the browser; call it from TestMain after m.Run.
func Close() {
	if chromium.cancel != nil {
		chromium.cancel()
	}
}

// Browser is one user's browser window on a Stack.
type Browser struct {
	t    testing.TB
	ctx  context.Context
	base string
	Lang string
}

// Timeout bounds each step (a page load, a wait for a text).
var Timeout = 20 * time.Second

// NewBrowser opens a private window whose browser asks for pages in lang
// (its Accept-Language: "en", "fr", "sv", "it").
func (s *Stack) NewBrowser(t testing.TB, lang string) *Browser {
	t.Helper()
	parent := browserProcess(t)
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &Browser{t: t, ctx: ctx, base: s.URL, Lang: lang}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a window: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang}}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *Browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n--- page (%s) ---\n%s", what, err, b.URL(), b.Text())
	}
}

// get runs an action that reads a value.
func get[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\n--- page (%s) ---\n%s", what, err, b.URL(), b.Text())
	}
	return v
}

// Ctx is the window's chromedp context, for what the helpers here do not
// cover.
func (b *Browser) Ctx() context.Context { return b.ctx }

// Go opens a path of the app (or a full URL).
func (b *Browser) Go(path string) {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.base + path
	}
	b.run("opening "+path, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
}

// URL is the address shown.
func (b *Browser) URL() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

// Text is the page's visible text.
func (b *Browser) Text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// xq quotes a string for XPath.
func xq(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return "concat('" + strings.ReplaceAll(s, "'", `', "'", '`) + "')"
}

// fieldXPath finds the form control a visible label names: the label's
// for= target, the control inside the label, or a control whose
// aria-label is the text.
func fieldXPath(label string) string {
	l := xq(label)
	return fmt.Sprintf(`(//*[@id=//label[normalize-space(.)=%[1]s]/@for] | //label[normalize-space(.)=%[1]s]//*[self::input or self::select or self::textarea] | //*[(self::input or self::select or self::textarea) and @aria-label=%[1]s])[1]`, l)
}

// Fill types a value into the field labelled label (clearing it first).
func (b *Browser) Fill(label, value string) {
	b.t.Helper()
	x := fieldXPath(label)
	b.run("finding "+label, chromedp.WaitVisible(chromedp.Search(x)))
	ok := get(b, "filling "+label, chromedp.Evaluate[bool](`(() => {
  const el = document.evaluate(`+jsString(x)+`, document, null, 9, null).singleNodeValue;
  if (!el) return false;
  el.focus();
  el.value = `+jsString(value)+`;
  el.dispatchEvent(new Event("input", {bubbles: true}));
  el.dispatchEvent(new Event("change", {bubbles: true}));
  return true;
})()`))
	if !ok {
		b.t.Fatalf("no field labelled %q\n%s", label, b.Text())
	}
}

// Check ticks (or unticks) the checkbox or radio labelled label.
func (b *Browser) Check(label string, on bool) {
	b.t.Helper()
	x := chromedp.Search(fieldXPath(label))
	b.run("finding "+label, chromedp.WaitVisible(x))
	if get(b, "reading "+label, chromedp.JavascriptAttribute[bool](x, "checked")) != on {
		b.run("ticking "+label, chromedp.Click(x))
	}
}

// Select chooses the option whose visible text is option in the select
// labelled label.
func (b *Browser) Select(label, option string) {
	b.t.Helper()
	x := fieldXPath(label)
	b.run("finding "+label, chromedp.WaitVisible(chromedp.Search(x)))
	ok := get(b, "choosing "+option+" in "+label, chromedp.Evaluate[bool](`(() => {
  const sel = document.evaluate(`+jsString(x)+`, document, null, 9, null).singleNodeValue;
  const opt = Array.from(sel.options).find(o => o.textContent.trim() === `+jsString(option)+`);
  if (!opt) return false;
  sel.value = opt.value;
  sel.dispatchEvent(new Event("input", {bubbles: true}));
  sel.dispatchEvent(new Event("change", {bubbles: true}));
  return true;
})()`))
	if !ok {
		b.t.Fatalf("%s has no option %q\n%s", label, option, b.Text())
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// clickable is a button, link or submit input showing text.
func clickable(text string) string {
	t := xq(text)
	return fmt.Sprintf(`(//button[normalize-space(.)=%[1]s] | //a[normalize-space(.)=%[1]s] | //input[(@type='submit' or @type='button') and @value=%[1]s] | //*[@role='button' and normalize-space(.)=%[1]s])[1]`, t)
}

// Click clicks the button or link showing text, and waits for the page
// it leads to (if any).
func (b *Browser) Click(text string) {
	b.t.Helper()
	x := chromedp.Search(clickable(text))
	b.run("clicking "+text, chromedp.WaitVisible(x), chromedp.Click(x), chromedp.WaitReady(chromedp.CSS("body")))
}

// Enabled reports whether the button showing text can be clicked.
func (b *Browser) Enabled(text string) bool {
	b.t.Helper()
	x := chromedp.Search(clickable(text))
	b.run("finding "+text, chromedp.WaitVisible(x))
	return !get(b, "reading "+text, chromedp.JavascriptAttribute[bool](x, "disabled"))
}

// WaitText waits until the page shows text (the live states update
// themselves), failing after within.
func (b *Browser) WaitText(text string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if strings.Contains(b.Text(), text) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page did not show %q within %s\n--- page (%s) ---\n%s", text, within, b.URL(), b.Text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Has reports whether the page shows text now.
func (b *Browser) Has(text string) bool { return strings.Contains(b.Text(), text) }

// SignIn signs in on the sign-in page, by its labels in the window's
// language (Labels).
func (b *Browser) SignIn(email, password string) {
	b.t.Helper()
	l := Labels[b.Lang]
	b.Go("/login")
	b.Fill(l.Email, email)
	b.Fill(l.Password, password)
	b.Click(l.SignIn)
	// The answer is another page, or the sign-in page again with an
	// alert: wait for either, so that the next step does not cut the
	// sign-in short.
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		done, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (location.pathname !== "/login" || !!document.querySelector("[role=alert]"))`))
		cancel()
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Labels are the sign-in page's labels in each language.
var Labels = map[string]struct{ Email, Password, SignIn string }{
	"en": {"Email", "Password", "Sign in"},
	"fr": {"E-mail", "Mot de passe", "Se connecter"},
	"sv": {"E-post", "Lösenord", "Logga in"},
	"it": {"E-mail", "Password", "Accedi"},
}

// Screenshot saves the window as PNG under $CRMSYNC_SCREENSHOTS (nothing
// without it), named name.png.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("CRMSYNC_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Violation is one serious or critical finding of axe-core.
type Violation struct {
	ID          string   `json:"id"`
	Impact      string   `json:"impact"`
	Description string   `json:"description"`
	Targets     []string `json:"targets"`
}

// Axe runs axe-core (WCAG 2 A and AA rules) on the page and returns the
// serious and critical violations. It may take up to a minute: each run
// loads axe-core's half-megabyte script and checks the whole page.
func (b *Browser) Axe() []Violation {
	b.t.Helper()
	return b.AxeWithin(time.Minute)
}

// AxeWithin is Axe bounded by within.
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
