package caldav

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

func TestIANAZone(t *testing.T) {
	for tzid, want := range map[string]string{
		"Europe/Paris":                                    "Europe/Paris",
		"America/Argentina/Buenos_Aires":                  "America/Argentina/Buenos_Aires",
		"UTC":                                             "UTC",
		"Etc/GMT+5":                                       "Etc/GMT+5",
		` "Europe/Paris" `:                                "Europe/Paris",
		"W. Europe Standard Time":                         "Europe/Berlin",
		"w. europe standard time":                         "Europe/Berlin",
		"Romance Standard Time":                           "Europe/Paris",
		"Eastern Standard Time":                           "America/New_York",
		"Pacific Standard Time":                           "America/Los_Angeles",
		"GMT Standard Time":                               "Europe/London",
		"Tokyo Standard Time":                             "Asia/Tokyo",
		"India Standard Time":                             "Asia/Kolkata",
		"AUS Eastern Standard Time":                       "Australia/Sydney",
		"E. South America Standard Time":                  "America/Sao_Paulo",
		"UTC-11":                                          "Etc/GMT+11",
		"Mexico Standard Time":                            "America/Mexico_City",
		"/mozilla.org/20050126_1/Europe/Paris":            "Europe/Paris",
		"/mozilla.org/20070129_1/America/New_York":        "America/New_York",
		"/citadel.org/20190914_1/Europe/Berlin":           "Europe/Berlin",
		"/softwarestudio.org/Olson_20011030_5/Asia/Tokyo": "Asia/Tokyo",
		"/freeassociation.sourceforge.net/Tzfile/America/Indiana/Indianapolis": "America/Indiana/Indianapolis",
	} {
		got, ok := IANAZone(tzid)
		if !ok || got != want {
			t.Errorf("IANAZone(%q) = %q, %v; want %q", tzid, got, ok, want)
		}
	}
	for _, tzid := range []string{
		"", "Local", "localtime", "Customized Time Zone", "Paris", "/mozilla.org/20050126_1/Nowhere/Else",
		"../../etc/passwd", "/etc/localtime", "Europe//Paris", "Europe/Paris/", "zone.tab",
		"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
	} {
		if got, ok := IANAZone(tzid); ok {
			t.Errorf("IANAZone(%q) = %q, want none", tzid, got)
		}
	}
}

// Every Windows zone of the table is a zone the system knows.
func TestWindowsZonesLoad(t *testing.T) {
	if len(windowsZones) < 139 {
		t.Errorf("%d Windows zones, want CLDR's 139 and more", len(windowsZones))
	}
	for win, iana := range windowsZones {
		if win == "UTC" {
			iana = "UTC" // an IANA name too
		}
		if got, ok := IANAZone(win); !ok || (got != iana && got != zoneAliases[iana]) {
			t.Errorf("%q → %q, %v; want %q", win, got, ok, iana)
		}
	}
}

func TestNewVTimezone(t *testing.T) {
	tz, ok := newVTimezone("Europe/Paris", 2026)
	if !ok {
		t.Fatal("no VTIMEZONE")
	}
	var got []string
	for _, o := range tz.Children {
		got = append(got, o.Name+" "+propValue(o, "DTSTART")+" "+propValue(o, "RRULE")+" "+
			propValue(o, "TZOFFSETFROM")+">"+propValue(o, "TZOFFSETTO")+" "+propValue(o, "TZNAME"))
	}
	want := []string{
		"DAYLIGHT 19700329T020000 FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU +0100>+0200 CEST",
		"STANDARD 19701025T030000 FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU +0200>+0100 CET",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Europe/Paris:\n%s", strings.Join(got, "\n"))
	}
	tz, _ = newVTimezone("Asia/Tokyo", 2026)
	if len(tz.Children) != 1 || tz.Children[0].Name != "STANDARD" || propValue(tz.Children[0], "TZOFFSETTO") != "+0900" {
		t.Errorf("Asia/Tokyo: %+v", tz.Children)
	}
	if _, ok := newVTimezone("Mars/Olympus", 2026); ok {
		t.Error("a VTIMEZONE for an unknown zone")
	}
}

// The generated observances give the transitions Go's zone data has, for
// zones with the usual rules (n-th or last Sunday), the less usual ones
// (Israel: the Friday before the last Sunday; Chile: the first Sunday on
// or after the 2nd), half-hour changes (Lord Howe), negative DST (Dublin),
// and none at all.
func TestNewVTimezoneMatchesZoneData(t *testing.T) {
	const year = 2026
	for _, name := range []string{
		"Europe/Paris", "Europe/London", "Europe/Dublin", "America/New_York", "America/Los_Angeles",
		"America/Santiago", "America/St_Johns", "America/Havana", "Australia/Sydney", "Australia/Lord_Howe",
		"Pacific/Auckland", "Pacific/Chatham", "Asia/Jerusalem", "Africa/Cairo", "Africa/Casablanca",
		"Asia/Tehran", "Asia/Tokyo", "Asia/Kolkata", "Etc/GMT-14",
	} {
		years := 4
		if name == "Africa/Casablanca" {
			years = 1 // Ramadan: no yearly rule holds
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		tz, ok := newVTimezone(name, year)
		if !ok {
			t.Fatalf("%s: no VTIMEZONE", name)
		}
		checked := 0
		for _, o := range tz.Children {
			from, _ := parseOffset(propValue(o, "TZOFFSETFROM"))
			to, _ := parseOffset(propValue(o, "TZOFFSETTO"))
			start, err := time.Parse(icalLocal, propValue(o, "DTSTART"))
			if err != nil {
				t.Fatalf("%s: DTSTART %v", name, err)
			}
			var onsets []time.Time
			if r := propValue(o, "RRULE"); r != "" {
				opt, err := rrule.StrToROption(r)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				opt.Dtstart = start
				opt.Until = time.Date(year+years, 1, 1, 0, 0, 0, 0, time.UTC)
				rule, err := rrule.NewRRule(*opt)
				if err != nil {
					t.Fatal(err)
				}
				onsets = rule.Between(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC), opt.Until, true)
			}
			if from == to { // no transition: the offset of the whole year
				for m := time.January; m <= time.December; m++ {
					if _, off := time.Date(year, m, 1, 0, 0, 0, 0, loc).Zone(); time.Duration(off)*time.Second != to {
						t.Errorf("%s: offset %d in month %d, VTIMEZONE says %v", name, off, m, to)
					}
				}
				continue
			}
			for _, w := range onsets {
				at := w.Add(-from)
				_, before := at.Add(-time.Second).In(loc).Zone()
				_, after := at.In(loc).Zone()
				if time.Duration(before)*time.Second != from || time.Duration(after)*time.Second != to {
					t.Errorf("%s %s: onset %s (%s UTC): Go has %d→%d, VTIMEZONE %v→%v", name, o.Name, w.Format(icalLocal), at.Format(icalLocal), before, after, from, to)
				}
				checked++
			}
		}
		t.Logf("%s: %d observances, %d onsets checked", name, len(tz.Children), checked)
	}
}

// A generated VTIMEZONE read back for an unknown TZID gives the zone's
// standard offset.
func TestStandardOffset(t *testing.T) {
	tz, _ := newVTimezone("America/New_York", 2026)
	tz.Props.Get(ical.PropTimezoneID).Value = "My Zone"
	z := &zones{vtz: map[string]*ical.Component{"My Zone": tz}}
	w, ok := z.value("20260115T100000", "", "My Zone")
	if !ok || w != "2026-01-15T15:00:00Z" {
		t.Errorf("got %q, %v", w, ok)
	}
	for s, want := range map[string]time.Duration{"+0100": time.Hour, "-0530": -5*time.Hour - 30*time.Minute, "+013045": time.Hour + 30*time.Minute + 45*time.Second} {
		if got, ok := parseOffset(s); !ok || got != want {
			t.Errorf("parseOffset(%q) = %v, %v", s, got, ok)
		}
		if got := formatOffset(int(want / time.Second)); got != s {
			t.Errorf("formatOffset(%v) = %q, want %q", want, got, s)
		}
	}
	for _, s := range []string{"", "0100", "+01", "+0160", "+01:00", "++100"} {
		if _, ok := parseOffset(s); ok {
			t.Errorf("parseOffset(%q) ok", s)
		}
	}
}
