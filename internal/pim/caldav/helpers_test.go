package caldav

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/emersion/go-ical"
)

// fixture returns testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fixtures returns the names of every .ics file in testdata.
func fixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.ics"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths
}

func mustDecode(t testing.TB, data []byte) Item {
	t.Helper()
	it, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, data)
	}
	return it
}

func mustEncode(t testing.TB, prev []byte, uid string, typ Type, f pim.Fields) []byte {
	t.Helper()
	out, err := Encode(prev, uid, typ, f)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return out
}

// structure flattens a calendar into a sorted multiset of lines, one per
// property: "VCALENDAR/VEVENT<rid>/VALARM|NAME;P=v:value". Components are
// told apart by their RECURRENCE-ID or TZID, so two calendars compare equal
// when they hold the same components with the same properties, whatever
// their order and folding.
func structure(t testing.TB, data []byte) []string {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	var out []string
	var walk func(path string, c *ical.Component)
	walk = func(path string, c *ical.Component) {
		key := c.Name
		for _, n := range []string{ical.PropRecurrenceID, ical.PropTimezoneID} {
			if p := c.Props.Get(n); p != nil {
				key += "<" + p.Value + ">"
			}
		}
		path += "/" + key
		out = append(out, path)
		for name, props := range c.Props {
			for _, p := range props {
				var params []string
				for k, v := range p.Params {
					params = append(params, k+"="+strings.Join(v, ","))
				}
				slices.Sort(params)
				out = append(out, path+"|"+name+";"+strings.Join(params, ";")+":"+p.Value)
			}
		}
		for _, k := range c.Children {
			walk(path, k)
		}
	}
	walk("", cal.Component)
	slices.Sort(out)
	return out
}

// missing returns the lines of want that got does not have (as multisets).
func missing(want, got []string) []string {
	count := make(map[string]int)
	for _, l := range got {
		count[l]++
	}
	var out []string
	for _, l := range want {
		if count[l] > 0 {
			count[l]--
			continue
		}
		out = append(out, l)
	}
	return out
}

// propLines returns the lines of s about property name.
func propLines(s []string, name string) []string {
	var out []string
	for _, l := range s {
		if _, rest, ok := strings.Cut(l, "|"); ok && (strings.HasPrefix(rest, name+";") || strings.HasPrefix(rest, name+":")) {
			out = append(out, l)
		}
	}
	return out
}
