package forwarded

import (
	netmail "net/mail"
	"strings"
	"time"
)

// parsedDate is a date read from a forwarded header.
type parsedDate struct {
	t         time.Time
	zone      bool // the text named a time zone; else t is in the fallback location
	clock     bool // the text had a time of day; else midnight
	ambiguous bool // "02/03/2026": day and month could be either way round
}

// isoLayouts are tried before the human forms; zone says the layout has one.
var isoLayouts = []struct {
	layout string
	zone   bool
}{
	{time.RFC3339, true},
	{"2006-01-02 15:04:05Z07:00", true},
	{"2006-01-02 15:04:05 -0700", true},
	{"2006-01-02T15:04:05", false},
	{"2006-01-02T15:04", false},
}

// parseDate reads the Date or Sent line of a forwarded header: RFC 5322
// (Thunderbird copies the Date header), ISO 8601, or the human forms the
// clients write in English, French and German:
//
//	Mon, Mar 2, 2026 at 10:15 AM               Gmail
//	lun. 2 mars 2026 à 10:15                   Gmail FR
//	Mo., 2. März 2026 um 10:15 Uhr             Gmail DE
//	Monday, March 2, 2026 10:15 AM             Outlook (en-US; en-GB "Monday, 2 March 2026 10:15")
//	lundi 2 mars 2026 10:15                    Outlook FR
//	Montag, 2. März 2026 10:15                 Outlook DE
//	March 2, 2026 at 10:15:03 AM GMT+1         Apple Mail (DE "2. März 2026 um 10:15:03 MEZ")
//
// Without a zone the time is read in loc.
func parseDate(v string, loc *time.Location) (parsedDate, bool) {
	s := stripComments(strings.Map(func(r rune) rune {
		switch r {
		case '\u00a0', '\u202f', '\u2009', '\u2007', '\t': // macOS writes "10:15 AM" with U+202F
			return ' '
		}
		return r
	}, v))
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 200 {
		return parsedDate{}, false
	}
	if t, err := netmail.ParseDate(s); err == nil {
		return parsedDate{t: t, zone: true, clock: true}, plausible(t)
	}
	for _, l := range isoLayouts {
		if l.zone {
			if t, err := time.Parse(l.layout, s); err == nil {
				return parsedDate{t: t, zone: true, clock: true}, plausible(t)
			}
		} else if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			return parsedDate{t: t, clock: true}, plausible(t)
		}
	}
	return parseHumanDate(s, loc)
}

func plausible(t time.Time) bool { return t.Year() >= 1970 && t.Year() <= 9999 }

// stripComments removes parenthesized text: "+0100 (CET)".
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var monthNames = map[string]time.Month{
	// English
	"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
	"may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
	"sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
	// French
	"janvier": 1, "janv": 1, "février": 2, "fevrier": 2, "févr": 2, "fevr": 2, "fév": 2, "mars": 3,
	"avril": 4, "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "août": 8, "aout": 8,
	"septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12, "déc": 12,
	// German
	"januar": 1, "jänner": 1, "jän": 1, "februar": 2, "märz": 3, "maerz": 3, "mär": 3, "mrz": 3,
	"juni": 6, "juli": 7, "oktober": 10, "okt": 10, "dezember": 12, "dez": 12,
}

var weekdayNames = map[string]bool{
	"monday": true, "mon": true, "tuesday": true, "tue": true, "tues": true, "wednesday": true,
	"wed": true, "thursday": true, "thu": true, "thur": true, "thurs": true, "friday": true,
	"fri": true, "saturday": true, "sat": true, "sunday": true, "sun": true,
	"lundi": true, "lun": true, "mardi": true, "mar": true, "mercredi": true, "mer": true,
	"jeudi": true, "jeu": true, "vendredi": true, "ven": true, "samedi": true, "sam": true,
	"dimanche": true, "dim": true,
	"montag": true, "mo": true, "dienstag": true, "di": true, "mittwoch": true, "mi": true,
	"donnerstag": true, "do": true, "freitag": true, "fr": true, "samstag": true, "sonnabend": true,
	"sa": true, "sonntag": true, "so": true,
}

// dateFillers are words between the parts of a date: "at", "à", "um … Uhr".
var dateFillers = map[string]bool{"at": true, "à": true, "a": true, "um": true, "uhr": true,
	"le": true, "den": true, "the": true, "on": true, "de": true}

// zoneNames are zone abbreviations in offsets from UTC (seconds); the
// same set as mimeparse's RFC 5322 obsolete and common zones, plus the
// German names Apple Mail writes.
var zoneNames = map[string]int{
	"gmt": 0, "utc": 0, "ut": 0, "z": 0, "wet": 0, "west": 1, "bst": 1, "cet": 1, "cest": 2,
	"met": 1, "mest": 2, "mez": 1, "mesz": 2, "eet": 2, "eest": 3, "msk": 3, "est": -5, "edt": -4,
	"cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7, "akst": -9, "akdt": -8,
	"hst": -10, "jst": 9, "kst": 9, "sgt": 8, "hkt": 8, "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13,
}

type monthTok struct {
	m         time.Month
	orWeekday bool // "mar": March, or French "mardi"
}

// parseHumanDate reads a date word by word. Any word it does not know
// makes it fail: a wrong date is worse than the forward's date.
func parseHumanDate(s string, loc *time.Location) (parsedDate, bool) {
	fields := strings.Fields(strings.ToLower(strings.ReplaceAll(s, ",", " ")))
	if len(fields) > 16 {
		return parsedDate{}, false
	}
	year, day, hour, minute, sec := -1, -1, -1, 0, 0
	var month time.Month
	ampm := 0 // 1 am, 2 pm
	zoneOff, hasZone := 0, false
	var months []monthTok
	slashA, slashB := -1, -1 // "3/2/2026"
	for _, tok := range fields {
		tok = strings.TrimSuffix(tok, ".")
		switch tok {
		case "":
			continue
		case "am", "a.m":
			ampm = 1
			continue
		case "pm", "p.m":
			ampm = 2
			continue
		}
		if dateFillers[tok] {
			continue
		}
		if m, ok := monthNames[tok]; ok {
			months = append(months, monthTok{m, weekdayNames[tok]})
			continue
		}
		if weekdayNames[tok] {
			continue
		}
		if off, ok := zoneOf(tok); ok {
			if hasZone {
				return parsedDate{}, false
			}
			zoneOff, hasZone = off, true
			continue
		}
		if h, mi, se, ap, ok := clockOf(tok); ok {
			if hour >= 0 {
				return parsedDate{}, false
			}
			hour, minute, sec = h, mi, se
			if ap != 0 {
				ampm = ap
			}
			continue
		}
		if a, b, c, sep, ok := numericDate(tok); ok {
			if year >= 0 || day >= 0 || month != 0 {
				return parsedDate{}, false
			}
			switch sep {
			case '-': // 2026-03-02
				year, month, day = a, time.Month(b), c
			case '.': // 02.03.2026
				day, month, year = a, time.Month(b), c
			case '/':
				if a > 31 { // 2026/03/02
					year, month, day = a, time.Month(b), c
				} else {
					slashA, slashB, year = a, b, c
				}
			}
			continue
		}
		n, isNum := digits(tok)
		if !isNum {
			return parsedDate{}, false
		}
		switch {
		case len(tok) == 4 && year < 0:
			year = n
		case len(tok) <= 2 && day < 0 && slashA < 0:
			day = n
		default:
			return parsedDate{}, false
		}
	}
	pd := parsedDate{zone: hasZone}
	switch {
	case len(months) == 1:
		month = months[0].m
	case len(months) == 2 && months[0].orWeekday && !months[1].orWeekday:
		month = months[1].m // "mar. 3 mars 2026": Tuesday, March
	case len(months) > 0:
		return parsedDate{}, false
	}
	if slashA >= 0 {
		if month != 0 || day >= 0 {
			return parsedDate{}, false
		}
		switch {
		case slashA > 12:
			day, month = slashA, time.Month(slashB)
		case slashB > 12:
			month, day = time.Month(slashA), slashB
		default:
			// Both could be the month: month first with AM/PM (the US),
			// day first otherwise (most of the world).
			if ampm != 0 {
				month, day = time.Month(slashA), slashB
			} else {
				day, month = slashA, time.Month(slashB)
			}
			pd.ambiguous = slashA != slashB
		}
	}
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 31 {
		return parsedDate{}, false
	}
	if hour >= 0 {
		pd.clock = true
		switch ampm {
		case 1, 2:
			if hour < 1 || hour > 12 {
				return parsedDate{}, false
			}
			hour %= 12
			if ampm == 2 {
				hour += 12
			}
		}
	} else {
		hour = 0
	}
	if hour > 23 || minute > 59 || sec > 60 {
		return parsedDate{}, false
	}
	if hasZone {
		loc = time.FixedZone("", zoneOff)
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, loc)
	if t.Day() != day { // 31 February
		return parsedDate{}, false
	}
	pd.t = t
	return pd, plausible(t)
}

// zoneOf reads a zone: "+0100", "-05:00", "GMT+1", "UTC+01:00", "CET".
func zoneOf(tok string) (int, bool) {
	if h, ok := zoneNames[tok]; ok {
		return h * 3600, true
	}
	for _, p := range []string{"gmt", "utc", "ut"} {
		if rest, ok := strings.CutPrefix(tok, p); ok {
			if rest == "" {
				return 0, true
			}
			return offsetOf(rest, true)
		}
	}
	if tok[0] == '+' || tok[0] == '-' {
		return offsetOf(tok, false)
	}
	return 0, false
}

// offsetOf reads "+0100", "+01:00", "-0500" and, with short (after
// "GMT"), "+1" and "-5".
func offsetOf(s string, short bool) (int, bool) {
	if len(s) < 2 {
		return 0, false
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, false
	}
	s = s[1:]
	h, m := 0, 0
	ok := false
	if hs, ms, found := strings.Cut(s, ":"); found {
		if len(hs) < 1 || len(hs) > 2 || len(ms) != 2 {
			return 0, false
		}
		var okh, okm bool
		h, okh = digits(hs)
		m, okm = digits(ms)
		ok = okh && okm
	} else {
		switch {
		case len(s) == 4:
			var okh, okm bool
			h, okh = digits(s[:2])
			m, okm = digits(s[2:])
			ok = okh && okm
		case len(s) == 2 || len(s) == 1 && short:
			h, ok = digits(s)
		}
	}
	if !ok || h > 14 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

// digits reads a number of ASCII digits only (strconv.Atoi also takes a
// sign).
func digits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// clockOf reads a time of day: "10:15", "10:15:03", "10:15am", "10h15",
// "10h". ap is 1 for a glued "am", 2 for "pm".
func clockOf(tok string) (h, m, s, ap int, ok bool) {
	for _, suf := range []struct {
		s  string
		ap int
	}{{"a.m", 1}, {"p.m", 2}, {"am", 1}, {"pm", 2}} {
		if rest, found := strings.CutSuffix(tok, suf.s); found && rest != "" && rest[len(rest)-1] >= '0' && rest[len(rest)-1] <= '9' {
			tok, ap = rest, suf.ap
			break
		}
	}
	var parts []string
	switch {
	case strings.Contains(tok, ":"):
		parts = strings.Split(tok, ":")
	case strings.Contains(tok, "h"): // French "10h15"
		hs, ms, _ := strings.Cut(tok, "h")
		parts = []string{hs}
		if ms != "" {
			parts = append(parts, ms)
		}
		if len(parts) == 1 {
			parts = append(parts, "00")
		}
	default:
		return 0, 0, 0, 0, false
	}
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) > 2 {
		return 0, 0, 0, 0, false
	}
	vals := [3]int{}
	for i, p := range parts {
		v, okd := digits(p)
		if !okd || i > 0 && len(p) != 2 {
			return 0, 0, 0, 0, false
		}
		vals[i] = v
	}
	return vals[0], vals[1], vals[2], ap, true
}

// numericDate reads "2026-03-02", "02.03.2026", "3/2/2026", "2026/03/02":
// its three numbers in order, and the separator.
func numericDate(tok string) (a, b, c int, sep byte, ok bool) {
	for _, sp := range []byte{'-', '.', '/'} {
		parts := strings.Split(tok, string(sp))
		if len(parts) != 3 {
			continue
		}
		var n [3]int
		for i, p := range parts {
			v, okd := digits(p)
			if !okd || len(p) > 4 {
				return 0, 0, 0, 0, false
			}
			n[i] = v
		}
		switch {
		case sp == '-' && len(parts[0]) == 4 && len(parts[1]) <= 2 && len(parts[2]) <= 2,
			sp == '.' && len(parts[2]) == 4 && len(parts[0]) <= 2 && len(parts[1]) <= 2,
			sp == '/' && len(parts[2]) == 4 && len(parts[0]) <= 2 && len(parts[1]) <= 2,
			sp == '/' && len(parts[0]) == 4 && len(parts[1]) <= 2 && len(parts[2]) <= 2:
			return n[0], n[1], n[2], sp, true
		}
		return 0, 0, 0, 0, false
	}
	return 0, 0, 0, 0, false
}
