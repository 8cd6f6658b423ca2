package caldav

import (
	"strings"
	"sync"
	"time"
)

// IANAZone maps a TZID as found in the wild to an IANA zone name:
//
//   - an IANA name ("Europe/Paris", "UTC") is returned as is;
//   - a Windows zone name, as Outlook and Exchange write them ("W. Europe
//     Standard Time", "Pacific Standard Time"), through CLDR's
//     windowsZones.xml "001" mapping (windowsZones), case-insensitively;
//   - a path ending in an IANA name, as Mozilla Lightning, Evolution,
//     libical and Citadel prefix theirs ("/mozilla.org/20050126_1/Europe/Paris",
//     "/citadel.org/20190914_1/Europe/Paris"), by its longest suffix that is one.
//
// It returns "", false for anything else. A time whose TZID is unknown is
// then read with the offsets of the calendar's VTIMEZONE of that TZID (see
// Decode), as there is no zone whose rules could be applied to it.
//
// An IANA name is one the system's zone data (or Go's embedded copy, when
// the binary imports time/tzdata) can load; "Local" and "localtime" are
// not, as they mean the server's own zone.
func IANAZone(tzid string) (string, bool) {
	tzid = strings.Trim(strings.TrimSpace(tzid), `"`)
	if tzid == "" {
		return "", false
	}
	if _, ok := loadZone(tzid); ok {
		return tzid, true
	}
	if z, ok := windowsZones[tzid]; ok {
		return zoneOrAlias(z)
	}
	if z, ok := windowsZonesFold[strings.ToLower(tzid)]; ok {
		return zoneOrAlias(z)
	}
	if strings.Contains(tzid, "/") {
		parts := strings.Split(tzid, "/")
		for i := 1; i < len(parts); i++ {
			if z := strings.Join(parts[i:], "/"); z != "" {
				if _, ok := loadZone(z); ok {
					return z, true
				}
			}
		}
	}
	return "", false
}

// zoneOrAlias returns z when the system knows it, else its older name.
func zoneOrAlias(z string) (string, bool) {
	if _, ok := loadZone(z); ok {
		return z, true
	}
	if old, ok := zoneAliases[z]; ok {
		if _, ok := loadZone(old); ok {
			return old, true
		}
	}
	return "", false
}

var windowsZonesFold = func() map[string]string {
	m := make(map[string]string, len(windowsZones))
	for k, v := range windowsZones {
		m[strings.ToLower(k)] = v
	}
	return m
}()

// zoneCache remembers loaded zones (and names that are not zones):
// time.LoadLocation reads the zone file on every call, and a calendar names
// the same few zones over and over. It is bounded, since TZIDs come from
// remote data.
var zoneCache = struct {
	sync.Mutex
	m map[string]*time.Location
}{m: make(map[string]*time.Location)}

const maxZoneCache = 4096

// loadZone loads an IANA zone by name. Names are restricted to what IANA
// names are made of, so that a TZID can never name some other file.
func loadZone(name string) (*time.Location, bool) {
	if !ianaShaped(name) || name == "Local" || name == "localtime" {
		return nil, false
	}
	zoneCache.Lock()
	loc, seen := zoneCache.m[name]
	zoneCache.Unlock()
	if seen {
		return loc, loc != nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	zoneCache.Lock()
	if len(zoneCache.m) < maxZoneCache {
		zoneCache.m[name] = loc
	}
	zoneCache.Unlock()
	return loc, loc != nil
}

// ianaShaped reports whether name looks like an IANA zone name: parts of
// letters, digits, "_", "+" and "-" separated by "/", the first starting
// with a letter.
func ianaShaped(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	start := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9', c == '_', c == '+', c == '-':
			if i == 0 {
				return false
			}
		case c == '/':
			if start {
				return false
			}
			start = true
			continue
		default:
			return false
		}
		start = false
	}
	return !start
}
