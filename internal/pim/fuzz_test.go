package pim

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// fuzzGen turns fuzz bytes into choices; past the end every choice is 0.
type fuzzGen struct {
	data []byte
	i    int
}

func (g *fuzzGen) next() int {
	if g.i >= len(g.data) {
		return 0
	}
	g.i++
	return int(g.data[g.i-1])
}

func (g *fuzzGen) pick(xs []string) string { return xs[g.next()%len(xs)] }

func (g *fuzzGen) elems(xs []string) []string {
	out := make([]string, g.next()%5)
	for i := range out {
		out[i] = g.pick(xs)
	}
	return out
}

// Small alphabets, with spellings that normalize to the same value, so that
// sides often agree, partly agree, or collide.
var (
	fuzzScalars    = []string{"", "a", "b", " b ", "c", "A"}
	fuzzEmails     = []string{"a@x", "A@X", "b@x", "c@x", "d@x", " mailto:b@x"}
	fuzzPhones     = []string{"+1 555 0100", "+15550100", "0612", "06 12", "+44 (0)20 1", "1-800-FLOWERS"}
	fuzzCategories = []string{"VIP", "vip", "Golf", "Board", " Golf "}
	fuzzFields     = []string{FieldTitle, FieldNotes, FieldEmails, FieldPhones, FieldCategories, "x_any"}
)

func (g *fuzzGen) value(field string) Value {
	switch field {
	case FieldTitle, FieldNotes:
		return Str(g.pick(fuzzScalars))
	case FieldEmails:
		return ListOf(g.elems(fuzzEmails)...)
	case FieldPhones:
		return ListOf(g.elems(fuzzPhones)...)
	case FieldCategories:
		return SetOf(g.elems(fuzzCategories)...)
	}
	// A field the engine does not know: any kind, so kinds may differ
	// between the sides.
	switch g.next() % 3 {
	case 0:
		return Str(g.pick(fuzzScalars))
	case 1:
		return ListOf(g.elems(fuzzScalars)...)
	}
	return SetOf(g.elems(fuzzScalars)...)
}

// records returns base, crm and remote: each side's field is, by choice,
// the base's value (unchanged) or a new one.
func (g *fuzzGen) records() (base, crm, remote Fields) {
	base, crm, remote = Fields{}, Fields{}, Fields{}
	for _, f := range fuzzFields {
		base[f] = g.value(f)
		for _, side := range []Fields{crm, remote} {
			if g.next()%2 == 0 {
				side[f] = base[f]
			} else {
				side[f] = g.value(f)
			}
		}
	}
	return base, crm, remote
}

// FuzzMerge checks Merge's invariants on generated records:
//   - both sides end equal, to each other and to the new base, and applying
//     ToCRM and ToRemote to the sides gives exactly that;
//   - merging the result again changes nothing (no echo);
//   - a field changed on one side only takes that change, one changed on
//     neither keeps the base, whatever the policy;
//   - no element a side added to a list or set is dropped, and no element is
//     dropped unless a side removed it;
//   - under newest_wins every overwritten, non-empty value is Replaced;
//     under the other policies the policy's side wins and nothing is.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{3, 1, 1, 1, 2, 1, 3, 2, 4, 1, 1, 4, 3, 2, 1, 1, 0, 1, 3, 3, 3, 1, 2, 2, 1, 2, 0, 1, 4, 0, 2, 1})
	f.Add([]byte("a fuzzing seed with some length to it, for every field and both sides"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &fuzzGen{data: data}
		base, crm, remote := g.records()
		crmAt := t0.Add(time.Duration(g.next()%3) * time.Hour)
		remoteAt := t0.Add(time.Duration(g.next()%3) * time.Hour)
		policy := Policy("")
		if i := g.next() % 4; i < len(Policies) {
			policy = Policies[i]
		}
		res := Merge(base, crm, remote, crmAt, remoteAt, policy)

		// Both sides end equal, and the base is what was written.
		if !reflect.DeepEqual(res.CRM, res.Remote) || !reflect.DeepEqual(res.CRM, res.Base) {
			t.Fatalf("sides differ:\nCRM    %v\nRemote %v\nBase   %v", res.CRM, res.Remote, res.Base)
		}
		if got := Apply(crm.Normalize(), res.ToCRM); !reflect.DeepEqual(got, res.CRM) {
			t.Fatalf("CRM + ToCRM = %v, want %v", got, res.CRM)
		}
		if got := Apply(remote.Normalize(), res.ToRemote); !reflect.DeepEqual(got, res.Remote) {
			t.Fatalf("remote + ToRemote = %v, want %v", got, res.Remote)
		}
		if !Apply(crm, res.ToCRM).Equal(Apply(remote, res.ToRemote)) {
			t.Fatal("raw sides + writes differ")
		}
		// No echo: the result is a fixed point.
		again := Merge(res.Base, res.CRM, res.Remote, remoteAt, crmAt, policy)
		if len(again.ToCRM) != 0 || len(again.ToRemote) != 0 || len(again.Conflicts) != 0 || !reflect.DeepEqual(again.Base, res.Base) {
			t.Fatalf("merging the result again: %+v", again)
		}

		effective := policy
		if !effective.Valid() {
			effective = NewestWins
		}
		if effective != NewestWins && len(res.Replaced) != 0 {
			t.Fatalf("%s: Replaced %+v", policy, res.Replaced)
		}
		replaced := map[string]Replaced{}
		for _, r := range res.Replaced {
			if _, dup := replaced[r.Field]; dup || r.OldValue == "" {
				t.Fatalf("Replaced %+v", res.Replaced)
			}
			replaced[r.Field] = r
		}
		conflicts := map[string]bool{}
		for _, c := range res.Conflicts {
			conflicts[c.Field] = true
		}

		for _, name := range fuzzFields {
			b, c, r := Normalize(name, base[name]), Normalize(name, crm[name]), Normalize(name, remote[name])
			got := res.Base[name]
			cChanged, rChanged := !c.Equal(b), !r.Equal(b)
			switch {
			case !cChanged && !rChanged:
				if !got.Equal(b) {
					t.Fatalf("%s: unchanged, got %v, want base %v", name, got, b)
				}
			case !rChanged:
				if !got.Equal(c) {
					t.Fatalf("%s: only the CRM changed, got %v, want %v", name, got, c)
				}
			case !cChanged:
				if !got.Equal(r) {
					t.Fatalf("%s: only the remote changed, got %v, want %v", name, got, r)
				}
			case c.Equal(r):
				if !got.Equal(c) {
					t.Fatalf("%s: both changed alike, got %v, want %v", name, got, c)
				}
			}
			bothDiffer := cChanged && rChanged && !c.Equal(r)
			if conflicts[name] && !bothDiffer {
				t.Fatalf("%s: conflict reported but not both changed differently", name)
			}
			if _, ok := replaced[name]; ok && !conflicts[name] {
				t.Fatalf("%s: Replaced without a conflict", name)
			}

			if name == "x_any" {
				continue // a scalar or a list, depending: the invariants above only
			}
			if KindOf(name) != Scalar {
				checkElements(t, name, b, c, r, got)
				if conflicts[name] {
					t.Fatalf("%s: an element merge reported a conflict", name)
				}
				continue
			}
			if !bothDiffer {
				continue
			}
			if !conflicts[name] {
				t.Fatalf("%s: changed differently on both sides, no conflict", name)
			}
			winner, loser, by := c, r, SideCRM
			if got.Equal(r) && !got.Equal(c) {
				winner, loser, by = r, c, SideRemote
			}
			if !got.Equal(winner) {
				t.Fatalf("%s: got %v, neither side's value (%v, %v)", name, got, c, r)
			}
			switch effective {
			case CRMWins:
				if by != SideCRM {
					t.Fatalf("%s: crm_wins, but the remote's value won", name)
				}
			case ProviderWins:
				if by != SideRemote {
					t.Fatalf("%s: provider_wins, but the CRM's value won", name)
				}
			case NewestWins:
				want := SideCRM
				if remoteAt.After(crmAt) {
					want = SideRemote
				}
				if by != want {
					t.Fatalf("%s: newest_wins: %s won, want %s", name, by, want)
				}
				// Nothing lost: the overwritten value is kept.
				rep, ok := replaced[name]
				if loser.IsZero() != !ok || ok && (rep.OldValue != loser.String() || rep.By != by) {
					t.Fatalf("%s: overwritten %q, Replaced %+v", name, loser.String(), rep)
				}
			}
		}
	})
}

// checkElements checks a list or set merged element by element.
func checkElements(t *testing.T, name string, b, c, r, got Value) {
	t.Helper()
	in := func(v Value, e string) bool { return slices.Contains(v.List, e) }
	for _, e := range got.List {
		if !in(c, e) && !in(r, e) {
			t.Fatalf("%s: %q is on neither side", name, e)
		}
	}
	for _, side := range []Value{c, r} {
		for _, e := range side.List {
			if in(got, e) {
				continue
			}
			if !in(b, e) {
				t.Fatalf("%s: %q added on a side and lost (base %v, crm %v, remote %v, got %v)", name, e, b, c, r, got)
			}
			if in(c, e) && in(r, e) {
				t.Fatalf("%s: %q dropped though no side removed it", name, e)
			}
		}
	}
	if KindOf(name) == Set && !slices.IsSorted(got.List) {
		t.Fatalf("%s: set not sorted: %q", name, got.List)
	}
}

// FuzzNormalize checks that normalizing is idempotent for every field kind.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", " a ", "+44 (0)20 7946 0000 ext. 12", "MAILTO:A@X", "tel:tel:1", "a\r\nb", "\u00a0x\u2028"} {
		f.Add(s, s)
	}
	f.Add("0", "\xbfX")                        // invalid UTF-8 that lower-casing lengthens
	f.Add("(A000000000000\xdb00e0000", "0 00") // "00" split by a space
	f.Fuzz(func(t *testing.T, a, b string) {
		if p := NormalizePhone(a); NormalizePhone(p) != p {
			t.Fatalf("NormalizePhone(%q) = %q, then %q", a, p, NormalizePhone(p))
		}
		if e := NormalizeEmail(a); NormalizeEmail(e) != e {
			t.Fatalf("NormalizeEmail(%q) = %q, then %q", a, e, NormalizeEmail(e))
		}
		for _, field := range append([]string{FieldFirstName, FieldAttendees, "x_any"}, fuzzFields...) {
			for _, v := range []Value{Str(a), ListOf(a, b), SetOf(b, a), {Str: a, List: []string{b}}} {
				n := Normalize(field, v)
				if again := Normalize(field, n); !reflect.DeepEqual(again, n) {
					t.Fatalf("Normalize(%q, %+v) = %+v, then %+v", field, v, n, again)
				}
			}
		}
	})
}

// FuzzParseStamp checks that any UID is parsed without panicking, that
// every id round-trips through a stamp, and that a parsed stamp is one
// StampUID makes.
func FuzzParseStamp(f *testing.F) {
	for _, s := range []string{"", "contact-42", "crmsync-contact-42@crmsync.invalid", "crmsync-%41@crmsync.invalid", "urn:uuid:x", "a/b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := ParseStamp(s); ok {
			if back, ok := ParseStamp(StampUID(id)); !ok || back != id {
				t.Fatalf("ParseStamp(%q) = %q, whose stamp parses as %q, %v", s, id, back, ok)
			}
		}
		if s == "" {
			return
		}
		if id, ok := ParseStamp(StampUID(s)); !ok || id != s {
			t.Fatalf("StampUID(%q) = %q parses as %q, %v", s, StampUID(s), id, ok)
		}
	})
}
