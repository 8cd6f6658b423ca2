package dav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Client speaks WebDAV, CardDAV and CalDAV to one account on one server.
// Its fields are set once before use; it holds no other state and is safe
// for concurrent use.
//
// Hrefs, here and in every result, are unescaped absolute paths on the
// server ("/user1/contacts/a b.vcf"): the package escapes them on the wire
// and unescapes what the server sends, so hrefs compare as strings.
type Client struct {
	// BaseURL is where discovery starts: the server's root, the user's
	// principal or any URL on the server ("https://dav.example.com/").
	// Every request goes to its scheme and host.
	BaseURL string
	// Username and Password are sent with HTTP Basic authentication (RFC
	// 7617) on every request; empty both, none is sent.
	Username, Password string
	// HTTPClient sends the requests; nil means one with a 5-minute timeout.
	// Its redirect policy is not used: the Client follows redirects itself,
	// keeping the method and only within the BaseURL's server.
	HTTPClient *http.Client
}

const (
	userAgent    = "crmsync"
	maxRedirects = 5
	// maxErrorBody bounds what is read of an error answer.
	maxErrorBody = 64 << 10
)

var defaultHTTPClient = &http.Client{Timeout: 5 * time.Minute}

func (c *Client) base() (*url.URL, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, connerr.Errorf(connerr.Protocol, err, "The server address %q is not an http:// or https:// URL.", c.BaseURL)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// host names the server in messages.
func (c *Client) host() string {
	if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return c.BaseURL
}

// answer is a response whose status the operation did not expect, with
// its (bounded) body and DAV:error, if any.
type answer struct {
	resp *http.Response
	body []byte
	dav  *davError
}

func (a *answer) Error() string { return a.resp.Status }

// do sends one request to href ("" = BaseURL itself), following redirects
// within the server, and returns the response with its status unchecked.
// Failures to get an answer are classified; the caller's own context
// ending is returned as such.
func (c *Client) do(ctx context.Context, method, href string, header http.Header, body []byte, what string) (*http.Response, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	target := base
	if href != "" {
		t := *base
		t.Path = href
		target = &t
	}
	hc := *defaultHTTPClient
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	for redirects := 0; ; redirects++ {
		var rd io.Reader = http.NoBody
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target.String(), rd)
		if err != nil {
			return nil, c.fault(connerr.Protocol, err, "Cannot build the request for %s.", what)
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		req.Header.Set("User-Agent", userAgent)
		if c.Username != "" || c.Password != "" {
			req.SetBasicAuth(c.Username, c.Password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dav: %s: %w", what, ctx.Err())
			}
			return nil, c.transportError(err, what)
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			return resp, nil
		}
		drain(resp)
		// RFC 6764 §5: /.well-known/caldav and /carddav redirect to the
		// context path. A DAV client repeats the same method there.
		next, err := target.Parse(loc)
		// The target is the server's word: quoted only over TLS (shownStatus).
		if err != nil || redirects == maxRedirects {
			if resp.TLS == nil {
				return nil, c.fault(connerr.Protocol, newStatusError(resp, err), "%s redirected %s too often or to a bad address.", c.host(), what)
			}
			return nil, c.fault(connerr.Protocol, newStatusError(resp, err), "%s redirected %s too often or to a bad address (%q).", c.host(), what, loc)
		}
		if next.Scheme != base.Scheme || next.Host != base.Host {
			// Credentials go only to the server the user named.
			if resp.TLS == nil {
				return nil, c.fault(connerr.Protocol, newStatusError(resp, nil), "%s redirected the request (%s) to another server: crmsync follows redirects only within the server you named, so set the server's own address.", c.host(), what)
			}
			return nil, c.fault(connerr.Protocol, newStatusError(resp, nil), "%s redirected the request (%s) to another server, %s://%s: if that is right, set the server address to %s.", c.host(), what, next.Scheme, next.Host, next.String())
		}
		target = next
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// drain reads a little of an unwanted body so that the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// unexpected reads an answer the operation did not expect into an
// *answer, closing the body.
func unexpected(resp *http.Response) *answer {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	a := &answer{resp: resp, body: body}
	ct := resp.Header.Get("Content-Type")
	if strings.Contains(ct, "xml") || bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		a.dav = parseDAVError(body)
	}
	return a
}

// fail turns an unexpected answer into the error callers see: ErrNotFound
// for 404 and 410, else a classified *connerr.Error.
func (c *Client) fail(a *answer, href, what string) error {
	switch a.resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("%w: %s", ErrNotFound, href)
	}
	return c.statusError(a.resp, a.body, what)
}

// multistatus sends a PROPFIND or REPORT and decodes the 207 answer. Any
// other status comes back as an *answer for the caller to judge. The URL
// returned is the one that answered (after redirects), to resolve hrefs.
// An answer larger than limit bytes fails (limits.go).
func (c *Client) multistatus(ctx context.Context, method, href, depth, body, what string, limit int64) (*multistatus, *url.URL, error) {
	h := http.Header{"Content-Type": {"application/xml; charset=utf-8"}}
	if depth != "" {
		h.Set("Depth", depth)
	}
	resp, err := c.do(ctx, method, href, h, []byte(body), what)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, nil, unexpected(resp)
	}
	defer resp.Body.Close()
	ms, err := decodeMultistatus(newCapped(resp.Body, limit))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("dav: %s: %w", what, ctx.Err())
		}
		return nil, nil, c.readError(err, what)
	}
	return ms, resp.Request.URL, nil
}

// check passes errors through, turning an *answer into the caller's error.
func (c *Client) check(err error, href, what string) error {
	var a *answer
	if errors.As(err, &a) {
		return c.fail(a, href, what)
	}
	return err
}
