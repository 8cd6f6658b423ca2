package pim

import "testing"

func TestStamp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ id, uid string }{
		{"contact-42", "crmsync-contact-42@crmsync.invalid"},
		{"event-7", "crmsync-event-7@crmsync.invalid"},
		{"a/b c@d%", "crmsync-a%2Fb%20c%40d%25@crmsync.invalid"},
		{"é", "crmsync-%C3%A9@crmsync.invalid"},
		{"x.y_z~", "crmsync-x.y_z~@crmsync.invalid"},
	} {
		if got := StampUID(tc.id); got != tc.uid {
			t.Errorf("StampUID(%q) = %q, want %q", tc.id, got, tc.uid)
		}
		if got, ok := ParseStamp(tc.uid); !ok || got != tc.id {
			t.Errorf("ParseStamp(%q) = %q, %v", tc.uid, got, ok)
		}
	}
}

func TestParseStampTolerant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uid string
		id  string
		ok  bool
	}{
		{" crmsync-contact-42@crmsync.invalid\r\n", "contact-42", true},
		{"CRMSYNC-contact-42@CRMSYNC.INVALID", "contact-42", true},
		{"crmsync-a%2fb@crmsync.invalid", "a/b", true},
		// Other clients' UIDs.
		{"", "", false},
		{"urn:uuid:6f0a4a8e-8a8d-4c1a-9b1e-2f9c0e6b1d2a", "", false},
		{"040000008200E00074C5B7101A82E008000000", "", false},
		{"abc123@google.com", "", false},
		{"crmsync-42", "", false},
		{"crmsync-@crmsync.invalid", "", false},     // no id
		{"crmsync-a b@crmsync.invalid", "", false},  // not escaped
		{"crmsync-a%2@crmsync.invalid", "", false},  // cut escape
		{"crmsync-a%zz@crmsync.invalid", "", false}, // bad escape
		{"crmsync-a@b@crmsync.invalid", "", false},  // "@" in the id
		{"xcrmsync-a@crmsync.invalid", "", false},
		{"crmsync-a@crmsync.invalid.example", "", false},
	} {
		id, ok := ParseStamp(tc.uid)
		if id != tc.id || ok != tc.ok {
			t.Errorf("ParseStamp(%q) = %q, %v; want %q, %v", tc.uid, id, ok, tc.id, tc.ok)
		}
	}
}
