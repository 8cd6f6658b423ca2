package carddav

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/crmsync/crmsync/internal/pim"
)

// TestGoVCardReadsOurCards: go-vcard, what most Go CardDAV code uses,
// reads the cards Encode writes, folding included.
func TestGoVCardReadsOurCards(t *testing.T) {
	t.Parallel()
	f := pim.Fields{
		pim.FieldFirstName: pim.Str("Ada"), pim.FieldLastName: pim.Str("Lovelace"),
		pim.FieldEmails: pim.ListOf("ada@engines.example", "ada@home.example"),
		pim.FieldTitle:  pim.Str(strings.Repeat("Very long title ", 8)),
	}
	out := mustEncode(t, nil, "crmsync-contact-1@crmsync.invalid", f)
	c, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want string }{
		{c.Value(vcard.FieldVersion), "3.0"},
		{c.Value(vcard.FieldUID), "crmsync-contact-1@crmsync.invalid"},
		{c.Value(vcard.FieldProductID), ProdID},
		{c.PreferredValue(vcard.FieldFormattedName), "Ada Lovelace"},
		{c.Name().GivenName + "|" + c.Name().FamilyName, "Ada|Lovelace"},
		{c.PreferredValue(vcard.FieldEmail), "ada@engines.example"},
		{c.Value(vcard.FieldTitle), strings.TrimSpace(f[pim.FieldTitle].Str)},
	} {
		if tc.got != tc.want {
			t.Errorf("go-vcard reads %q, want %q", tc.got, tc.want)
		}
	}
}

// TestGoVCardLimits pins what go-vcard (the version in go.mod) gets wrong
// for this codec, the reasons for the content-line layer of lex.go (see
// doc.go). If one of these fails, go-vcard changed: revisit doc.go.
func TestGoVCardLimits(t *testing.T) {
	t.Parallel()
	decode := func(ls ...string) vcard.Card {
		c, err := vcard.NewDecoder(bytes.NewReader(card(ls...))).Decode()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	encode := func(c vcard.Card) string {
		var b bytes.Buffer
		if err := vcard.NewEncoder(&b).Encode(c); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	// Values are unescaped before structured values are split, and "\;"
	// not at all: a family name with "\;" and a given name ending in "\\"
	// come apart wrong.
	c := decode("BEGIN:VCARD", "VERSION:3.0", `N:O\;Neil;Mary\\;;;`, "END:VCARD")
	if n := c.Name(); n.FamilyName != `O\` || n.GivenName != "Neil" {
		t.Errorf("N is now read as family %q, given %q", n.FamilyName, n.GivenName)
	}
	if d := diffFields(mustDecode(t, card("BEGIN:VCARD", "VERSION:3.0", `N:O\;Neil;Mary\\;;;`, "END:VCARD")).Fields,
		pim.Fields{pim.FieldLastName: pim.Str("O;Neil"), pim.FieldFirstName: pim.Str(`Mary\`)}); d != "" {
		t.Errorf("Decode:%s", d)
	}

	// An escaped comma in CATEGORIES separates categories.
	c = decode("BEGIN:VCARD", "VERSION:3.0", `CATEGORIES:Design\, Mode,Clients`, "END:VCARD")
	if got := c.Categories(); !slices.Equal(got, []string{"Design", " Mode", "Clients"}) {
		t.Errorf("CATEGORIES now read as %q", got)
	}

	// No QUOTED-PRINTABLE: the value stays encoded and the line after a
	// soft break is dropped.
	c = decode("BEGIN:VCARD", "VERSION:2.1", "NOTE;ENCODING=QUOTED-PRINTABLE:caf=C3=A9 =", "cr=C3=A8me", "END:VCARD")
	if got := c.Value(vcard.FieldNote); got != "caf=C3=A9 =" {
		t.Errorf("QP NOTE now read as %q", got)
	}

	// The encoder sorts properties by name (item groups come apart) and
	// writes each parameter value as its own parameter.
	c = decode("BEGIN:VCARD", "VERSION:3.0", "FN:x", "item1.EMAIL;TYPE=INTERNET,WORK:a@x", "item1.X-ABLabel:Lab", "N:;x;;;", "END:VCARD")
	want := "BEGIN:VCARD\r\nVERSION:3.0\r\nitem1.EMAIL;TYPE=INTERNET;TYPE=WORK:a@x\r\nFN:x\r\nN:;x;;;\r\nitem1.X-ABLABEL:Lab\r\nEND:VCARD\r\n"
	if got := encode(c); got != want {
		t.Errorf("encoder output now\n%q", got)
	}

	// It does not fold long lines, does not quote parameter values (a ":"
	// in LABEL ends the parameters early), writes a CR in a value as is,
	// and escapes the commas that separate CATEGORIES.
	c = vcard.Card{}
	c.SetValue(vcard.FieldVersion, "3.0")
	c.SetValue(vcard.FieldTitle, strings.Repeat("x", 100))
	c.Set(vcard.FieldAddress, &vcard.Field{Value: ";;1 Main St;;;;", Params: vcard.Params{"LABEL": {"1 Main St: rear"}}})
	c.SetValue(vcard.FieldNote, "a\r\nb")
	c.SetCategories([]string{"a", "b"})
	got := encode(c)
	for _, s := range []string{"TITLE:" + strings.Repeat("x", 100) + "\r\n", "ADR;LABEL=1 Main St: rear:", "NOTE:a\r\\nb", `CATEGORIES:a\,b`} {
		if !strings.Contains(got, s) {
			t.Errorf("encoder output no longer has %q:\n%q", s, got)
		}
	}
}
