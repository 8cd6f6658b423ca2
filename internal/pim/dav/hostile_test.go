package dav_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/testpeer/heapwatch"
)

// Hostile servers (issue 10): an answer that never ends fails with a
// protocol error naming the server, and the heap stays bounded while the
// server keeps sending.

const heapBound = 64 << 20

// endless answers 207 (or code) with head, then chunk again and again
// until the client hangs up or about 512 MiB went out.
func endless(code int, head, chunk string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, head)
		for sent := 0; sent < 512<<20; sent += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}
}

func hostile(t *testing.T, c *dav.Client, err error, grew uint64, says string) {
	t.Helper()
	t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
	e := connerr.As(err)
	if e == nil || e.Kind != connerr.Protocol {
		t.Fatalf("error = %v, want a connerr.Protocol", err)
	}
	u, _ := url.Parse(c.BaseURL)
	if e.Server != u.Host || !strings.Contains(e.Message, u.Host) || !strings.Contains(e.Message, says) {
		t.Errorf("error = %+v, want it to name %s and say %q", e, u.Host, says)
	}
	t.Logf("message: %s", e.Message)
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB while the server kept sending, want < %d MiB", grew>>20, heapBound>>20)
	}
}

const msHead = `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">`

func TestHostileEndlessMultistatus(t *testing.T) {
	resp := `<d:response><d:href>/book/x.vcf</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag>` +
		`<card:address-data>BEGIN:VCARD` + "\r\n" + `FN:x` + "\r\n" + strings.Repeat("NOTE:filler\r\n", 300) + `END:VCARD</card:address-data>` +
		`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>` + "\n"
	c := fake(t, endless(http.StatusMultiStatus, msHead, resp))
	book := dav.Collection{Href: "/book/", Type: dav.AddressBook}
	var err error
	grew := heapwatch.Peak(func() { _, _, err = c.Multiget(t.Context(), book, []string{"/book/x.vcf"}) })
	hostile(t, c, err, grew, "more than 16 MiB")

	grew = heapwatch.Peak(func() { _, err = c.List(t.Context(), "/book/") })
	hostile(t, c, err, grew, "more than 32 MiB")
}

func TestHostileEndlessLine(t *testing.T) {
	// One text node that never ends, without a newline: in a multiget,
	// in discovery and in a single GET.
	c := fake(t, endless(http.StatusMultiStatus, msHead+`<d:response><d:href>/book/`, strings.Repeat("a", 64<<10)))
	book := dav.Collection{Href: "/book/", Type: dav.AddressBook}
	var err error
	grew := heapwatch.Peak(func() { _, _, err = c.Multiget(t.Context(), book, []string{"/book/x.vcf"}) })
	hostile(t, c, err, grew, "more than 16 MiB")

	grew = heapwatch.Peak(func() { _, err = c.Discover(t.Context()) })
	hostile(t, c, err, grew, "more than 1 MiB")

	c = fake(t, endless(http.StatusOK, "BEGIN:VCARD\r\nNOTE:", strings.Repeat("b", 64<<10)))
	grew = heapwatch.Peak(func() { _, err = c.Get(t.Context(), "/book/x.vcf") })
	hostile(t, c, err, grew, "more than 16 MiB")
}

// A batch answer that is not well-formed (Radicale, given a card with
// control characters) is fetched item by item: the good items come, the
// bad one is listed with its href, a vanished one is missing.
func TestMultigetEachFallsBackItemByItem(t *testing.T) {
	var gets []string
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "REPORT":
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, msHead+`<d:response><d:href>/book/a.vcf</d:href><d:propstat><d:prop>`+
				"<card:address-data>BEGIN:VCARD\r\nFN:bad \x01\x02\r\nEND:VCARD</card:address-data></d:prop></d:propstat></d:response></d:multistatus>")
		case r.Method == http.MethodGet:
			gets = append(gets, r.URL.Path)
			switch r.URL.Path {
			case "/book/bad.vcf":
				w.WriteHeader(http.StatusInternalServerError)
			case "/book/gone.vcf":
				w.WriteHeader(http.StatusNotFound)
			default:
				w.Header().Set("ETag", `"e-`+r.URL.Path+`"`)
				io.WriteString(w, "BEGIN:VCARD\r\nFN:"+r.URL.Path+"\r\nEND:VCARD\r\n")
			}
		}
	})
	book := dav.Collection{Href: "/book/", Type: dav.AddressBook}
	hrefs := []string{"/book/a.vcf", "/book/bad.vcf", "/book/c.vcf", "/book/gone.vcf"}
	objs, failed, missing, err := c.MultigetEach(t.Context(), book, hrefs)
	if err != nil {
		t.Fatalf("MultigetEach: %v", err)
	}
	if len(objs) != 2 || objs[0].Href != "/book/a.vcf" || objs[1].Href != "/book/c.vcf" || objs[1].ETag != `"e-/book/c.vcf"` {
		t.Errorf("objs = %+v, want a and c", objs)
	}
	if len(failed) != 1 || failed[0].Href != "/book/bad.vcf" || !strings.Contains(connerr.Message(failed[0].Err), "/book/bad.vcf") {
		t.Errorf("failed = %+v, want bad.vcf with an error naming it", failed)
	}
	if len(missing) != 1 || missing[0] != "/book/gone.vcf" {
		t.Errorf("missing = %v", missing)
	}
	if len(gets) != len(hrefs) {
		t.Errorf("GETs = %v, want one per href", gets)
	}
	// The strict Multiget still fails on the batch.
	if _, _, err := c.Multiget(t.Context(), book, hrefs); connerr.KindOf(err) != connerr.Protocol {
		t.Errorf("Multiget = %v, want the batch's protocol error", err)
	}
}

// Neighbours: a batch past its size limit falls back too; a server that
// fails every single item as well fails the batch; a 503 is the server
// down, not a bad item, and is not retried item by item.
func TestMultigetEachServerFaults(t *testing.T) {
	book := dav.Collection{Href: "/book/", Type: dav.AddressBook}
	hrefs := []string{"/book/a.vcf", "/book/b.vcf", "/book/c.vcf"}
	good := func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n")
	}

	big := endless(http.StatusMultiStatus, msHead+`<d:response><d:href>/book/`, strings.Repeat("a", 64<<10))
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "REPORT" {
			big(w, r)
			return
		}
		good(w, r)
	})
	var objs []dav.Object
	var err error
	grew := heapwatch.Peak(func() { objs, _, _, err = c.MultigetEach(t.Context(), book, hrefs) })
	if err != nil || len(objs) != 3 {
		t.Errorf("after an oversized batch: %d objects, %v", len(objs), err)
	}
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}

	c = fake(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	_, failed, _, err := c.MultigetEach(t.Context(), book, hrefs)
	if connerr.KindOf(err) != connerr.Protocol || dav.StatusOf(err) != 500 || len(failed) != 0 {
		t.Errorf("every item failing: %v, failed %v; want the batch's error", err, failed)
	}

	gets := 0
	c = fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets++
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, _, _, err = c.MultigetEach(t.Context(), book, hrefs)
	if connerr.KindOf(err) != connerr.Unreachable || gets != 0 {
		t.Errorf("503: %v after %d GETs, want unreachable and none", err, gets)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := c.MultigetEach(ctx, book, hrefs); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
