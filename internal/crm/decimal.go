package crm

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
)

// Decimal is an exact amount of money, kept as its decimal text so that no
// float rounding ever changes what a user typed. It reads and writes as a
// JSON number (12500.5) and also accepts a JSON string ("12500.50").
type Decimal string

var decimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$`)

// ErrDecimal explains the accepted form of an amount.
var ErrDecimal = errors.New("must be a number with at most 15 digits before the decimal point and 4 after, like 12500.50")

// ParseDecimal validates s and returns it in canonical form (no trailing
// zeros after the point, no lone point).
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	if !decimalRE.MatchString(s) {
		return "", ErrDecimal
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return Decimal(s), nil
}

// MarshalJSON writes the amount as a JSON number.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	return []byte(d), nil
}

// UnmarshalJSON accepts a JSON number or a string holding one.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
