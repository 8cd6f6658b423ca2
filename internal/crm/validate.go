package crm

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules of a record, one set for every path a record comes in by: the
// API refuses what breaks them (a FieldError naming the field), and an
// import cuts or drops the value and says so (see Sanitize*), so that what
// is stored is the same whoever wrote it.

// Limits on what a record may hold. They keep one request or one imported
// card from storing megabytes in a name.
const (
	MaxName             = 200 // names of people, companies, opportunities; a category
	MaxSummary          = 1000
	MaxPhone            = 64
	MaxListItems        = 100 // emails, phones, domains, categories, attendees, contact ids
	MaxCustomFields     = 100
	MaxCustomFieldKey   = 100
	MaxCustomFieldValue = 10000
	MaxAddressPart      = 1000
	MaxLongText         = 100000 // notes, descriptions
	MaxLocation         = 1000
	MaxDates            = 1000 // exdates, rdates, overrides
	MaxRRule            = 1000
	// MaxRRuleCount bounds COUNT in a recurrence rule: a calendar server
	// expands a rule when it answers a time-range query, and a COUNT of
	// 100,000,000 kept Radicale busy for minutes.
	MaxRRuleCount = 10000
)

// Codes of a FieldError: the API's error codes for them.
const (
	CodeRequired = "required"
	CodeInvalid  = "invalid_value"
)

// FieldError is a value that breaks a rule. Field names it as the API
// does ("emails[1]", "custom_fields.x"); Message says what to send instead.
type FieldError struct {
	Field   string
	Code    string // CodeRequired or CodeInvalid
	Message string
}

func (e *FieldError) Error() string { return e.Message }

func invalidf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// Text trims s and checks its length; with mustHave it may not be empty.
func Text(field, s string, mustHave bool, maxLen int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" && mustHave {
		return "", &FieldError{Field: field, Code: CodeRequired, Message: fmt.Sprintf("%s is required and cannot be blank.", field)}
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", invalidf(field, "%s must be at most %d characters (it has %d).", field, maxLen, n)
	}
	return s, nil
}

// NormList normalises each item of a list with norm, names the index of a
// bad one ("emails[1]"), and drops duplicates, keeping the first.
func NormList(field string, items []string, norm func(string) (string, error)) ([]string, error) {
	if len(items) > MaxListItems {
		return nil, invalidf(field, "%s may hold at most %d items.", field, MaxListItems)
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		v, err := norm(it)
		if err != nil {
			f := fmt.Sprintf("%s[%d]", field, i)
			return nil, invalidf(f, "%s (%q) %s.", f, it, strings.TrimSuffix(err.Error(), "."))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// NormalizePhone trims a phone number and checks its length.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxPhone {
		return "", fmt.Errorf("must be at most %d characters", MaxPhone)
	}
	return s, nil
}

// NormalizeCategory trims a category and refuses empty ones, long ones
// and commas (address books separate categories with commas).
func NormalizeCategory(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case utf8.RuneCountInString(s) > MaxName:
		return "", fmt.Errorf("must be at most %d characters", MaxName)
	case strings.ContainsAny(s, ",\r\n"):
		return "", errors.New("must not contain a comma or a line break: address books and calendars separate categories with commas")
	}
	return s, nil
}

// RFC 5545 §3.3.10: the parts of a recurrence rule and its frequencies.
var (
	rruleParts = []string{"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
		"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST"}
	// RRuleFreqs are the frequencies crmsync accepts. SECONDLY and
	// MINUTELY are refused: no calendar application offers them, and a
	// server expands each occurrence (FREQ=SECONDLY;COUNT=100000000 kept
	// Radicale at full CPU for minutes). HOURLY stays: shift and
	// medication schedules use it, and at most 8,760 occurrences a year it
	// is as cheap to expand as a daily rule over 24 years.
	RRuleFreqs     = []string{"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
	rruleAllFreqs  = []string{"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
	rruleUntilForm = []string{"20060102", "20060102T150405", "20060102T150405Z"}
)

// CheckRRule checks a recurrence rule (field "rrule") and returns it
// upper-cased (its names and values are case-insensitive); "" is none.
func CheckRRule(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if len(s) > MaxRRule {
		return "", invalidf("rrule", "rrule must be at most %d characters.", MaxRRule)
	}
	if !strings.HasPrefix(s, "FREQ=") {
		return "", invalidf("rrule", `rrule must start with FREQ=, like "FREQ=WEEKLY;BYDAY=MO": an RFC 5545 recurrence rule without "RRULE:".`)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		name, value, ok := strings.Cut(part, "=")
		switch {
		case !ok || name == "" || value == "":
			return "", invalidf("rrule", "rrule: %q is not a NAME=value part; parts are separated by semicolons.", part)
		case !slices.Contains(rruleParts, name):
			return "", invalidf("rrule", "rrule: %s is not a part of a recurrence rule; the parts are %s.", name, strings.Join(rruleParts, ", "))
		case seen[name]:
			return "", invalidf("rrule", "rrule gives %s twice.", name)
		}
		seen[name] = true
		switch name {
		case "FREQ":
			if slices.Contains(rruleAllFreqs, value) && !slices.Contains(RRuleFreqs, value) {
				return "", invalidf("rrule", "rrule: FREQ=%s repeats too often for a calendar; use one of %s.", value, strings.Join(RRuleFreqs, ", "))
			}
			if !slices.Contains(RRuleFreqs, value) {
				return "", invalidf("rrule", "rrule: FREQ must be one of %s (got %s).", strings.Join(RRuleFreqs, ", "), value)
			}
		case "COUNT", "INTERVAL":
			if n, err := strconv.Atoi(value); err != nil || n < 1 {
				return "", invalidf("rrule", "rrule: %s must be a whole number from 1 (got %s).", name, value)
			}
			if n, _ := strconv.Atoi(value); name == "COUNT" && n > MaxRRuleCount {
				return "", invalidf("rrule", "rrule: COUNT must be at most %d (got %s); for a longer series give UNTIL or no end.", MaxRRuleCount, value)
			}
		case "UNTIL":
			if !validUntil(value) {
				return "", invalidf("rrule", "rrule: UNTIL must be a date like 20261231 or a time like 20261231T235959Z (got %s).", value)
			}
		}
	}
	if seen["UNTIL"] && seen["COUNT"] {
		return "", invalidf("rrule", "rrule may have UNTIL or COUNT, not both.")
	}
	return s, nil
}

func validUntil(v string) bool {
	for _, layout := range rruleUntilForm {
		if len(v) == len(layout) {
			if t, err := time.Parse(layout, v); err == nil && InYearRange(t) {
				return true
			}
		}
	}
	return false
}

// Years a calendar time may have: those of iCalendar's and vCard's four
// digits, without year 0 (which no calendar has, and which servers
// silently turn into 2000).
const (
	MinYear = 1
	MaxYear = 9999
)

// InYearRange reports whether t's year is from MinYear to MaxYear.
func InYearRange(t time.Time) bool { return t.Year() >= MinYear && t.Year() <= MaxYear }
