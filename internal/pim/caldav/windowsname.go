package caldav

import (
	"slices"
	"strings"
)

// legacyWindowsZones are the Windows names windowsZones keeps only to read
// old exports: never written.
var legacyWindowsZones = []string{"Mexico Standard Time", "Mexico Standard Time 2", "Armenian Standard Time",
	"Kamchatka Standard Time", "Mid-Atlantic Standard Time"}

// windowsByIANA is windowsZones reversed: the current Windows name of each
// IANA zone, and of its older IANA name (zoneAliases).
var windowsByIANA = func() map[string]string {
	m := make(map[string]string, len(windowsZones))
	names := make([]string, 0, len(windowsZones))
	for w := range windowsZones {
		names = append(names, w)
	}
	slices.Sort(names) // the same choice on every run
	for _, w := range names {
		z := windowsZones[w]
		if slices.Contains(legacyWindowsZones, w) {
			continue
		}
		if _, dup := m[z]; !dup {
			m[z] = w
		}
		if old, ok := zoneAliases[z]; ok {
			if _, dup := m[old]; !dup {
				m[old] = w
			}
		}
	}
	return m
}()

// WindowsZone returns the Windows time zone name of an IANA zone, as
// Outlook and Microsoft Graph write zones ("Europe/Paris" → "Romance
// Standard Time"), from the same CLDR "001" table IANAZone reads: zones
// that are the territory-independent choice of a Windows zone. Other IANA
// zones ("Europe/Zurich") have none: false.
func WindowsZone(iana string) (string, bool) {
	if strings.EqualFold(iana, "UTC") || iana == "Etc/UTC" {
		return "UTC", true
	}
	w, ok := windowsByIANA[iana]
	return w, ok
}

// CanonicalRRule returns an RRULE value in the canonical form Decode
// writes in Fields (see canonicalRRule), for connectors that build RRULEs
// from another provider's recurrence.
func CanonicalRRule(s string) string { return canonicalRRule(s) }
