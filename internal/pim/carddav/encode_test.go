package carddav

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/pim"
)

func TestEncodeNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		f      pim.Fields
		fn, n  string // the FN and N lines expected
		others []string
	}{
		{
			name: "full",
			f: pim.Fields{
				pim.FieldFirstName: pim.Str("Ada"), pim.FieldLastName: pim.Str("Lovelace"),
				pim.FieldCompany: pim.Str("Analytical Engines Ltd"), pim.FieldTitle: pim.Str("Analyst"),
				pim.FieldEmails:     pim.ListOf("ada@engines.example", "ada@home.example"),
				pim.FieldPhones:     pim.ListOf("+44 20 7946 0000", "020 7946 0001"),
				pim.FieldAddress:    pim.Str("12 St James's Square;London;;SW1Y 4JH;United Kingdom"),
				pim.FieldNotes:      pim.Str("Wrote the first program.\nPrefers letters."),
				pim.FieldCategories: pim.SetOf("VIP", "Base Person"),
			},
			fn: "FN:Ada Lovelace", n: "N:Lovelace;Ada;;;",
			others: []string{
				"ORG:Analytical Engines Ltd",
				"TITLE:Analyst",
				"EMAIL;TYPE=pref:ada@engines.example",
				"EMAIL:ada@home.example",
				"TEL;TYPE=pref:+442079460000",
				"TEL:02079460001",
				"ADR:;;12 St James's Square;London;;SW1Y 4JH;United Kingdom",
				`NOTE:Wrote the first program.\nPrefers letters.`,
				"CATEGORIES:Base Person,VIP",
			},
		},
		{name: "first_name_only", f: pim.Fields{pim.FieldFirstName: pim.Str("Madonna")}, fn: "FN:Madonna", n: "N:;Madonna;;;"},
		{name: "last_name_only", f: pim.Fields{pim.FieldLastName: pim.Str("Smith")}, fn: "FN:Smith", n: "N:Smith;;;;"},
		// FN is mandatory: a contact without a name shows its company,
		// then its email, then its phone.
		{name: "company_only", f: pim.Fields{pim.FieldCompany: pim.Str("Initech"), pim.FieldEmails: pim.ListOf("info@initech.example")},
			fn: "FN:Initech", n: "N:;;;;", others: []string{"ORG:Initech", "EMAIL;TYPE=pref:info@initech.example"}},
		{name: "email_only", f: pim.Fields{pim.FieldEmails: pim.ListOf("Someone@Example.com")},
			fn: "FN:someone@example.com", n: "N:;;;;"},
		{name: "phone_only", f: pim.Fields{pim.FieldPhones: pim.ListOf("+1 555 0100")}, fn: "FN:+15550100", n: "N:;;;;"},
		{name: "nothing", f: pim.Fields{}, fn: "FN:", n: "N:;;;;"},
		{name: "escapes", f: pim.Fields{
			pim.FieldFirstName: pim.Str("Jean-Luc; Jr"), pim.FieldLastName: pim.Str(`Pi\card`),
			pim.FieldCompany: pim.Str("Star, Fleet; Inc"), pim.FieldTitle: pim.Str("Captain, USS Enterprise"),
			pim.FieldNotes:      pim.Str("Earl Grey, hot;\nnot \\n a newline"),
			pim.FieldCategories: pim.SetOf("a,b", "c;d", `e\f`, "g"),
			pim.FieldAddress:    pim.Str(`1\; Main, St;Paris;;;France`),
		},
			fn: `FN:Jean-Luc\; Jr Pi\\card`, n: `N:Pi\\card;Jean-Luc\; Jr;;;`,
			others: []string{
				`ORG:Star\, Fleet\; Inc`,
				`TITLE:Captain\, USS Enterprise`,
				`NOTE:Earl Grey\, hot\;\nnot \\n a newline`,
				`CATEGORIES:a\,b,c\;d,e\\f,g`,
				`ADR:;;1\; Main\, St;Paris;;;France`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := mustEncode(t, nil, "crmsync-contact-42@crmsync.invalid", tc.f)
			ls := unfolded(t, out)
			head := []string{"BEGIN:VCARD", "VERSION:3.0", "PRODID:-//crmsync//crmsync//EN", "UID:crmsync-contact-42@crmsync.invalid"}
			if !slices.Equal(ls[:4], head) || ls[len(ls)-1] != "END:VCARD" {
				t.Errorf("envelope:\n%s", out)
			}
			for _, want := range append([]string{tc.fn, tc.n}, tc.others...) {
				if !slices.Contains(ls, want) {
					t.Errorf("no line %q in\n%s", want, out)
				}
			}
			c := mustDecode(t, out)
			if c.UID != "crmsync-contact-42@crmsync.invalid" || c.Version != "3.0" {
				t.Errorf("UID %q Version %q", c.UID, c.Version)
			}
			if d := diffFields(c.Fields, tc.f); d != "" {
				t.Errorf("round trip:%s\n%s", d, out)
			}
			// An independent reader sees the same card.
			props(t, out)
		})
	}
}

func TestEncodeNewFolds(t *testing.T) {
	t.Parallel()
	f := pim.Fields{
		pim.FieldFirstName:  pim.Str(strings.Repeat("Ж", 60)),
		pim.FieldNotes:      pim.Str(strings.Repeat("日本語のメモ、", 40) + "\n" + strings.Repeat("x", 200)),
		pim.FieldCategories: pim.SetOf(strings.Repeat("long category ", 10), "ü"),
	}
	out := mustEncode(t, nil, "u", f)
	folded := 0
	for _, l := range lines(t, out) {
		if len(l) > 75 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("fold cut a UTF-8 sequence: %q", l)
		}
		if strings.HasPrefix(l, " ") {
			folded++
		}
	}
	if folded < 10 {
		t.Errorf("only %d continuation lines:\n%s", folded, out)
	}
	if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
		t.Errorf("round trip:%s", d)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	f := pim.Fields{pim.FieldFirstName: pim.Str("x")}
	for _, tc := range []struct {
		name string
		prev []byte
		uid  string
		want string
	}{
		{"garbage_prev", []byte("<html>oops</html>"), "u", "cannot patch the remote vCard: not a vCard"},
		{"truncated_prev", []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x"), "u", "no END:VCARD"},
		{"empty_prev_is_not_a_create", []byte{}, "u", "empty vCard body"},
		{"create_without_uid", nil, " ", "needs a UID"},
	} {
		out, err := Encode(tc.prev, tc.uid, f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "carddav: ") {
			t.Errorf("%s: Encode = %q, %v; want an error with %q", tc.name, out, err, tc.want)
		}
	}
}

// TestPatchUnchanged: writing back what a card reads as changes nothing,
// not a byte (but line ends, which become CRLF).
func TestPatchUnchanged(t *testing.T) {
	t.Parallel()
	for _, file := range fixtures {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			prev := readFixture(t, file)
			c := mustDecode(t, prev)
			out := mustEncode(t, prev, c.UID, c.Fields)
			if !bytes.Equal(out, crlf(prev)) {
				t.Errorf("changed:\n%s\nwas:\n%s", out, prev)
			}
			if got, want := props(t, out), props(t, prev); !slices.Equal(got, want) {
				t.Errorf("properties differ:\n%q\nwant\n%q", got, want)
			}
			if d := diffFields(mustDecode(t, out).Fields, c.Fields); d != "" {
				t.Errorf("fields:%s", d)
			}
		})
	}
}

// TestPatchTitle: changing one field rewrites one property; PHOTO, X-
// properties, groups and the EMAILs' TYPE parameters are untouched.
func TestPatchTitle(t *testing.T) {
	t.Parallel()
	for _, file := range fixtures {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			prev := readFixture(t, file)
			f := mustDecode(t, prev).Fields
			f[pim.FieldTitle] = pim.Str("Chief Everything; Officer, Global")
			out := mustEncode(t, prev, "", f)
			before, after := props(t, prev), props(t, out)
			if got, want := without(after, "TITLE"), without(before, "TITLE"); !slices.Equal(got, want) {
				t.Errorf("other properties changed:\n%q\nwant\n%q", got, want)
			}
			titles := grep(t, out, "TITLE")
			if len(titles) != 1 || !strings.HasSuffix(titles[0], `:Chief Everything\; Officer\, Global`) {
				t.Errorf("TITLE lines %q", titles)
			}
			for _, key := range []string{"PHOTO", "EMAIL", "X-ABLABEL", "X-MS-OL-DESIGN", "X-NEXTCLOUD-CIRCLE", "X-PHONETIC-FIRST-NAME"} {
				if got, want := only(after, key), only(before, key); !slices.Equal(got, want) {
					t.Errorf("%s: %q, want %q", key, got, want)
				}
			}
			if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
				t.Errorf("fields:%s", d)
			}
		})
	}
	// The parameters of the property replaced stay (LANGUAGE), but
	// the transfer encoding goes; in a 2.1 card, UTF-8 is said.
	prev := card("BEGIN:VCARD", "VERSION:2.1", "TITLE;LANGUAGE=de;ENCODING=QUOTED-PRINTABLE;CHARSET=Windows-1252:Gesch=E4ftsf=FChrer", "END:VCARD")
	out := mustEncode(t, prev, "", pim.Fields{pim.FieldTitle: pim.Str("Geschäftsführerin")})
	if got := grep(t, out, "TITLE"); !slices.Equal(got, []string{"TITLE;LANGUAGE=de;CHARSET=UTF-8:Geschäftsführerin"}) {
		t.Errorf("TITLE %q", got)
	}
}

// TestPatchLists covers EMAIL and TEL: values kept keep their
// parameters, the first of the list gets the version's preference marker
// and the others lose theirs, a new value takes over a removed one's group
// and parameters.
func TestPatchLists(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		prev  []string // between BEGIN and END
		field string
		want  []string
		lines []string // the card's lines of the list's property, in order
	}{
		{
			name:  "v3_reorder",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=INTERNET,WORK:a@x", "FN:x", "EMAIL;TYPE=INTERNET,HOME,pref:b@x"},
			field: pim.FieldEmails, want: []string{"a@x", "b@x"},
			lines: []string{"EMAIL;TYPE=INTERNET,WORK;TYPE=pref:a@x", "EMAIL;TYPE=INTERNET,HOME:b@x"},
		},
		{
			name:  "v3_new_first_keeps_type_of_the_other",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=work:a@x"},
			field: pim.FieldEmails, want: []string{"c@x", "a@x"},
			lines: []string{"EMAIL;TYPE=pref:c@x", "EMAIL;TYPE=work:a@x"},
		},
		{
			name:  "v3_added_last",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=work:a@x", "EMAIL;TYPE=home:b@x"},
			field: pim.FieldEmails, want: []string{"a@x", "b@x", "c@x"},
			lines: []string{"EMAIL;TYPE=work;TYPE=pref:a@x", "EMAIL;TYPE=home:b@x", "EMAIL:c@x"},
		},
		{
			name:  "v3_apple_value_replaced_in_its_group",
			prev:  []string{"VERSION:3.0", "item1.EMAIL;type=INTERNET;type=pref:a@x", "item1.X-ABLabel:Lab", "item2.EMAIL;type=INTERNET:b@x", "item2.X-ABLabel:Club"},
			field: pim.FieldEmails, want: []string{"z@x", "b@x"},
			lines: []string{"item1.EMAIL;type=INTERNET;type=pref:z@x", "item2.EMAIL;type=INTERNET:b@x"},
		},
		{
			name:  "v3_removed",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=INTERNET;TYPE=pref:a@x", "NOTE:n", "EMAIL;TYPE=INTERNET:b@x"},
			field: pim.FieldEmails, want: []string{"b@x"},
			lines: []string{"EMAIL;TYPE=INTERNET;TYPE=pref:b@x"},
		},
		{
			name:  "v3_all_removed_empty_one_kept",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=pref:a@x", "EMAIL;TYPE=INTERNET:"},
			field: pim.FieldEmails, want: nil,
			lines: []string{"EMAIL;TYPE=INTERNET:"},
		},
		{
			name:  "v3_duplicate_spelling_kept_after_its_twin",
			prev:  []string{"VERSION:3.0", "EMAIL;TYPE=home:A@X", "EMAIL;TYPE=work:b@x", "EMAIL;TYPE=other:a@x"},
			field: pim.FieldEmails, want: []string{"b@x", "a@x"},
			lines: []string{"EMAIL;TYPE=work;TYPE=pref:b@x", "EMAIL;TYPE=home:A@X", "EMAIL;TYPE=other:a@x"},
		},
		{
			name:  "v4_reorder",
			prev:  []string{"VERSION:4.0", "EMAIL;TYPE=home:a@x", "EMAIL;TYPE=work;PREF=1:b@x"},
			field: pim.FieldEmails, want: []string{"a@x", "b@x"},
			lines: []string{"EMAIL;TYPE=home;PREF=1:a@x", "EMAIL;TYPE=work:b@x"},
		},
		{
			name:  "v4_markers_other_than_PREF_1_go",
			prev:  []string{"VERSION:4.0", "EMAIL;PREF=2:a@x", "EMAIL;TYPE=work,pref:b@x", "EMAIL;PREF=1;TYPE=home:c@x"},
			field: pim.FieldEmails, want: []string{"a@x", "b@x", "c@x", "d@x"},
			lines: []string{"EMAIL;PREF=1:a@x", "EMAIL;TYPE=work:b@x", "EMAIL;TYPE=home:c@x", "EMAIL:d@x"},
		},
		{
			name:  "v4_first_already_marked_kept_as_is",
			prev:  []string{"VERSION:4.0", "EMAIL;PREF=1;TYPE=work:a@x"},
			field: pim.FieldEmails, want: []string{"a@x", "b@x"},
			lines: []string{"EMAIL;PREF=1;TYPE=work:a@x", "EMAIL:b@x"},
		},
		{
			name:  "v21_bare_pref",
			prev:  []string{"VERSION:2.1", "EMAIL;PREF;INTERNET:a@x", "EMAIL;INTERNET:b@x"},
			field: pim.FieldEmails, want: []string{"b@x", "a@x"},
			lines: []string{"EMAIL;INTERNET;PREF:b@x", "EMAIL;INTERNET:a@x"},
		},
		{
			name:  "v21_qp_value_rewritten_plain_when_its_marker_changes",
			prev:  []string{"VERSION:2.1", "EMAIL;PREF;INTERNET:a@x", "EMAIL;INTERNET;ENCODING=QUOTED-PRINTABLE:b=40x"},
			field: pim.FieldEmails, want: []string{"b@x", "a@x"},
			lines: []string{"EMAIL;INTERNET;PREF:b@x", "EMAIL;INTERNET:a@x"},
		},
		{
			name:  "v4_tel_uri_kept_new_as_text",
			prev:  []string{"VERSION:4.0", "TEL;VALUE=uri;TYPE=cell:tel:+1-555-0100"},
			field: pim.FieldPhones, want: []string{"+15550100", "+33612345678"},
			lines: []string{"TEL;VALUE=uri;TYPE=cell;PREF=1:tel:+1-555-0100", "TEL:+33612345678"},
		},
		{
			name:  "v4_tel_uri_replaced_by_text",
			prev:  []string{"VERSION:4.0", `TEL;VALUE=uri;TYPE="cell,voice";PREF=1:tel:+1-555-0100`},
			field: pim.FieldPhones, want: []string{"+4420794600"},
			lines: []string{`TEL;TYPE="cell,voice";PREF=1:+4420794600`},
		},
		{
			name:  "v3_tel_outlook_types",
			prev:  []string{"VERSION:3.0", "TEL;TYPE=WORK,VOICE:+353 1 555 0100", "TEL;TYPE=CELL,VOICE:+353 87 555 0199"},
			field: pim.FieldPhones, want: []string{"+353875550199", "+35315550100"},
			lines: []string{"TEL;TYPE=CELL,VOICE;TYPE=pref:+353 87 555 0199", "TEL;TYPE=WORK,VOICE:+353 1 555 0100"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prev := card(append(append([]string{"BEGIN:VCARD"}, tc.prev...), "END:VCARD")...)
			f := mustDecode(t, prev).Fields
			f[tc.field] = pim.ListOf(tc.want...)
			out := mustEncode(t, prev, "", f)
			key := map[string]string{pim.FieldEmails: "EMAIL", pim.FieldPhones: "TEL"}[tc.field]
			got := propLines(t, out, key)
			if !slices.Equal(got, tc.lines) {
				t.Errorf("lines\n%q\nwant\n%q\nin\n%s", got, tc.lines, out)
			}
			if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
				t.Errorf("fields:%s", d)
			}
			// The rest of the card is untouched.
			if got, want := without(props(t, out), key), without(props(t, prev), key); !slices.Equal(got, want) {
				t.Errorf("other properties:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestPatchGroups: Apple's label of a removed EMAIL or ADR goes with it;
// a label whose group keeps a property stays.
func TestPatchGroups(t *testing.T) {
	t.Parallel()
	prev := readFixture(t, "apple.vcf")
	f := mustDecode(t, prev).Fields
	f[pim.FieldEmails] = pim.ListOf("new@x.example", "j.appleseed@icloud.example") // johnny@ replaced, jqa@ (item2) removed
	out := mustEncode(t, prev, "", f)
	if got, want := grep(t, out, "item"), []string{
		"item1.EMAIL;type=INTERNET;type=pref:new@x.example",
		"item1.X-ABLabel:_$!<Work>!$_",
		"item3.ADR;type=WORK;type=pref:;;1 Apple Park Way\\nBuilding 4;Cupertino;CA;95014;United States",
		"item3.X-ABADR:us",
		"item4.ADR;type=HOME:;;12 Elm St;Palo Alto;CA;94301;United States",
		"item4.X-ABADR:us",
		"item5.URL;type=pref:https://example.com/johnny",
		"item5.X-ABLabel:_$!<HomePage>!$_",
	}; !slices.Equal(got, want) {
		t.Errorf("grouped lines\n%q\nwant\n%q", got, want)
	}
	if got := grep(t, out, "EMAIL"); !slices.Equal(got, []string{"EMAIL;type=INTERNET;type=HOME:J.Appleseed@iCloud.example"}) {
		t.Errorf("EMAIL lines %q", got)
	}
	if got, want := without(props(t, out), "EMAIL", "X-ABLABEL"), without(props(t, prev), "EMAIL", "X-ABLABEL"); !slices.Equal(got, want) {
		t.Errorf("other properties:\n%q\nwant\n%q", got, want)
	}
}

// TestPatch21Charset: a 2.1 card's rewritten values say they are UTF-8;
// the properties not rewritten keep their Windows-1252 bytes.
func TestPatch21Charset(t *testing.T) {
	t.Parallel()
	prev := readFixture(t, "outlook21.vcf")
	f := mustDecode(t, prev).Fields
	f[pim.FieldFirstName] = pim.Str("Jörg")
	f[pim.FieldTitle] = pim.Str("Leiter")
	out := mustEncode(t, prev, "", f)
	for _, want := range []string{"N;LANGUAGE=de-de;CHARSET=UTF-8:Müller;Jörg;;;", "FN;CHARSET=UTF-8:Jörg Müller", "TITLE:Leiter", "ORG;CHARSET=Windows-1252:M\xfcller & S\xf6hne GmbH;Vertrieb"} {
		if !slices.Contains(unfolded(t, out), want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
	if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
		t.Errorf("fields:%s", d)
	}
}

func TestPatchNamesAndOrg(t *testing.T) {
	t.Parallel()
	apple := readFixture(t, "apple.vcf")
	for _, tc := range []struct {
		name   string
		prev   []byte
		change pim.Fields
		want   []string // lines expected in the result
		gone   []string // lines expected to be gone
	}{
		{
			// N's middle name, prefix and suffix stay; FN is rewritten.
			name: "first_name", prev: apple,
			change: pim.Fields{pim.FieldFirstName: pim.Str("John")},
			want:   []string{"N:Appleseed;John;Q.;Dr.;Jr.", "FN:John Appleseed"},
		},
		{
			// Without a name, FN is the company; N keeps what is not a
			// name.
			name: "names_cleared", prev: apple,
			change: pim.Fields{pim.FieldFirstName: pim.Str(""), pim.FieldLastName: pim.Str("")},
			want:   []string{"N:;;Q.;Dr.;Jr.", "FN:Apple Inc."},
		},
		{
			name: "company_department_kept", prev: apple,
			change: pim.Fields{pim.FieldCompany: pim.Str("Apple; Computer")},
			want:   []string{`ORG:Apple\; Computer;Engineering`, "FN:Dr. Johnny Q. Appleseed Jr."},
		},
		{
			name: "company_cleared_department_kept", prev: apple,
			change: pim.Fields{pim.FieldCompany: pim.Str("")},
			want:   []string{"ORG:;Engineering"},
		},
		{
			name:   "company_cleared_apple_trailing_semicolon",
			prev:   card("BEGIN:VCARD", "VERSION:3.0", "FN:A B", "ORG:Acme;", "END:VCARD"),
			change: pim.Fields{pim.FieldCompany: pim.Str("")},
			gone:   []string{"ORG:Acme;"},
		},
		{
			name:   "company_set_apple_trailing_semicolon_kept",
			prev:   card("BEGIN:VCARD", "VERSION:3.0", "FN:A B", "ORG:Acme;", "END:VCARD"),
			change: pim.Fields{pim.FieldCompany: pim.Str("Globex")},
			want:   []string{"ORG:Globex;"},
		},
		{
			// A company card's FN follows the company it shows.
			name:   "company_card_FN_follows",
			prev:   card("BEGIN:VCARD", "VERSION:3.0", "N:;;;;", "FN:Acme", "ORG:Acme", "END:VCARD"),
			change: pim.Fields{pim.FieldCompany: pim.Str("Acme Holding")},
			want:   []string{"N:;;;;", "FN:Acme Holding", "ORG:Acme Holding"},
		},
		{
			// Names given to a card that had none: N is added.
			name:   "names_added",
			prev:   card("BEGIN:VCARD", "VERSION:4.0", "FN:info@acme.example", "EMAIL:info@acme.example", "END:VCARD"),
			change: pim.Fields{pim.FieldFirstName: pim.Str("Wile E."), pim.FieldLastName: pim.Str("Coyote")},
			want:   []string{"FN:Wile E. Coyote", "N:Coyote;Wile E.;;;"},
		},
		{
			// The company becomes what FN says: FN no longer reads as a
			// name, so N must carry it.
			name:   "FN_name_kept_when_company_takes_its_value",
			prev:   card("BEGIN:VCARD", "VERSION:3.0", "FN:John Smith", "END:VCARD"),
			change: pim.Fields{pim.FieldCompany: pim.Str("John Smith")},
			want:   []string{"N:Smith;John;;;", "ORG:John Smith"},
		},
		{
			name:   "N_from_2_1_qp_rewritten_plain",
			prev:   card("BEGIN:VCARD", "VERSION:2.1", "N;ENCODING=QUOTED-PRINTABLE;CHARSET=ISO-8859-1:M=FCller;J=F6rg;;Dr.=0D=0A", "END:VCARD"),
			change: pim.Fields{pim.FieldFirstName: pim.Str("Jörgen")},
			want:   []string{`N;CHARSET=UTF-8:Müller;Jörgen;;Dr.\n;`, "FN;CHARSET=UTF-8:Jörgen Müller"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := mustDecode(t, tc.prev).Fields
			for k, v := range tc.change {
				f[k] = v
			}
			out := mustEncode(t, tc.prev, "", f)
			ls := unfolded(t, out)
			for _, w := range tc.want {
				if !slices.Contains(ls, w) {
					t.Errorf("no line %q in\n%s", w, out)
				}
			}
			for _, g := range tc.gone {
				if slices.Contains(ls, g) {
					t.Errorf("line %q still in\n%s", g, out)
				}
			}
			if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
				t.Errorf("fields:%s\n%s", d, out)
			}
		})
	}
}

func TestPatchAddress(t *testing.T) {
	t.Parallel()
	radicale, nextcloud := readFixture(t, "radicale.vcf"), readFixture(t, "nextcloud.vcf")
	apple := readFixture(t, "apple.vcf")
	for _, tc := range []struct {
		name    string
		prev    []byte
		address string
		adr     []string // the ADR lines expected, in order
	}{
		{"preferred_replaced_other_kept", radicale, "2-2 Marunouchi;Tokyo;;100-0005;Japan",
			[]string{"ADR;TYPE=home:;Apt 4B;3-1 Shibuya;Tokyo;;150-0002;Japan", "ADR;TYPE=work;PREF=1:;;2-2 Marunouchi;Tokyo;;100-0005;Japan"}},
		{"cleared_keeps_the_other_behind_an_empty_one", radicale, "",
			[]string{"ADR;TYPE=home:;Apt 4B;3-1 Shibuya;Tokyo;;150-0002;Japan", "ADR;TYPE=work;PREF=1:;;;;;;"}},
		{"stale_LABEL_dropped", nextcloud, "1 Place Vendôme;Paris;;75001;France",
			[]string{"ADR;TYPE=work:;;1 Place Vendôme;Paris;;75001;France"}},
		{"only_one_cleared", nextcloud, "", nil},
		{"apple_group_kept", apple, `Infinite Loop 1\; Bldg 2;Cupertino;CA;95014;USA`,
			[]string{`item3.ADR;type=WORK;type=pref:;;Infinite Loop 1\; Bldg 2;Cupertino;CA;95014;USA`, "item4.ADR;type=HOME:;;12 Elm St;Palo Alto;CA;94301;United States"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := mustDecode(t, tc.prev).Fields
			f[pim.FieldAddress] = pim.Str(tc.address)
			out := mustEncode(t, tc.prev, "", f)
			got := propLines(t, out, "ADR")
			if !slices.Equal(got, tc.adr) {
				t.Errorf("ADR lines\n%q\nwant\n%q", got, tc.adr)
			}
			if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
				t.Errorf("fields:%s\n%s", d, out)
			}
			if got, want := without(props(t, out), "ADR"), without(props(t, tc.prev), "ADR"); !slices.Equal(got, want) {
				t.Errorf("other properties:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestPatchNotesAndCategories(t *testing.T) {
	t.Parallel()
	prev := readFixture(t, "radicale.vcf")
	f := mustDecode(t, prev).Fields
	f[pim.FieldNotes] = pim.Str("one, two; three\\four\nfive")
	f[pim.FieldCategories] = pim.SetOf("Japan", "Partners", "Key, Account")
	out := mustEncode(t, prev, "", f)
	if got := grep(t, out, "NOTE"); !slices.Equal(got, []string{`NOTE:one\, two\; three\\four\nfive`}) {
		t.Errorf("NOTE lines %q", got)
	}
	if got := grep(t, out, "CATEGORIES"); !slices.Equal(got, []string{`CATEGORIES:Japan,Key\, Account,Partners`}) {
		t.Errorf("CATEGORIES lines %q", got)
	}
	if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
		t.Errorf("fields:%s", d)
	}
	// Emptied: the properties go.
	f[pim.FieldNotes], f[pim.FieldCategories] = pim.Value{}, pim.Value{}
	out = mustEncode(t, prev, "", f)
	if n, c := grep(t, out, "NOTE"), grep(t, out, "CATEGORIES"); len(n)+len(c) > 0 {
		t.Errorf("left %q %q", n, c)
	}
	if got, want := without(props(t, out), "NOTE", "CATEGORIES"), without(props(t, prev), "NOTE", "CATEGORIES"); !slices.Equal(got, want) {
		t.Errorf("other properties:\n%q\nwant\n%q", got, want)
	}
}

func TestPatchUID(t *testing.T) {
	t.Parallel()
	// A card without UID gets the one given, right after VERSION.
	prev := readFixture(t, "google.vcf")
	out := mustEncode(t, prev, "crmsync-contact-7@crmsync.invalid", mustDecode(t, prev).Fields)
	if ls := lines(t, out); !slices.Equal(ls[:3], []string{"BEGIN:VCARD", "VERSION:3.0", "UID:crmsync-contact-7@crmsync.invalid"}) {
		t.Errorf("head %q", ls[:3])
	}
	// A card's own UID is never changed.
	prev = readFixture(t, "nextcloud.vcf")
	out = mustEncode(t, prev, "crmsync-contact-7@crmsync.invalid", mustDecode(t, prev).Fields)
	if c := mustDecode(t, out); c.UID != "b3c7f1e2-9a4d-4f6b-8e21-0c5d7a9e3f10" {
		t.Errorf("UID %q", c.UID)
	}
	// A card without VERSION gets 3.0.
	out = mustEncode(t, card("BEGIN:VCARD", "FN:a", "END:VCARD"), "u", pim.Fields{pim.FieldFirstName: pim.Str("b")})
	if ls := lines(t, out); !slices.Equal(ls[:3], []string{"BEGIN:VCARD", "VERSION:3.0", "UID:u"}) {
		t.Errorf("head %q", ls)
	}
}

// TestRoundTripFixtures: what a fixture reads as, written as a new card,
// reads the same.
func TestRoundTripFixtures(t *testing.T) {
	t.Parallel()
	for _, file := range fixtures {
		c := mustDecode(t, readFixture(t, file))
		out := mustEncode(t, nil, "u", c.Fields)
		if d := diffFields(mustDecode(t, out).Fields, c.Fields); d != "" {
			t.Errorf("%s:%s\n%s", file, d, out)
		}
	}
}

// TestDAVCorpus runs the cards of the dav package's tests (generated like
// those of the peers, Apple, Sabre and CardBook flavours) through the
// codec: writing back what a card reads as changes no byte, and changing
// every field reads back right while the properties not mapped stay.
func TestDAVCorpus(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "dav", "testdata", "contacts", "*.vcf"))
	if len(files) == 0 {
		t.Skip("no corpus")
	}
	mapped := []string{"N", "FN", "ORG", "TITLE", "EMAIL", "TEL", "ADR", "NOTE", "CATEGORIES"}
	for _, file := range files {
		prev, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := mustDecode(t, prev)
		if out := mustEncode(t, prev, c.UID, c.Fields); !bytes.Equal(out, crlf(prev)) {
			t.Errorf("%s: unchanged card rewritten:\n%s", file, out)
		}
		f := c.Fields.Clone()
		f[pim.FieldFirstName] = pim.Str("Zoë")
		f[pim.FieldCompany] = pim.Str("New Co")
		f[pim.FieldTitle] = pim.Str("")
		f[pim.FieldEmails] = pim.ListOf(append([]string{"new@x.example"}, f[pim.FieldEmails].List...)...)
		f[pim.FieldPhones] = pim.ListOf(append(slices.Clone(f[pim.FieldPhones].List), "+1 555 0100")...)
		f[pim.FieldAddress] = pim.Str("1 Road;Town;;;")
		f[pim.FieldNotes] = pim.Str("new note")
		f[pim.FieldCategories] = pim.SetOf("Base Person")
		out := mustEncode(t, prev, c.UID, f)
		if d := diffFields(mustDecode(t, out).Fields, f); d != "" {
			t.Errorf("%s:%s\n%s", file, d, out)
		}
		if got, want := without(props(t, out), mapped...), without(props(t, prev), mapped...); !slices.Equal(got, want) {
			t.Errorf("%s: other properties:\n%q\nwant\n%q", file, got, want)
		}
	}
}

// BenchmarkLargeCard: a card with a 1 MB photo (folded in 14,000 lines)
// and a 2.1 QUOTED-PRINTABLE note of 5,000 soft-broken lines is read and
// patched in linear time.
func BenchmarkLargeCard(b *testing.B) {
	photo := strings.Repeat("QUJDRA==", 1<<17)
	var ls []string
	ls = append(ls, "BEGIN:VCARD", "VERSION:2.1", "FN:Big Photo")
	ls = append(ls, foldLine("PHOTO;ENCODING=BASE64;TYPE=JPEG:"+photo)...)
	ls = append(ls, "NOTE;ENCODING=QUOTED-PRINTABLE:start=")
	for range 5000 {
		ls = append(ls, "caf=C3=A9 and more text on this line=")
	}
	ls = append(ls, "end", "END:VCARD")
	prev := card(ls...)
	b.SetBytes(int64(len(prev)))
	for b.Loop() {
		c, err := Decode(prev)
		if err != nil {
			b.Fatal(err)
		}
		c.Fields[pim.FieldTitle] = pim.Str("Photographer")
		if _, err := Encode(prev, "u", c.Fields); err != nil {
			b.Fatal(err)
		}
	}
}
