package carddav

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/crmsync/crmsync/internal/pim"
)

// fixtures are the vCards under testdata, as the clients named write them.
var fixtures = []string{
	"apple.vcf",         // Apple Contacts (macOS) 3.0: item groups, X-ABLabel, type=pref, PHOTO;ENCODING=b
	"apple_company.vcf", // Apple company card: N:;;;;, X-ABShowAs:COMPANY
	"google.vcf",        // Google Contacts export 3.0: no UID, LF line ends, "\:" in URL
	"outlook21.vcf",     // Outlook 2.1: bare params, Windows-1252, QUOTED-PRINTABLE soft breaks
	"outlook30.vcf",     // Outlook 3.0: TYPE=INTERNET,PREF, CHARSET=utf-8, QP NOTE, X-MS-*
	"nextcloud.vcf",     // Nextcloud (Sabre) 4.0: PREF=1/2, tel: URIs, LABEL, data: PHOTO
	"radicale.vcf",      // ez-vcard on Radicale 4.0: ADR PREF=1, two NOTEs, two CATEGORIES
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecode(t testing.TB, b []byte) Card {
	t.Helper()
	c, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, b)
	}
	return c
}

func mustEncode(t testing.TB, prev []byte, uid string, f pim.Fields) []byte {
	t.Helper()
	out, err := Encode(prev, uid, f)
	if err != nil {
		t.Fatalf("Encode: %v\nprev:\n%s", err, prev)
	}
	return out
}

// diffFields describes how got differs from want (both normalized first),
// "" when they are equal.
func diffFields(got, want pim.Fields) string {
	g, w := got.Normalize(), want.Normalize()
	var names []string
	for n := range g {
		names = append(names, n)
	}
	for n := range w {
		if _, ok := g[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if !g[n].Equal(w[n]) {
			fmt.Fprintf(&b, "\n  %s: got %q, want %q", n, show(g[n]), show(w[n]))
		}
	}
	return b.String()
}

func show(v pim.Value) any {
	if v.Kind == pim.List || v.Kind == pim.Set {
		return v.List
	}
	return v.Str
}

// props parses b with go-vcard, an independent reader, and returns its
// properties as comparable strings: group, name, parameters (sorted) and
// value. Comparing these, not bytes, is what "kept" means for a property.
func props(t testing.TB, b []byte) []string {
	t.Helper()
	c, err := vcard.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatalf("go-vcard cannot read:\n%s\n%v", b, err)
	}
	var out []string
	for key, fields := range c {
		for _, f := range fields {
			var ps []string
			for k, vs := range f.Params {
				for _, v := range vs {
					ps = append(ps, k+"="+v)
				}
			}
			sort.Strings(ps)
			out = append(out, fmt.Sprintf("%s.%s;%s:%s", strings.ToUpper(f.Group), key, strings.Join(ps, ";"), f.Value))
		}
	}
	sort.Strings(out)
	return out
}

// without returns ps without the properties named in keys.
func without(ps []string, keys ...string) []string {
	return slices.DeleteFunc(slices.Clone(ps), func(p string) bool {
		name := p[strings.IndexByte(p, '.')+1:]
		name = name[:strings.IndexAny(name, ";:")]
		return slices.Contains(keys, name)
	})
}

// only returns the properties of ps named key.
func only(ps []string, key string) []string {
	var out []string
	for _, p := range ps {
		name := p[strings.IndexByte(p, '.')+1:]
		if name[:strings.IndexAny(name, ";:")] == key {
			out = append(out, p)
		}
	}
	return out
}

// lines returns the lines of a CRLF-terminated card, checking the line
// ends on the way.
func lines(t testing.TB, b []byte) []string {
	t.Helper()
	s := string(b)
	if !strings.HasSuffix(s, "\r\n") {
		t.Errorf("output does not end with CRLF: %q", s)
	}
	ls := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	for _, l := range ls {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("bare CR or LF in line %q", l)
		}
	}
	return ls
}

// unfolded returns the logical lines of a CRLF-terminated card.
func unfolded(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	for _, l := range lines(t, b) {
		if strings.HasPrefix(l, " ") && len(out) > 0 {
			out[len(out)-1] += l[1:]
			continue
		}
		out = append(out, l)
	}
	return out
}

// grep returns the logical lines of b that start with prefix.
func grep(t testing.TB, b []byte, prefix string) []string {
	t.Helper()
	var out []string
	for _, l := range unfolded(t, b) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// propLines returns the logical lines of b's properties named key.
func propLines(t testing.TB, b []byte, key string) []string {
	t.Helper()
	var out []string
	for _, l := range unfolded(t, b) {
		if parseProp(l).key == key {
			out = append(out, l)
		}
	}
	return out
}

// card builds a CRLF vCard from its lines.
func card(ls ...string) []byte { return []byte(strings.Join(ls, "\r\n") + "\r\n") }

// crlf makes every line break of b CRLF.
func crlf(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
