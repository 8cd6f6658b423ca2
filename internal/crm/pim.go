package crm

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// PostalAddress is a contact's address. Its parts are those every address
// book has (vCard ADR without the post office box and extended address,
// which the street line holds; Outlook and Google's physical address).
type PostalAddress struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// IsZero reports whether a holds nothing.
func (a PostalAddress) IsZero() bool { return a == PostalAddress{} }

// String writes a as "street;city;region;postal code;country" with ";" and
// "\" in a part escaped by "\": the form the sync engine compares, so two
// address books that store the same parts agree whatever their layout.
// The zero address is "".
func (a PostalAddress) String() string {
	if a.IsZero() {
		return ""
	}
	esc := addressEscaper
	return strings.Join([]string{esc.Replace(a.Street), esc.Replace(a.City), esc.Replace(a.Region),
		esc.Replace(a.PostalCode), esc.Replace(a.Country)}, ";")
}

// addressEscaper escapes a part of an address for String.
var addressEscaper = strings.NewReplacer(`\`, `\\`, `;`, `\;`)

// ParsePostalAddress reads what String writes. Missing trailing parts are
// empty; extra ones are joined to the country.
func ParsePostalAddress(s string) PostalAddress {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ';':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	if len(parts) > 5 {
		parts[4] = strings.Join(parts[4:], ", ")
	}
	return PostalAddress{Street: parts[0], City: parts[1], Region: parts[2], PostalCode: parts[3], Country: parts[4]}
}

// When is a calendar time in its canonical text form, the one the API
// takes and the sync engine compares:
//
//	"2026-11-21"                        a date (all-day events, due dates)
//	"2026-11-21T09:00:00Z"              an instant in UTC
//	"2026-11-21T10:00:00[Europe/Paris]" a wall-clock time in an IANA zone
//	"2026-11-21T10:00:00"               a floating time (the same wall
//	                                    clock in every zone, RFC 5545)
//
// The zone suffix is that of RFC 9557. A zoned time keeps its zone rather
// than being converted to UTC because a weekly meeting at 10:00 in Paris
// stays at 10:00 across daylight-saving changes.
type When string

// ErrBadWhen is returned for a time that is not in one of When's forms.
var ErrBadWhen = errors.New(`use "2026-11-21", "2026-11-21T09:00:00Z", "2026-11-21T10:00:00[Europe/Paris]" or "2026-11-21T10:00:00"`)

const (
	whenDate  = "2006-01-02"
	whenLocal = "2006-01-02T15:04:05"
)

// ParseWhen checks s and returns it as a When (seconds are required; a
// fractional part is refused, as iCalendar has none).
func ParseWhen(s string) (When, error) {
	w := When(s)
	if _, err := w.parse(); err != nil {
		return "", err
	}
	return w, nil
}

// IsDate reports whether w is a date without a time.
func (w When) IsDate() bool { return len(w) == len(whenDate) }

// Zone returns the IANA zone of a zoned time, "UTC" for an instant in UTC,
// and "" for a date or a floating time.
func (w When) Zone() string {
	s := string(w)
	switch {
	case strings.HasSuffix(s, "Z"):
		return "UTC"
	case strings.HasSuffix(s, "]"):
		if i := strings.IndexByte(s, '['); i > 0 {
			return s[i+1 : len(s)-1]
		}
	}
	return ""
}

// Local returns the wall-clock part: "2026-11-21T10:00:00" (or the date).
func (w When) Local() string {
	s := string(w)
	if i := strings.IndexAny(s, "Z["); i > 0 {
		return s[:i]
	}
	return s
}

// Time returns the instant w stands for. A date is its midnight and a
// floating time its wall clock, both in floating (the zone the caller
// passes; UTC when nil).
func (w When) Time(floating *time.Location) (time.Time, error) {
	t, err := w.parse()
	if err != nil {
		return time.Time{}, err
	}
	if w.Zone() == "" && floating != nil {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, floating)
	}
	return t, nil
}

func (w When) parse() (time.Time, error) {
	t, err := w.parseAny()
	if err == nil && !InYearRange(t) {
		return time.Time{}, ErrWhenYear
	}
	return t, err
}

// ErrWhenYear is returned for a time outside years MinYear to MaxYear.
var ErrWhenYear = fmt.Errorf("the year must be from %04d to %d", MinYear, MaxYear)

func (w When) parseAny() (time.Time, error) {
	s := string(w)
	if w.IsDate() {
		t, err := time.Parse(whenDate, s)
		if err != nil {
			return time.Time{}, ErrBadWhen
		}
		return t, nil
	}
	loc := time.UTC
	local := w.Local()
	switch zone := w.Zone(); {
	case zone == "UTC":
		if len(s) != len(whenLocal)+1 {
			return time.Time{}, ErrBadWhen
		}
	case zone != "":
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return time.Time{}, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris", zone)
		}
		loc = l
	case len(s) != len(whenLocal):
		return time.Time{}, ErrBadWhen
	}
	t, err := time.ParseInLocation(whenLocal, local, loc)
	if err != nil {
		return time.Time{}, ErrBadWhen
	}
	return t, nil
}

// WhenOf returns the When for t: a UTC instant when t is in UTC, a zoned
// time when t's location is an IANA zone, a floating time when floating
// is true.
func WhenOf(t time.Time, floating bool) When {
	local := t.Format(whenLocal)
	switch {
	case floating:
		return When(local)
	case t.Location() == time.UTC || t.Location().String() == "UTC":
		return When(local + "Z")
	}
	return When(local + "[" + t.Location().String() + "]")
}

// DateOf returns the When of t's calendar date.
func DateOf(t time.Time) When { return When(t.Format(whenDate)) }

// TaskStatus is where a task stands (iCalendar VTODO STATUS, Graph's
// todoTask status).
type TaskStatus string

const (
	TaskNeedsAction TaskStatus = "needs_action"
	TaskInProcess   TaskStatus = "in_process"
	TaskCompleted   TaskStatus = "completed"
	TaskCancelled   TaskStatus = "cancelled"
)

// Valid reports whether s is a known task status.
func (s TaskStatus) Valid() bool {
	return s == TaskNeedsAction || s == TaskInProcess || s == TaskCompleted || s == TaskCancelled
}

// Task is a to-do of a user, synchronised with a task list (VTODO).
type Task struct {
	ID          int64      `json:"id"`
	OrgID       int64      `json:"org_id"`
	OwnerID     int64      `json:"owner_id"`
	Summary     string     `json:"summary"`
	Description string     `json:"description"`
	Due         When       `json:"due,omitempty"`
	Status      TaskStatus `json:"status"`
	// Priority is iCalendar's: 0 undefined, 1 highest … 9 lowest.
	Priority     int               `json:"priority"`
	CompletedAt  When              `json:"completed_at,omitempty"`
	Categories   []string          `json:"categories"`
	ContactID    *int64            `json:"contact_id"`
	CustomFields map[string]string `json:"custom_fields"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// Event is a calendar event of a user, synchronised with a calendar
// (VEVENT). A recurring event is one record: its rule, the dates it
// skips, the dates it adds, and its overridden occurrences.
type Event struct {
	ID          int64  `json:"id"`
	OrgID       int64  `json:"org_id"`
	OwnerID     int64  `json:"owner_id"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Location    string `json:"location"`
	// Start and End are dates for an all-day event (End exclusive, as in
	// iCalendar), times otherwise.
	Start  When `json:"start"`
	End    When `json:"end"`
	AllDay bool `json:"all_day"`
	// RRule is an RFC 5545 recurrence rule without the "RRULE:" prefix
	// ("FREQ=WEEKLY;BYDAY=MO"), "" for a single event.
	RRule   string `json:"rrule,omitempty"`
	ExDates []When `json:"exdates,omitempty"`
	RDates  []When `json:"rdates,omitempty"`
	// Overrides are occurrences changed or cancelled on their own.
	Overrides    []EventOverride   `json:"overrides,omitempty"`
	Attendees    []string          `json:"attendees"`
	Categories   []string          `json:"categories"`
	ContactID    *int64            `json:"contact_id"`
	CustomFields map[string]string `json:"custom_fields"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// EventOverride is one occurrence of a recurring event changed on its own
// (iCalendar: a VEVENT with RECURRENCE-ID). Empty fields keep the
// series' values.
type EventOverride struct {
	RecurrenceID When   `json:"recurrence_id"`
	Cancelled    bool   `json:"cancelled,omitempty"`
	Summary      string `json:"summary,omitempty"`
	Description  string `json:"description,omitempty"`
	Location     string `json:"location,omitempty"`
	Start        When   `json:"start,omitempty"`
	End          When   `json:"end,omitempty"`
}

// PIMKind is the protocol of a PIM account: a DAV server reached with a
// password, or a provider signed in with (its API).
type PIMKind string

const (
	PIMCardDAV   PIMKind = "carddav"   // contacts
	PIMCalDAV    PIMKind = "caldav"    // events and tasks
	PIMMicrosoft PIMKind = "microsoft" // Microsoft Graph, signed in with Microsoft
	PIMGoogle    PIMKind = "google"    // Google's APIs, signed in with Google
)

// Valid reports whether k is a known PIM kind.
func (k PIMKind) Valid() bool { return k == PIMCardDAV || k == PIMCalDAV || k.SignedIn() }

// SignedIn reports whether accounts of kind k are created by signing in
// with a provider (an OAuth token set), not with a URL and password.
func (k PIMKind) SignedIn() bool { return k == PIMMicrosoft || k == PIMGoogle }

// PIMService is what a PIM account syncs.
type PIMService string

const (
	ServiceContacts PIMService = "contacts" // an address book, a contact folder
	ServiceCalendar PIMService = "calendar" // a calendar's events (and, over CalDAV, its tasks)
	ServiceTasks    PIMService = "tasks"    // a task list (Microsoft To Do, Google Tasks)
)

// Valid reports whether s is a known service.
func (s PIMService) Valid() bool {
	return s == ServiceContacts || s == ServiceCalendar || s == ServiceTasks
}

// DefaultService is the service of a DAV kind: what a CardDAV or CalDAV
// account syncs. Signed-in kinds have none by default: each account is
// one service.
func (k PIMKind) DefaultService() PIMService {
	switch k {
	case PIMCardDAV:
		return ServiceContacts
	case PIMCalDAV:
		return ServiceCalendar
	}
	return ""
}

// PIMOptions are what a user chooses for a PIM account.
type PIMOptions struct {
	// ConflictPolicy: newest_wins (default), crm_wins, provider_wins.
	ConflictPolicy string `json:"conflict_policy"`
	// ImportCategories are the remote categories whose items come into
	// the CRM; empty means all.
	ImportCategories []string `json:"import_categories"`
	// Collection is the href of the address book or calendar synced;
	// empty picks the first one discovered.
	Collection string `json:"collection"`
	// TaskCollection is the task list of a CalDAV account (when the server
	// keeps tasks apart from events); empty picks one discovered.
	TaskCollection string `json:"task_collection,omitempty"`
	// EventCategories are the categories of the events synced; empty
	// means all.
	EventCategories []string `json:"event_categories"`
}

// PIMAccount is a user's address book or calendar server.
type PIMAccount struct {
	ID            int64        `json:"id"`
	OrgID         int64        `json:"-"`
	UserID        int64        `json:"user_id"`
	Kind          PIMKind      `json:"kind"`
	Service       PIMService   `json:"service"`
	URL           string       `json:"url"`
	Username      string       `json:"username"`
	CredentialID  string       `json:"-"`
	Options       PIMOptions   `json:"options"`
	State         AccountState `json:"state"`
	ErrorCode     string       `json:"-"`
	ErrorMessage  string       `json:"-"`
	ProgressDone  int64        `json:"-"`
	ProgressTotal int64        `json:"-"`
	Failures      int          `json:"-"`
	LastSyncAt    *time.Time   `json:"last_sync_at"`
	NextAttemptAt *time.Time   `json:"next_attempt_at"`
	// SyncRequested is set by "sync now" and cleared by the loop.
	SyncRequested bool      `json:"-"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}
