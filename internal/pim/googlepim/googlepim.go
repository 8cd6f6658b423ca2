// Package googlepim is the PIM connector for Google accounts: the user's
// contacts over the People API, a calendar over the Calendar API and a
// task list over the Tasks API, each as a pim.Remote driven by the PIM
// engine exactly as a CardDAV address book or a CalDAV calendar is (same
// policies, tombstones, import filter, replaced-value fields). Semantics
// follow shared/reference/cloud-apis.md §10–§13.
//
//   - contacts.go: people/me/connections with sync tokens; contact groups
//     are the categories (pim.CategoryKeeper); the CRM stamp in clientData.
//   - events.go, gcal.go: events.list with sync tokens; a series is one
//     item, its master and its exceptions, mapped to the CalDAV codec's
//     Fields; the event id derived from the CRM stamp.
//   - tasks.go: tasks.list polled with updatedMin and showDeleted.
//
// It knows nothing of storage nor of sign-in: it is given the user's
// Google client (package google: the Gate every connector of the user
// shares, tokens, classification of refusals).
package googlepim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim"
)

// Collection is a calendar or task list the user may choose (contacts
// are one collection: the user's contacts). ID is what a Remote is opened
// with (and the href the store keeps); Default is the one synced when the
// user chose none (the primary calendar, the first task list).
type Collection struct {
	ID      string
	Name    string
	Default bool
}

// Limits on what one answer may weigh.
const (
	maxPage  = 32 << 20 // a listing page
	maxSmall = 1 << 20  // one item
)

// call sends one request with in as its JSON body (nil: none) and decodes
// the answer into out (nil: drained).
func call(ctx context.Context, c *cloudapi.Client, method, u string, header http.Header, in, out any) error {
	r := cloudapi.Request{Method: method, URL: u, Header: header}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		r.Body = b
	}
	resp, err := c.Do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return c.DecodeJSON(resp.Body, maxSmall, out)
}

// reason returns Google's reason for a refusal Do returned ("" for any
// other error).
func reason(err error) string {
	var se *cloudapi.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// refused marks a 4xx answer to a write (but those about the account:
// 401, 403, 429, and a cursor) as a fault of the item, not of the
// connection: the engine reports the item and goes on.
func refused(err error) error {
	if s := cloudapi.Status(err); s >= 400 && s < 500 && s != 401 && s != 403 && s != 429 {
		return fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	return err
}

// protocol is Google answering with something crmsync cannot use.
func protocol(c *cloudapi.Client, msg string) *connerr.Error {
	return &connerr.Error{Kind: connerr.Protocol, Server: c.Server, Message: msg}
}

// once returns a copy of c whose requests are sent at most once unless
// Google answered that it did nothing (401, 403, 429): a create without an
// idempotency key (a person, a task) whose answer was lost must not be
// sent again by the client's retries, which would make a duplicate. The
// engine finds the item by its stamp on the next pass instead.
func once(c *cloudapi.Client) *cloudapi.Client {
	nc := *c
	hc := http.DefaultClient
	if c.HTTP != nil {
		hc = c.HTTP
	}
	h := *hc
	base := h.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	h.Transport = &onceTransport{base: base, server: c.Server}
	nc.HTTP = &h
	return &nc
}

type onceTransport struct {
	base   http.RoundTripper
	server string
	mu     sync.Mutex
	sent   bool // a request went out without an answer saying it did nothing
}

func (t *onceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	if t.sent {
		t.mu.Unlock()
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &connerr.Error{Kind: connerr.Unreachable, Server: t.server,
			Message: "The answer to a write was lost; crmsync looks for the item on the next pass rather than write it twice."}
	}
	t.sent = true
	t.mu.Unlock()
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			t.mu.Lock()
			t.sent = false
			t.mu.Unlock()
		}
	}
	return resp, err
}

// query builds a query string from pairs, leaving out empty values.
func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// pageEnd is how every Google listing says there is more: embedded in an
// answer's type, it makes the type a page for eachPage.
type pageEnd struct {
	NextPageToken string `json:"nextPageToken"`
}

func (p *pageEnd) next() string { return p.NextPageToken }

// eachPage reads a listing page by page: at(token) is the URL of the page
// with that pageToken ("" for the first), fn gets each answer.
func eachPage[T any, P interface {
	*T
	next() string
}](ctx context.Context, c *cloudapi.Client, at func(page string) string, fn func(P) error) error {
	page := ""
	for {
		ans := P(new(T))
		if err := c.GetJSON(ctx, at(page), nil, maxPage, ans); err != nil {
			return err
		}
		if err := fn(ans); err != nil {
			return err
		}
		if page = ans.next(); page == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// listed is what a Remote keeps of its last listing until the engine
// fetches it: a first sync then reads nothing item by item.
type listed[T any] struct {
	mu    sync.Mutex
	items map[string]T
}

func (l *listed[T]) put(href string, v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.items == nil {
		l.items = map[string]T{}
	}
	l.items[href] = v
}

// forget drops one item (href) or, with "", all of them.
func (l *listed[T]) forget(href string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if href == "" {
		l.items = nil
	} else {
		delete(l.items, href)
	}
}

// fetch returns the items at hrefs: those held from the listing (each
// handed out once: a later fetch, after a refused write, reads afresh),
// the others read (ok false: gone). decode failing makes an item bad.
func (l *listed[T]) fetch(ctx context.Context, hrefs []string, read func(ctx context.Context, href string) (v T, ok bool, err error),
	decode func(T) (pim.RemoteItem, error)) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	var items []pim.RemoteItem
	var bad []pim.ItemError
	var missing []string
	for _, h := range hrefs {
		l.mu.Lock()
		v, ok := l.items[h]
		delete(l.items, h)
		l.mu.Unlock()
		if !ok {
			var err error
			if v, ok, err = read(ctx, h); err != nil {
				return nil, nil, nil, err
			}
			if !ok {
				missing = append(missing, h)
				continue
			}
		}
		it, err := decode(v)
		if err != nil {
			bad = append(bad, pim.ItemError{Href: h, Err: err})
			continue
		}
		items = append(items, it)
	}
	return items, bad, missing, nil
}

// stamps finds the items crmsync created by the CRM stamp they carry,
// for providers where an item's id is not made from it (persons, tasks):
// every item listed or created is noted, and a create of a stamp seen is
// refused as pim.ErrExists with its href, so a create retried after a
// lost answer links the first one.
type stamps struct {
	mu    sync.Mutex
	hrefs map[string]string
}

func (s *stamps) note(uid, href string) {
	if uid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hrefs == nil {
		s.hrefs = map[string]string{}
	}
	s.hrefs[uid] = href
}

// exists returns ErrExists, with the item's href, when uid was seen.
func (s *stamps) exists(uid string) (pim.RemoteItem, error) {
	s.mu.Lock()
	href, ok := s.hrefs[uid]
	s.mu.Unlock()
	if ok {
		return pim.RemoteItem{Href: href}, fmt.Errorf("%w: an item carries %s", pim.ErrExists, uid)
	}
	return pim.RemoteItem{}, nil
}
