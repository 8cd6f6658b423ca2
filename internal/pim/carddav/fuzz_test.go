package carddav

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
)

// FuzzDecode: Decode never panics, and whatever it reads can be written
// back — patched into the card it came from or as a new card — and reads
// the same. A second patch of the patched card changes nothing, so the
// engine's writes do not change the etag pass after pass.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEMAIL;PREF=2:a@x\r\nEMAIL;TYPE=pref:b@x\r\nTEL;VALUE=uri:tel:+1\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\nVERSION:2.1\nNOTE;QUOTED-PRINTABLE:a=\nEND:VCARD\n",
		"BEGIN:VCARD\r\nN:;;;;\r\nFN:x@y\r\nEMAIL:x@y\r\nORG:;D\r\nADR:;;;;;;\r\nADR;TYPE=pref:a;b;c\r\nEND:VCARD",
		"BEGIN:VCARD\r\nCATEGORIES:a\\,b,\\\\,\r\nNOTE:\\n\r\nTITLE:\\\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\r\nAGENT:\r\nBEGIN:VCARD\r\nFN:in\r\nEND:VCARD\r\nFN:out\r\nEND:VCARD\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(data, c.UID, c.Fields)
		if err != nil {
			t.Fatalf("Encode(prev) of a card Decode read: %v", err)
		}
		got, err := Decode(out)
		if err != nil {
			t.Fatalf("patched card does not decode: %v\n%q", err, out)
		}
		if !got.Fields.Equal(c.Fields) {
			t.Fatalf("patched card reads differently:%s\n%q", diffFields(got.Fields, c.Fields), out)
		}
		again, err := Encode(out, c.UID, c.Fields)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second patch changed the card (%v):\n%q\n%q", err, out, again)
		}
		fresh, err := Encode(nil, "u", c.Fields)
		if err != nil {
			t.Fatalf("Encode(nil): %v", err)
		}
		got, err = Decode(fresh)
		if err != nil {
			t.Fatalf("new card does not decode: %v\n%q", err, fresh)
		}
		if !got.Fields.Equal(c.Fields) {
			t.Fatalf("new card reads differently:%s\n%q", diffFields(got.Fields, c.Fields), fresh)
		}
	})
}

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

// Values that are hard to write: separators, escapes, white space, the
// spellings Normalize folds together, FN look-alikes.
var fuzzValues = map[string][]string{
	pim.FieldFirstName:  {"", "Jo", "Mary Ann", "a;b", `x\`, "é,è", "0\t00", "Acme", "a@x"},
	pim.FieldLastName:   {"", "Smith", "O'Neil", `\n`, "van der Berg", "+1 555"},
	pim.FieldCompany:    {"", "Acme", "Acme;Dept", "a,b", "Jo Smith", `\`},
	pim.FieldTitle:      {"", "CEO", "Head, R&D; EU", "line\nbreak", "=", "="},
	pim.FieldEmails:     {"a@x", "B@X", "c@x", "mailto:d@x", "e;f@x", "g,h@x", "i\\j@x", "Jo"},
	pim.FieldPhones:     {"+1 555", "0612", "tel:+44 20", "1-800-FLOWERS", "5 x12", "+1555"},
	pim.FieldAddress:    {"", "1 Main;City;;;", `a\;b;c;d;e;f`, ";;;;Country", `x\\;;;;`, "a,b;c"},
	pim.FieldNotes:      {"", "a\nb", `x,y;z\`, "=0D=0A", "\\n"},
	pim.FieldCategories: {"VIP", "a,b", `c\`, "d;e", "Base Person", "vip"},
}

// FuzzPatch: changing any fields of any card Decode reads gives a card
// that reads as the new fields, with every property not mapped written
// back as it was.
func FuzzPatch(f *testing.F) {
	for i, name := range fixtures {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	}
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL;PREF=1:a@x\r\nEMAIL:b@x\r\nADR:;;1;2;;;\r\nADR;PREF=1:;;3;4;;;\r\nEND:VCARD\r\n"), []byte{3, 3, 3, 3, 3, 3, 3, 3, 3, 3})
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:2.1\r\nEMAIL;PREF;ENCODING=QUOTED-PRINTABLE:a=40x=\r\nEND:VCARD\r\n"), []byte{0, 0, 0, 0, 3, 2, 1})
	mapped := []string{"N", "FN", "ORG", "TITLE", "EMAIL", "TEL", "ADR", "NOTE", "CATEGORIES", "VERSION", "UID"}
	f.Fuzz(func(t *testing.T, data, choices []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		g := &fuzzGen{data: choices}
		want := c.Fields.Clone()
		for _, name := range mappedFields {
			alphabet := fuzzValues[name]
			switch op := g.next() % 4; {
			case op == 0: // unchanged
			case op == 1:
				delete(want, name)
			case pim.KindOf(name) == pim.Scalar:
				want[name] = pim.Str(g.pick(alphabet))
			default:
				// Keep, drop and reorder the card's elements, add some.
				var l []string
				for _, e := range want[name].List {
					if g.next()%3 != 0 {
						l = append(l, e)
					}
				}
				for range g.next() % 3 {
					l = slices.Insert(l, g.next()%(len(l)+1), g.pick(alphabet))
				}
				if len(l) > 1 && g.next()%2 == 0 {
					l[0], l[len(l)-1] = l[len(l)-1], l[0]
				}
				want[name] = pim.Value{Kind: pim.KindOf(name), List: l}
			}
		}
		out, err := Encode(data, c.UID, want)
		if err != nil {
			t.Fatalf("Encode: %v\nwant %v", err, want)
		}
		got, err := Decode(out)
		if err != nil {
			t.Fatalf("patched card does not decode: %v\n%q", err, out)
		}
		if d := diffFields(got.Fields, wantFields(want)); d != "" {
			t.Fatalf("patched card reads differently:%s\n%q", d, out)
		}
		before, _ := lex(data)
		after, _ := lex(out)
		// Apple's labels of a group whose EMAIL or ADR went may go too.
		orphans := map[string]bool{}
		for g := range labelled(before) {
			if !labelled(after)[g] {
				orphans[g] = true
			}
		}
		if a, b := unmapped(before, mapped, orphans), unmapped(after, mapped, nil); !slices.Equal(a, b) {
			t.Fatalf("properties not mapped changed:\n%q\n%q", a, b)
		}
	})
}

// unmapped returns the lines of d's properties not named in mapped (nested
// cards' included), as they are written, but the X-AB properties of the
// groups in orphans.
func unmapped(d *document, mapped []string, orphans map[string]bool) []string {
	var out []string
	for _, p := range d.props {
		if p.depth == 1 && strings.HasPrefix(p.key, "X-AB") && orphans[strings.ToUpper(p.group)] {
			continue
		}
		if p.depth > 1 || !slices.Contains(mapped, p.key) {
			out = append(out, strings.Join(p.lines(), "\n"))
		}
	}
	return out
}

// labelled returns the groups of d that have a property other than X-AB
// ones.
func labelled(d *document) map[string]bool {
	out := map[string]bool{}
	for _, p := range d.props {
		if p.depth == 1 && p.group != "" && !strings.HasPrefix(p.key, "X-AB") {
			out[strings.ToUpper(p.group)] = true
		}
	}
	return out
}
