// Package pimfake is an in-memory pim.Remote for the engine's tests: one
// collection of items with ETags and a history of sync tokens, answering
// as the CardDAV/CalDAV adapter (pimconn) does — conditional creates and
// updates, pim's sentinel errors, connerr kinds for the connection — and
// faults to inject: a lost reply, a cursor reset, throttling, an item that
// cannot be decoded, a refused write. A pass against it runs in
// milliseconds, so the engine's cases are tested without a server; the
// tests on Radicale (package syncer) check that the real adapter answers
// the same.
package pimfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/pim"
)

// Remote is one collection. The zero value is not usable: call New.
// Methods are safe for concurrent use.
type Remote struct {
	kind pim.CollectionKind
	href string
	now  func() time.Time

	mu      sync.Mutex
	items   map[string]*item // by href
	version int              // bumped by every change; a token names one
	history []change         // every change, oldest first
	oldest  int              // tokens of versions before this are forgotten
	etags   int

	lose     int // replies to lose (the write is made)
	throttle int // calls to refuse as throttled
	after    time.Duration
	refuse   func(uid string, f pim.Fields) bool
	races    map[string]func(pim.Fields)
	writes   int
}

type item struct {
	uid      string
	etag     string
	fields   pim.Fields
	modified time.Time
	bad      error // the item cannot be decoded
}

type change struct {
	version int
	href    string
}

// New returns an empty collection of kind at href (a path ending in "/").
// now dates the writes (ModTime, RemoteItem.Modified); nil is time.Now.
func New(kind pim.CollectionKind, href string, now func() time.Time) *Remote {
	if now == nil {
		now = time.Now
	}
	return &Remote{kind: kind, href: href, now: now, items: map[string]*item{}, races: map[string]func(pim.Fields){}}
}

// ---- what another client of the server does ----

// Put stores an item at href (under the collection) as another client
// would, replacing one there, and returns its href.
func (r *Remote) Put(name, uid string, f pim.Fields) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	href := r.href + name
	r.store(href, &item{uid: uid, fields: f.Clone().Normalize()})
	return href
}

// Edit changes the item at href as another client would.
func (r *Remote) Edit(href string, fn func(pim.Fields)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	it := r.items[href]
	if it == nil {
		panic("pimfake: Edit of a missing item " + href)
	}
	f := it.fields.Clone()
	fn(f)
	r.store(href, &item{uid: it.uid, fields: f.Normalize()})
}

// Delete removes the item at href as another client would.
func (r *Remote) Delete(href string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items[href] != nil {
		delete(r.items, href)
		r.changed(href)
	}
}

// PutBad stores an item at href that cannot be decoded: it is listed, and
// Fetch reports it in bad with reason.
func (r *Remote) PutBad(name, reason string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	href := r.href + name
	r.store(href, &item{bad: errors.New(reason)})
	return href
}

// Items returns the collection's readable items, by href.
func (r *Remote) Items() map[string]pim.RemoteItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]pim.RemoteItem{}
	for href, it := range r.items {
		if it.bad == nil {
			out[href] = r.remoteItem(href, it)
		}
	}
	return out
}

// Writes counts the creates and updates the collection accepted.
func (r *Remote) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// ---- faults ----

// LoseReply makes the next Create or Update be made but answered with a
// connection error, as when the connection drops before the answer.
func (r *Remote) LoseReply() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lose++
}

// ResetTokens makes the server forget every sync token given so far:
// Changes with one of them is pim.ErrTokenInvalid.
func (r *Remote) ResetTokens() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.version++ // the tokens given from now on are new ones
	r.oldest = r.version
}

// Throttle refuses the next n calls with a connerr.Throttled error asking
// to come back after retryAfter.
func (r *Remote) Throttle(n int, retryAfter time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.throttle, r.after = n, retryAfter
}

// Refuse makes the writes for which refuse returns true fail with
// pim.ErrRefused (the server refused the item's content); nil accepts all.
func (r *Remote) Refuse(refuse func(uid string, f pim.Fields) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = refuse
}

// Race makes another client change the item at href with fn just before
// the next Update of it, which then fails with pim.ErrPrecondition.
func (r *Remote) Race(href string, fn func(pim.Fields)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.races[href] = fn
}

// ---- pim.Remote ----

// Changes lists what changed since token, or the whole collection for "".
func (r *Remote) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call(ctx); err != nil {
		return pim.RemoteChanges{}, err
	}
	next := r.token()
	if token == "" {
		var refs []pim.RemoteRef
		for _, href := range slices.Sorted(maps.Keys(r.items)) {
			refs = append(refs, pim.RemoteRef{Href: href, ETag: r.items[href].etag})
		}
		return pim.RemoteChanges{Full: true, Items: refs, Token: next}, nil
	}
	since, err := strconv.Atoi(strings.TrimPrefix(token, "tok-"))
	if err != nil || !strings.HasPrefix(token, "tok-") || since < r.oldest || since > r.version {
		return pim.RemoteChanges{}, &connerr.Error{Kind: connerr.CursorInvalid, Server: "pimfake", Err: fmt.Errorf("token %q", token),
			Message: "The server no longer knows the sync token; the collection is listed again."}
	}
	ch := pim.RemoteChanges{Token: next}
	seen := map[string]bool{}
	for _, c := range r.history {
		if c.version <= since || seen[c.href] {
			continue
		}
		seen[c.href] = true
		if it := r.items[c.href]; it != nil {
			ch.Items = append(ch.Items, pim.RemoteRef{Href: c.href, ETag: it.etag})
		} else {
			ch.Deleted = append(ch.Deleted, c.href)
		}
	}
	return ch, nil
}

// Fetch returns the items at hrefs; undecodable ones are in bad, absent
// ones in missing.
func (r *Remote) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call(ctx); err != nil {
		return nil, nil, nil, err
	}
	var items []pim.RemoteItem
	var bad []pim.ItemError
	var missing []string
	for _, href := range hrefs {
		switch it := r.items[href]; {
		case it == nil:
			missing = append(missing, href)
		case it.bad != nil:
			bad = append(bad, pim.ItemError{Href: href, Err: it.bad})
		default:
			items = append(items, r.remoteItem(href, it))
		}
	}
	return items, bad, missing, nil
}

// Create stores a new item named after uid, unless one is there already
// (pim.ErrExists with its href), as If-None-Match: * does.
func (r *Remote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call(ctx); err != nil {
		return pim.RemoteItem{}, err
	}
	href := r.href + uid + r.ext()
	for h, it := range r.items {
		if h == href || it.uid == uid {
			return pim.RemoteItem{Href: h}, fmt.Errorf("%w: %s", pim.ErrExists, h)
		}
	}
	if r.refuse != nil && r.refuse(uid, f) {
		return pim.RemoteItem{}, fmt.Errorf("%w: the server refused %s (test)", pim.ErrRefused, href)
	}
	return r.write(href, &item{uid: uid, fields: f.Clone().Normalize()})
}

// Update replaces the item at prev.Href if it still has prev.ETag
// (pim.ErrPrecondition otherwise, pim.ErrGone when it was deleted), as
// If-Match does.
func (r *Remote) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call(ctx); err != nil {
		return pim.RemoteItem{}, err
	}
	if fn := r.races[prev.Href]; fn != nil && r.items[prev.Href] != nil {
		delete(r.races, prev.Href)
		it := r.items[prev.Href]
		nf := it.fields.Clone()
		fn(nf)
		r.store(prev.Href, &item{uid: it.uid, fields: nf.Normalize()})
	}
	it := r.items[prev.Href]
	switch {
	case it == nil:
		return pim.RemoteItem{}, fmt.Errorf("%w: %s", pim.ErrGone, prev.Href)
	case it.etag != prev.ETag:
		return pim.RemoteItem{}, fmt.Errorf("%w: %s has ETag %s, not %s", pim.ErrPrecondition, prev.Href, it.etag, prev.ETag)
	case r.refuse != nil && r.refuse(it.uid, f):
		return pim.RemoteItem{}, fmt.Errorf("%w: the server refused %s (test)", pim.ErrRefused, prev.Href)
	}
	return r.write(prev.Href, &item{uid: it.uid, fields: f.Clone().Normalize()})
}

// ModTime is when the item at href was last stored.
func (r *Remote) ModTime(ctx context.Context, href string) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call(ctx); err != nil {
		return time.Time{}, err
	}
	it := r.items[href]
	if it == nil {
		return time.Time{}, fmt.Errorf("%w: %s", pim.ErrGone, href)
	}
	return it.modified, nil
}

// ---- inside ----

// call is what every request meets first: a cancelled context, or the
// throttling injected.
func (r *Remote) call(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.throttle > 0 {
		r.throttle--
		return &connerr.Error{Kind: connerr.Throttled, Server: "pimfake", RetryAfter: r.after,
			Message: "The server is limiting requests."}
	}
	return nil
}

// write stores an item the engine sent, and loses the reply when asked.
func (r *Remote) write(href string, it *item) (pim.RemoteItem, error) {
	r.store(href, it)
	r.writes++
	if r.lose > 0 {
		r.lose--
		return pim.RemoteItem{}, connerr.New(connerr.Unreachable, "The connection to pimfake was lost before the answer (test).", nil)
	}
	return r.remoteItem(href, it), nil
}

func (r *Remote) store(href string, it *item) {
	r.etags++
	it.etag = fmt.Sprintf(`"e%d"`, r.etags)
	it.modified = r.now().UTC()
	r.items[href] = it
	r.changed(href)
}

func (r *Remote) changed(href string) {
	r.version++
	r.history = append(r.history, change{version: r.version, href: href})
}

func (r *Remote) token() string { return "tok-" + strconv.Itoa(r.version) }

func (r *Remote) ext() string {
	if r.kind == pim.Contacts {
		return ".vcf"
	}
	return ".ics"
}

// remoteItem is the item as the adapter decodes it; Raw is its fields'
// JSON, standing for the provider's body.
func (r *Remote) remoteItem(href string, it *item) pim.RemoteItem {
	raw, _ := json.Marshal(it.fields)
	return pim.RemoteItem{Href: href, ETag: it.etag, UID: it.uid, Type: r.kind.RecordType(), Fields: it.fields.Clone(),
		Modified: it.modified, Raw: raw}
}
