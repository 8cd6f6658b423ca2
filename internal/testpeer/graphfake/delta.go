package graphfake

import (
	"net/http"
	"strconv"
	"strings"
)

// Delta rounds, as every Outlook delta runs them (§1, §6.2, §7.1): a new
// round from the plain URL or a $deltatoken, the next page of a round from
// a $skiptoken, Prefer: odata.maxpagesize, @removed entries, a dead token
// answering 410, and on demand an entry of the page before sent again.
// Each area (mail, contacts) says how it lists a round and renders an
// entry.

// deltaToken is the server state behind a $skiptoken or $deltatoken: bound
// to its folder and to the first request's options, as Graph's are.
type deltaToken struct {
	folder    string
	pageSize  int
	immutable bool
	sel       []string // $select
	since     uint64   // a deltatoken: changes after this (a skiptoken: of its round)
	rest      []string // a skiptoken: the round's remaining entries ("-id" removed)
	full      map[string]bool
	end       uint64 // a skiptoken: since for the round's deltaLink
	dup       string // an entry to send again (DuplicateInRound)
	dead      bool
}

// deltaPager is one area's delta over one folder.
type deltaPager struct {
	folder    string
	tokens    map[string]*deltaToken
	location  bool // dead tokens answer 410 with a Location
	duplicate bool // DuplicateInRound
	// itemType and context name the entries (@odata.type, @odata.context).
	itemType, context string
	// start lists a round: every item (initial) or what changed after
	// since; opts carries the options the round is bound to.
	start func(since uint64, initial bool, opts *deltaToken) *deltaToken
	// render is an entry of round; nil when the item is no longer in the
	// folder (it is then @removed).
	render func(id string, round *deltaToken) map[string]any
	// link is the absolute delta link with one token.
	link func(param, token string) string
}

func (p deltaPager) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var round *deltaToken
	// An empty $deltatoken (a 410's Location) starts over, like the plain URL.
	if key := q.Get("$skiptoken") + q.Get("$deltatoken"); key != "" {
		t := p.tokens[key]
		switch {
		case t == nil || t.dead:
			if p.location && t != nil {
				w.Header().Set("Location", p.link("$deltatoken", ""))
				graphError(w, http.StatusGone, "resyncRequired", "The sync state was reset; resync.")
				return
			}
			graphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found.")
			return
		case t.folder != p.folder:
			graphError(w, http.StatusBadRequest, "invalidRequest", "The token belongs to another folder.")
			return
		}
		if q.Has("$skiptoken") {
			round = t
		} else {
			round = p.start(t.since, false, t)
		}
	} else {
		size := 0
		if v, ok := prefer(r)["odata.maxpagesize"]; ok {
			size, _ = strconv.Atoi(v)
		}
		if size <= 0 || size > 1000 {
			size = 100
		}
		round = p.start(0, true, &deltaToken{folder: p.folder, pageSize: size, immutable: preferImmutable(r), sel: selectList(q)})
	}
	n := min(round.pageSize, len(round.rest))
	entries := round.rest[:n]
	if round.dup != "" {
		entries = append([]string{round.dup}, entries...)
	}
	value := []map[string]any{}
	for _, e := range entries {
		id, removed := strings.CutPrefix(e, "-")
		var v map[string]any
		if !removed {
			v = p.render(id, round)
		}
		if v == nil {
			v = map[string]any{"@odata.type": p.itemType, "id": id, "@removed": map[string]any{"reason": "deleted"}}
		}
		value = append(value, v)
	}
	page := map[string]any{"@odata.context": p.context, "value": value}
	next := &deltaToken{folder: p.folder, pageSize: round.pageSize, immutable: round.immutable, sel: round.sel}
	key := randomID()
	p.tokens[key] = next
	if n < len(round.rest) {
		next.rest, next.full, next.end, next.since = round.rest[n:], round.full, round.end, round.since
		if p.duplicate && n > 0 {
			next.dup = round.rest[n-1]
		}
		page["@odata.nextLink"] = p.link("$skiptoken", key)
	} else {
		next.since = round.end
		page["@odata.deltaLink"] = p.link("$deltatoken", key)
	}
	writeGraphJSON(w, page)
}
