package dav_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim/dav"
)

// These tests play servers that misbehave in ways Radicale will not: a
// handler per scenario, answering what real servers answer.

func fake(t *testing.T, h http.HandlerFunc) *dav.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &dav.Client{BaseURL: srv.URL + "/", Username: "ann", Password: "secret"}
}

// A server's own words (its status line and error text) are shown only
// over TLS: over plain HTTP, anything on the port the user typed could be
// answering, and crmsync must not read it back (issue 10).
func TestServerWordsOnlyOverTLS(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(500)
		io.WriteString(w, "redis_version:7.2.4 database is locked")
	})
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(h)
	t.Cleanup(secure.Close)
	for _, c := range []struct {
		cl    *dav.Client
		shown bool
	}{
		{&dav.Client{BaseURL: plain.URL + "/"}, false},
		{&dav.Client{BaseURL: secure.URL + "/", HTTPClient: secure.Client()}, true},
	} {
		_, err := c.cl.List(t.Context(), "/ann/contacts/")
		e := connerr.As(err)
		if e == nil || e.Kind != connerr.Protocol {
			t.Fatalf("%s: %v; want a protocol error", c.cl.BaseURL, err)
		}
		if got := strings.Contains(e.Message, "redis_version"); got != c.shown {
			t.Errorf("%s: the server's text shown %v; want %v: %s", c.cl.BaseURL, got, c.shown, e.Message)
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       connerr.Kind
		retryAfter time.Duration // checked within 2 s (HTTP dates have whole seconds)
		inMessage  string
	}{
		{"401", 401, map[string]string{"WWW-Authenticate": `Basic realm="x"`}, "", connerr.Auth, 0, "Incorrect password"},
		{"429 seconds", 429, map[string]string{"Retry-After": "120"}, "", connerr.Throttled, 120 * time.Second, "limiting"},
		{"429 without Retry-After", 429, nil, "", connerr.Throttled, 0, "limiting"},
		{"503 date", 503, map[string]string{"Retry-After": "in 90s"}, "", connerr.Throttled, 90 * time.Second, "limiting"},
		{"503 bare", 503, nil, "", connerr.Unreachable, 0, "temporarily unavailable"},
		{"502", 502, nil, "", connerr.Unreachable, 0, "temporarily unavailable"},
		{"500", 500, map[string]string{"Content-Type": "text/plain"}, "database is locked", connerr.Protocol, 0, "500 Internal Server Error"},
		{"403", 403, nil, "", connerr.Protocol, 0, "lack access"},
		{"400", 400, nil, "", connerr.Protocol, 0, "400 Bad Request"},
		{"507", 507, nil, "", connerr.Quota, 0, "no room left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := fake(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					if v == "in 90s" { // an HTTP-date, made when answering
						v = time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
					}
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.List(t.Context(), "/ann/contacts/")
			var e *connerr.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v: not a *connerr.Error", err)
			}
			if e.Kind != tc.kind || dav.StatusOf(err) != tc.status || !strings.Contains(e.Message, tc.inMessage) {
				t.Errorf("kind %s status %d message %q; want %s, %d, containing %q", e.Kind, dav.StatusOf(err), e.Message, tc.kind, tc.status, tc.inMessage)
			}
			// The server is named apart, so the user knows whom to ask.
			if host := strings.TrimPrefix(c.BaseURL, "http://"); e.Server != strings.TrimSuffix(host, "/") {
				t.Errorf("Server %q, want the host of %s", e.Server, c.BaseURL)
			}
			if d := e.RetryAfter - tc.retryAfter; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tc.retryAfter)
			}
			if connerr.KindOf(err) != tc.kind {
				t.Errorf("KindOf %s", connerr.KindOf(err))
			}
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	c := &dav.Client{BaseURL: closed, Username: "ann", Password: "x"}
	if _, err := c.Discover(t.Context()); connerr.KindOf(err) != connerr.Unreachable || !connerr.KindOf(err).Transient() {
		t.Errorf("closed port: %v, want unreachable", err)
	}

	// A TLS server whose certificate this machine does not trust.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	c = &dav.Client{BaseURL: tlsSrv.URL + "/"}
	var e *connerr.Error
	if _, err := c.List(t.Context(), "/x/"); !errors.As(err, &e) || e.Kind != connerr.TLS || !strings.Contains(e.Message, "trusted authority") {
		t.Errorf("untrusted certificate: %v, want tls_error", err)
	}
	// Trusting it works.
	c.HTTPClient = tlsSrv.Client()
	if _, err := c.List(t.Context(), "/x/"); !errors.Is(err, dav.ErrNotFound) {
		t.Errorf("trusted certificate: %v, want ErrNotFound", err)
	}
	// Speaking TLS to a plain server.
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	c = &dav.Client{BaseURL: strings.Replace(plain.URL, "http:", "https:", 1) + "/"}
	if _, err := c.List(t.Context(), "/x/"); connerr.KindOf(err) != connerr.TLS {
		t.Errorf("https to a plain server: %v, want tls_error", err)
	}

	// A server that does not answer in time.
	slow := fake(t, func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client hanging up only once the body
		// is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	slow.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := slow.List(t.Context(), "/x/"); connerr.KindOf(err) != connerr.Unreachable {
		t.Errorf("timeout: %v, want unreachable", err)
	}
	// The caller's own context ending is not the server's fault.
	slow.HTTPClient = nil
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	var de *connerr.Error
	if _, err := slow.List(ctx, "/x/"); !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &de) {
		t.Errorf("caller's deadline: %v, want context.DeadlineExceeded and no *connerr.Error", err)
	}

	// An answer that is not XML.
	junk := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, "<html><body>hello")
	})
	if _, err := junk.List(t.Context(), "/x/"); connerr.KindOf(err) != connerr.Protocol || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("junk 207: %v", err)
	}
	if _, err := (&dav.Client{BaseURL: "ftp://example.com/"}).List(t.Context(), "/x/"); connerr.KindOf(err) != connerr.Protocol {
		t.Errorf("ftp URL: %v", err)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("credentials went to another server: %s %s", r.Method, r.URL)
	}))
	t.Cleanup(other.Close)
	var (
		mu      sync.Mutex
		methods []string
	)
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/old/":
			http.Redirect(w, r, "/new/", http.StatusMovedPermanently)
		case "/new/":
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<d:multistatus xmlns:d="DAV:"><d:response><d:href>/new/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`+
				`<d:response><d:href>http://ignored.example/new/a%20b.vcf</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`)
		case "/away/":
			http.Redirect(w, r, other.URL+"/new/", http.StatusFound)
		case "/loop/":
			http.Redirect(w, r, "/loop/", http.StatusTemporaryRedirect)
		}
	})
	items, err := c.List(t.Context(), "/old/")
	if err != nil || !slices.Equal(items, []dav.Item{{Href: "/new/a b.vcf", ETag: `"1"`}}) {
		t.Errorf("List through a 301: %v %v", items, err)
	}
	mu.Lock()
	if !slices.Equal(methods, []string{"PROPFIND /old/", "PROPFIND /new/"}) {
		t.Errorf("requests %v: the method must survive the redirect", methods)
	}
	mu.Unlock()
	if _, err := c.List(t.Context(), "/away/"); connerr.KindOf(err) != connerr.Protocol || !strings.Contains(err.Error(), "another server") {
		t.Errorf("redirect to another server: %v", err)
	}
	if _, err := c.List(t.Context(), "/loop/"); connerr.KindOf(err) != connerr.Protocol {
		t.Errorf("redirect loop: %v", err)
	}
}

// TestSyncTruncated: RFC 6578 §3.6, a server that answers in pages (507
// on the collection) is followed until the end; an item changed then
// deleted across pages is reported deleted.
func TestSyncTruncated(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"": `<d:response><d:href>/c/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>` +
			item("/c/1.ics", `"a"`) + item("/c/2.ics", `"b"`) + `<d:sync-token>t1</d:sync-token>`,
		"t1": `<d:response><d:href>/c/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>` +
			item("/c/3.ics", `"c"`) + `<d:response><d:href>/c/2.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>` +
			`<d:sync-token>t2</d:sync-token>`,
		"t2": item("/c/4.ics", `"d"`) + `<d:sync-token>t3</d:sync-token>`,
	}
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Depth") != "0" || !strings.Contains(string(body), "<D:sync-level>1</D:sync-level>") {
			t.Errorf("request: Depth %q, body %s", r.Header.Get("Depth"), body)
		}
		tok := between(string(body), "<D:sync-token>", "</D:sync-token>")
		page, ok := pages[tok]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusConflict) // a server that says 409
			io.WriteString(w, `<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>`)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, `<d:multistatus xmlns:d="DAV:">`+page+`</d:multistatus>`)
	})
	changed, deleted, token, err := c.SyncCollection(t.Context(), "/c/", "")
	want := []dav.Item{{Href: "/c/1.ics", ETag: `"a"`}, {Href: "/c/3.ics", ETag: `"c"`}, {Href: "/c/4.ics", ETag: `"d"`}}
	if err != nil || !slices.Equal(changed, want) || !slices.Equal(deleted, []string{"/c/2.ics"}) || token != "t3" {
		t.Errorf("changed %v, deleted %v, token %q, %v", changed, deleted, token, err)
	}
	// A forgotten token is an outcome (ErrInvalidSyncToken) and, for
	// callers that know only the taxonomy, a cursor to start again from.
	if _, _, _, err := c.SyncCollection(t.Context(), "/c/", "old"); !errors.Is(err, dav.ErrInvalidSyncToken) ||
		!errors.Is(err, connerr.ErrCursorInvalid) || dav.StatusOf(err) != 0 {
		t.Errorf("409 valid-sync-token: %v", err)
	}
}

// TestUIDConflictHref: a server that names the item holding the UID
// (RFC 4791 §5.3.2.1).
func TestUIDConflictHref(t *testing.T) {
	t.Parallel()
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "*" || r.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
			t.Errorf("PUT headers %v", r.Header)
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0"?><D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">`+
			`<C:no-uid-conflict><D:href>/cal/existing%20one.ics</D:href></C:no-uid-conflict></D:error>`)
	})
	_, err := c.Create(t.Context(), "/cal/new.ics", []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"), "")
	var e *dav.UIDConflictError
	if !errors.As(err, &e) || e.Existing != "/cal/existing one.ics" || !errors.Is(err, dav.ErrUIDConflict) {
		t.Errorf("%v (%+v)", err, e)
	}
}

func item(href, etag string) string {
	return fmt.Sprintf(`<d:response><d:href>%s</d:href><d:propstat><d:prop><d:getetag>%s</d:getetag></d:prop>`+
		`<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`, href, etag)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
