package mimeparse

import (
	"strings"
	"testing"
)

// An address longer than any valid one is not cut (that would make another
// address, without its domain): its name is kept, with a warning.
func TestOverlongAddress(t *testing.T) {
	local := strings.Repeat("a", 1200)
	raw := "From: Long One <" + local + "@example.com>, ok@example.com\r\nSubject: x\r\n\r\nbody\r\n"
	m, _, err := Parse(strings.NewReader(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.From) != 2 || m.From[0].Email != "" || m.From[0].Name != "Long One" || m.From[1].Email != "ok@example.com" {
		t.Fatalf("from = %+v", m.From)
	}
	found := false
	for _, w := range m.Warnings {
		found = found || strings.Contains(w, "longer than any valid one")
	}
	if !found {
		t.Fatalf("no warning: %v", m.Warnings)
	}
}
