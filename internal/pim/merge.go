package pim

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Policy decides a field changed differently on both sides since the last
// sync. It is set per PIM account and applies to updates only: a new record
// is copied to the other side whatever the policy (see doc.go).
type Policy string

const (
	// NewestWins (the default) takes the side whose record changed last and
	// reports the value it replaced (MergeResult.Replaced), which the engine
	// keeps in a custom field of the CRM record: nothing a user typed is
	// lost.
	NewestWins Policy = "newest_wins"
	// CRMWins takes the CRM's value; the provider's is overwritten.
	CRMWins Policy = "crm_wins"
	// ProviderWins takes the provider's value; the CRM's is overwritten.
	ProviderWins Policy = "provider_wins"
)

// Policies lists the policies, the default first.
var Policies = []Policy{NewestWins, CRMWins, ProviderWins}

// Valid reports whether p is one of Policies.
func (p Policy) Valid() bool { return slices.Contains(Policies, p) }

// ErrUnknownPolicy is returned by ParsePolicy for a name it does not know.
var ErrUnknownPolicy = errors.New("pim: unknown conflict policy: use newest_wins, crm_wins or provider_wins")

// ParsePolicy returns the policy named s; "" is the default, NewestWins.
func ParsePolicy(s string) (Policy, error) {
	if s == "" {
		return NewestWins, nil
	}
	if p := Policy(s); p.Valid() {
		return p, nil
	}
	return "", ErrUnknownPolicy
}

// Side is one end of a synchronisation: the CRM, or the remote collection
// (CardDAV, CalDAV, Graph, Google).
type Side string

const (
	SideCRM    Side = "crm"
	SideRemote Side = "remote"
)

// Valid reports whether s is SideCRM or SideRemote.
func (s Side) Valid() bool { return s == SideCRM || s == SideRemote }

// Other returns the other side.
func (s Side) Other() Side {
	if s == SideCRM {
		return SideRemote
	}
	return SideCRM
}

// Replaced is a value that a NewestWins conflict overwrote. The engine keeps
// OldValue in a custom field of the CRM record (see CustomFieldName and
// ReplacedCustomFields), whichever side it came from: the CRM is where users
// look for it.
type Replaced struct {
	Field    string `json:"field"`
	OldValue string `json:"old_value"` // Value.String() of the overwritten value, never ""
	By       Side   `json:"by"`        // the side whose change won
}

// Conflict is a field changed differently on both sides, under any policy:
// what the account's history shows ("title changed on both sides; the CRM's
// value was kept").
type Conflict struct {
	Field  string `json:"field"`
	CRM    Value  `json:"crm"`
	Remote Value  `json:"remote"`
	Winner Side   `json:"winner"`
}

// MergeResult is the outcome of a three-way merge.
type MergeResult struct {
	// CRM and Remote are the new records of each side, every field, and Base
	// the new base snapshot. Today the three are equal (separate copies):
	// after a merge both sides hold the same values, and the base is what
	// was written, which is why the engine's own writes never come back as
	// changes. They are kept apart so that a side that cannot hold a value
	// (a provider with a limit on emails) can one day differ without
	// changing callers.
	CRM, Remote, Base Fields
	// ToCRM and ToRemote are the changes to write to each side: Diff of that
	// side's current record and its new one. Both empty: nothing to write.
	ToCRM, ToRemote []FieldChange
	// Replaced lists the values NewestWins overwrote; empty under the other
	// policies, which overwrite by the account's choice.
	Replaced []Replaced
	// Conflicts lists every field changed differently on both sides.
	Conflicts []Conflict
}

// Merge merges, field by field, the changes made on the CRM and on the
// remote since base, the snapshot of the last sync. All three are
// normalized first. For each field:
//
//   - changed on neither side: base;
//   - changed on one side only: that side's value, under every policy;
//   - changed on both to the same value: that value, no conflict;
//   - changed on both differently: a Conflict, decided by policy. Under
//     NewestWins the side whose record changed later (crmChangedAt,
//     remoteChangedAt; the CRM on a tie, a zero time being the oldest)
//     wins and the loser's value, unless empty, is Replaced.
//
// Lists and sets (emails, phones, categories) are merged element by
// element, not as one value: an element stays if it is in base and still on
// both sides, or if it is new on either side. So an email added on one side
// and another removed on the other both apply. An element both sides
// replaced, each with a different one (a removal of the same element and
// an addition on each), is a Conflict: the winner's addition is kept and,
// under NewestWins, the loser's is Replaced. For a List, the
// order (the first element is the primary) follows the side that
// reordered — changed the order of the elements it kept, or put a new one
// before them — or the policy's winner when both did; elements from the
// other side come after, the CRM's first. A field whose value is a Scalar
// on one side and a List on another (only possible for a field the engine
// does not know) is merged as one value.
//
// An invalid policy is taken as NewestWins: it is the one that loses
// nothing. Times only matter under NewestWins; they are record-level
// (providers do not date fields).
func Merge(base, crm, remote Fields, crmChangedAt, remoteChangedAt time.Time, policy Policy) MergeResult {
	if !policy.Valid() {
		policy = NewestWins
	}
	winner := SideCRM
	switch {
	case policy == ProviderWins, policy == NewestWins && remoteChangedAt.After(crmChangedAt):
		winner = SideRemote
	}
	b, c, r := base.Normalize(), crm.Normalize(), remote.Normalize()
	merged := Fields{}
	var res MergeResult
	for _, name := range fieldNames(b, c, r) {
		bv, cv, rv := b[name], c[name], r[name]
		var v Value
		if kind, ok := elementKind(bv, cv, rv); ok {
			var lost []string
			v, lost = mergeElements(kind, bv, cv, rv, winner)
			if lost != nil {
				res.Conflicts = append(res.Conflicts, Conflict{Field: name, CRM: cv.clone(), Remote: rv.clone(), Winner: winner})
				if policy == NewestWins {
					res.Replaced = append(res.Replaced, Replaced{Field: name, OldValue: strings.Join(lost, ", "), By: winner})
				}
			}
		} else {
			var conflict bool
			v, conflict = mergeScalar(bv, cv, rv, winner)
			if conflict {
				res.Conflicts = append(res.Conflicts, Conflict{Field: name, CRM: cv.clone(), Remote: rv.clone(), Winner: winner})
				loser := rv
				if winner == SideRemote {
					loser = cv
				}
				if policy == NewestWins && !loser.IsZero() {
					res.Replaced = append(res.Replaced, Replaced{Field: name, OldValue: loser.String(), By: winner})
				}
			}
		}
		if !v.IsZero() {
			merged[name] = v
		}
	}
	res.CRM, res.Remote, res.Base = merged.Clone(), merged.Clone(), merged.Clone()
	res.ToCRM = diffNormalized(c, merged)
	res.ToRemote = diffNormalized(r, merged)
	return res
}

// mergeScalar merges one value; conflict reports a field changed
// differently on both sides, then decided for winner.
func mergeScalar(b, c, r Value, winner Side) (v Value, conflict bool) {
	cChanged, rChanged := !c.Equal(b), !r.Equal(b)
	switch {
	case !cChanged && !rChanged:
		return b, false
	case !rChanged:
		return c, false
	case !cChanged:
		return r, false
	case c.Equal(r):
		return c, false
	case winner == SideRemote:
		return r, true
	default:
		return c, true
	}
}

// elementKind reports whether the non-empty values among vs are all Lists
// or all Sets, and which.
func elementKind(vs ...Value) (Kind, bool) {
	var kind Kind
	for _, v := range vs {
		if v.IsZero() {
			continue
		}
		if !v.Kind.multi() || kind != 0 && v.Kind != kind {
			return 0, false
		}
		kind = v.Kind
	}
	return kind, kind != 0
}

// mergeElements merges a List or Set element by element (see Merge).
//
// One case is a conflict: both sides replaced the same element with
// different ones (an email a changed to b in the CRM and to c in the
// address book). Keeping both new elements would lose nothing, but it
// would not be what either user did, and the policy would not apply; so
// the winner's replacement is kept and the loser's additions are dropped
// and returned in lost (NewestWins keeps them in a custom field).
func mergeElements(kind Kind, b, c, r Value, winner Side) (merged Value, lost []string) {
	inB, inC, inR := setOf(b.List), setOf(c.List), setOf(r.List)
	var bothRemoved bool
	for _, e := range b.List {
		bothRemoved = bothRemoved || !inC[e] && !inR[e]
	}
	var addC, addR []string
	for _, e := range c.List {
		if !inB[e] && !inR[e] {
			addC = append(addC, e)
		}
	}
	for _, e := range r.List {
		if !inB[e] && !inC[e] {
			addR = append(addR, e)
		}
	}
	drop := map[string]bool{}
	if bothRemoved && len(addC) > 0 && len(addR) > 0 {
		lost = addR
		if winner == SideRemote {
			lost = addC
		}
		for _, e := range lost {
			drop[e] = true
		}
	}
	keep := func(e string) bool {
		if drop[e] {
			return false
		}
		if inB[e] {
			return inC[e] && inR[e]
		}
		return inC[e] || inR[e]
	}
	order := [][]string{c.List, r.List}
	if kind == List {
		var src []string
		cRe, rRe := reordered(b.List, c.List), reordered(b.List, r.List)
		switch {
		case cRe && rRe && winner == SideRemote, !cRe && rRe:
			src = r.List
		case cRe:
			src = c.List
		default:
			src = b.List
		}
		order = [][]string{src, c.List, r.List}
	}
	var out []string
	placed := map[string]bool{}
	for _, l := range order {
		for _, e := range l {
			if !placed[e] && keep(e) {
				placed[e] = true
				out = append(out, e)
			}
		}
	}
	if len(out) == 0 {
		return Value{}, lost
	}
	if kind == Set {
		slices.Sort(out)
	}
	return Value{Kind: kind, List: out}, lost
}

// reordered reports whether side changed the order of base: whether it is
// anything but the elements of base it kept, in base's order, followed by
// the ones it added. Removing elements and appending new ones is not a
// reordering; moving an element, or putting a new one first (a new primary
// email), is.
func reordered(base, side []string) bool {
	inBase, inSide := setOf(base), setOf(side)
	want := make([]string, 0, len(side))
	for _, e := range base {
		if inSide[e] {
			want = append(want, e)
		}
	}
	for _, e := range side {
		if !inBase[e] {
			want = append(want, e)
		}
	}
	return !slices.Equal(want, side)
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, e := range l {
		m[e] = true
	}
	return m
}
