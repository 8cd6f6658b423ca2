package carddav

import (
	"slices"
	"strings"
	"testing"
)

func TestFoldLine(t *testing.T) {
	t.Parallel()
	x75, x74 := strings.Repeat("x", 75), strings.Repeat("x", 74)
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"short", "FN:a", []string{"FN:a"}},
		{"exactly_75", x75, []string{x75}},
		{"76", x75 + "y", []string{x75, " y"}},
		{"continuations_hold_74", x75 + x74 + "z", []string{x75, " " + x74, " z"}},
		// "é" is two octets: it does not fit in the 75th octet.
		{"utf8_not_cut", x74 + "é", []string{x74, " é"}},
		{"invalid_utf8_counts_one", x74 + "\xff\xfe", []string{x74 + "\xff", " \xfe"}},
	} {
		got := foldLine(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if unfold(got) != tc.in {
			t.Errorf("%s: unfolds to %q", tc.name, unfold(got))
		}
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, escaped string }{
		{"plain", "plain"},
		{"a,b;c", `a\,b\;c`},
		{`C:\Users`, `C:\\Users`},
		{"one\ntwo\r\nthree\rfour", `one\ntwo\nthree\nfour`},
		{`\n`, `\\n`},
		{`trailing\`, `trailing\\`},
	} {
		if got := escapeText(tc.in); got != tc.escaped {
			t.Errorf("escapeText(%q) = %q, want %q", tc.in, got, tc.escaped)
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tc.in)
		if got := unescapeText(tc.escaped); got != want {
			t.Errorf("unescapeText(%q) = %q, want %q", tc.escaped, got, want)
		}
	}
	// Split before unescaping: escaped separators stay inside.
	if got := splitEscaped(`a\;b;c\\;d\`, ';'); !slices.Equal(got, []string{`a\;b`, `c\\`, `d\`}) {
		t.Errorf("splitEscaped = %q", got)
	}
	if got := splitEscaped(`x\,y,z`, ','); !slices.Equal(got, []string{`x\,y`, "z"}) {
		t.Errorf("splitEscaped = %q", got)
	}
}

func TestCharsets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, charset, want string }{
		{"caf\xc3\xa9", "", "café"},
		{"caf\xc3\xa9", "UTF-8", "café"},
		{"caf\xe9", "ISO-8859-1", "café"},
		{"\x80 \x93q\x94 \x81", "windows-1252", "€ “q” \u0081"},
		{"caf\xe9", "", "café"},          // invalid UTF-8, no charset
		{"caf\xe9", "x-unknown", "café"}, // unknown charset, invalid UTF-8
		{"caf\xc3\xa9", "Shift_JIS", "café"},
	} {
		if got := toUTF8(tc.in, tc.charset); got != tc.want {
			t.Errorf("toUTF8(%q, %q) = %q, want %q", tc.in, tc.charset, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"a=3Db":    "a=b",
		"=C3=A9t=": "ét",
		"=":        "",
		"100=%":    "100=%",
		"=g0=0":    "=g0=0",
		"=0d=0A":   "\r\n",
	} {
		if got := decodeQP(in); got != want {
			t.Errorf("decodeQP(%q) = %q, want %q", in, got, want)
		}
	}
}
