package graphfake

import (
	"net/http"
	"strconv"
	"strings"
)

// The delta mechanics every area shares (§1, §4, §15): a round starts from
// the plain URL (every item) or a $deltatoken (what changed since), goes
// page by page with $skiptoken links of at most odata.maxpagesize entries,
// and ends with a deltaLink. Tokens are opaque, bound to their folder or
// list and to the first request's option; they can be made to die (410
// syncStateNotFound, or 410 with a Location) and a page can be made to
// replay an entry of the page before.

// deltaToken is the server state behind a $skiptoken or $deltatoken.
type deltaToken struct {
	scope    string // the folder or list
	pageSize int
	// option is the first request's option the round keeps: ImmutableId
	// for mail, $expand=linkedResources for To Do.
	option bool
	sel    []string        // the first request's $select (contacts)
	since  uint64          // changes after this (a deltatoken; a round's start)
	rest   []string        // a skiptoken: the round's remaining entries ("-id" removed)
	full   map[string]bool // entries sent whole, not as their changes
	end    uint64          // since for the round's deltaLink
	dup    string          // an entry to send again
	dead   bool
}

// deltaTokens are an area's tokens and switches.
type deltaTokens struct {
	tokens    map[string]*deltaToken
	location  bool // dead tokens answer 410 with a Location
	duplicate bool
}

// expire kills every token issued so far.
func (d *deltaTokens) expire(withLocation bool) {
	for _, t := range d.tokens {
		t.dead = true
	}
	d.location = withLocation
}

// deltaArea is what a delta page needs of its area.
type deltaArea struct {
	scope     string // the folder's or list's id
	what      string // "folder", "list": for the error of a foreign token
	odataType string // of @removed entries
	context   string // @odata.context of pages
	option    bool   // the initial request's option
	// start lists the entries of a round: every item (initial) or those
	// changed after since, "-id" for one gone; full says which are sent
	// whole; end is the state the round's deltaLink starts from.
	start func(since uint64, initial bool) (rest []string, full map[string]bool, end uint64)
	// item renders an entry of round; nil: it is gone (@removed).
	item func(id string, round *deltaToken) map[string]any
	// link is the absolute link of the delta with one token.
	link func(param, token string) string
}

// serve answers one page of a delta round.
func (d *deltaTokens) serve(w http.ResponseWriter, r *http.Request, a deltaArea) {
	if d.tokens == nil {
		d.tokens = map[string]*deltaToken{}
	}
	q := r.URL.Query()
	round := &deltaToken{scope: a.scope}
	startFrom := func(since uint64, initial bool) {
		round.since = since
		round.rest, round.full, round.end = a.start(since, initial)
	}
	// An empty $deltatoken (a 410's Location) starts over, like the plain URL.
	if key := q.Get("$skiptoken") + q.Get("$deltatoken"); key != "" {
		t := d.tokens[key]
		switch {
		case t == nil || t.dead:
			if d.location && t != nil {
				w.Header().Set("Location", a.link("$deltatoken", ""))
				graphError(w, http.StatusGone, "resyncRequired", "The sync state was reset; resync.")
				return
			}
			graphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found.")
			return
		case t.scope != a.scope:
			graphError(w, http.StatusBadRequest, "invalidRequest", "The token belongs to another "+a.what+".")
			return
		}
		if q.Has("$skiptoken") {
			round = t
		} else {
			round.pageSize, round.option, round.sel = t.pageSize, t.option, t.sel
			startFrom(t.since, false)
		}
	} else {
		size := 0
		if v, ok := prefer(r)["odata.maxpagesize"]; ok {
			size, _ = strconv.Atoi(v)
		}
		if size <= 0 || size > 1000 {
			size = 100
		}
		round.pageSize, round.option, round.sel = size, a.option, selectList(q)
		startFrom(0, true)
	}
	n := min(round.pageSize, len(round.rest))
	entries := round.rest[:n]
	if round.dup != "" {
		entries = append([]string{round.dup}, entries...)
	}
	value := []map[string]any{}
	for _, e := range entries {
		id, removed := strings.CutPrefix(e, "-")
		var item map[string]any
		if !removed {
			item = a.item(id, round)
		}
		if item == nil {
			item = map[string]any{"@odata.type": a.odataType, "id": id, "@removed": map[string]any{"reason": "deleted"}}
		}
		value = append(value, item)
	}
	page := map[string]any{"@odata.context": a.context, "value": value}
	next := &deltaToken{scope: a.scope, pageSize: round.pageSize, option: round.option, sel: round.sel}
	key := randomID()
	d.tokens[key] = next
	if n < len(round.rest) {
		next.rest, next.full, next.end, next.since = round.rest[n:], round.full, round.end, round.since
		if d.duplicate && n > 0 {
			next.dup = round.rest[n-1]
		}
		page["@odata.nextLink"] = a.link("$skiptoken", key)
	} else {
		next.since = round.end
		page["@odata.deltaLink"] = a.link("$deltatoken", key)
	}
	writeGraphJSON(w, page)
}

// writeSkipPage answers a listing (folders, lists, tasks) $top at a time
// (default 10), with a nextLink carrying $skip.
func writeSkipPage[T any](w http.ResponseWriter, r *http.Request, all []T) {
	q := r.URL.Query()
	top, _ := strconv.Atoi(q.Get("$top"))
	if top <= 0 || top > 1000 {
		top = 10
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	page := map[string]any{"value": append([]T{}, all[min(skip, len(all)):min(skip+top, len(all))]...)}
	if skip+top < len(all) {
		page["@odata.nextLink"] = skipLink(r, skip+top, top)
	}
	writeGraphJSON(w, page)
}
