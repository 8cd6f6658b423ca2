package store

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Lists are ordered by id, which never changes and is never reused, so a
// cursor is simply the last id seen: pages stay stable while records are
// added or removed. The cursor is opaque to clients (a versioned, encoded
// string) so that the ordering can change later without breaking them.

// EncodeCursor returns the cursor for the page after the record with id.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(id, 10)))
}

// DecodeCursor returns the id after which the next page starts; 0 for "".
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, ErrBadCursor
	}
	s, ok := strings.CutPrefix(string(b), "v1:")
	if !ok {
		return 0, ErrBadCursor
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrBadCursor
	}
	return id, nil
}

// NormLimit clamps a requested page size.
func NormLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	if n > MaxLimit {
		return MaxLimit
	}
	return n
}

// EncodeTimeCursor returns the cursor after a record in a list ordered by
// (time descending, id descending), such as an email timeline.
func EncodeTimeCursor(t time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t1:" + strconv.FormatInt(t.UnixMicro(), 10) + ":" + strconv.FormatInt(id, 10)))
}

// DecodeTimeCursor reverses EncodeTimeCursor; ok is false for "".
func DecodeTimeCursor(c string) (t time.Time, id int64, ok bool, err error) {
	if c == "" {
		return t, 0, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return t, 0, false, ErrBadCursor
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "t1" {
		return t, 0, false, ErrBadCursor
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return t, 0, false, ErrBadCursor
	}
	return time.UnixMicro(us).UTC(), id, true, nil
}
