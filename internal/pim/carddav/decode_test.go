package carddav

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/pim"
)

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file     string
		uid      string
		version  string
		modified time.Time
		fields   pim.Fields
	}{
		{
			file: "apple.vcf", uid: "5B2C1E9A-3F4D-4C8E-9A1B-7D6E5F4A3B2C", version: "3.0",
			modified: time.Date(2024, 5, 2, 10, 11, 12, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldFirstName: pim.Str("Johnny"),
				pim.FieldLastName:  pim.Str("Appleseed"),
				pim.FieldCompany:   pim.Str("Apple Inc."),
				pim.FieldTitle:     pim.Str("Senior Engineer"),
				// type=pref first, then document order; item groups are
				// no obstacle.
				pim.FieldEmails: pim.ListOf("johnny@example.com", "j.appleseed@icloud.example", "jqa@lab.example"),
				pim.FieldPhones: pim.ListOf("+14085550101", "4085550199"),
				// The work ADR has type=pref; the "\n" in its street is a
				// space once normalized. The home ADR is not mapped.
				pim.FieldAddress: pim.Str("1 Apple Park Way Building 4;Cupertino;CA;95014;United States"),
				pim.FieldNotes:   pim.Str("Met at WWDC, 2023.\nLikes: coffee; bikes.\nPath: C:\\Users\\j"),
			},
		},
		{
			// FN is not the company's name, but X-ABShowAs:COMPANY says
			// the card is a company's: FN is not split into a name.
			file: "apple_company.vcf", uid: "A1B2C3D4-0000-4000-8000-000000000001", version: "3.0",
			modified: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldCompany: pim.Str("Starkbank"),
				pim.FieldEmails:  pim.ListOf("info@starkbank.example"),
				pim.FieldPhones:  pim.ListOf("+49301522782"),
			},
		},
		{
			// No UID, no REV: neither is an error.
			file: "google.vcf", version: "3.0",
			fields: pim.Fields{
				pim.FieldFirstName:  pim.Str("María José"),
				pim.FieldLastName:   pim.Str("García"),
				pim.FieldCompany:    pim.Str("Empresa S.L."),
				pim.FieldTitle:      pim.Str("Directora de ventas"),
				pim.FieldEmails:     pim.ListOf("mjgarcia@gmail.example", "mj.garcia@empresa.example"),
				pim.FieldPhones:     pim.ListOf("+34612345678", "911234567"),
				pim.FieldAddress:    pim.Str("Calle Mayor 5, 3º B;Madrid;Madrid;28013;España"),
				pim.FieldNotes:      pim.Str("Prefiere WhatsApp."),
				pim.FieldCategories: pim.SetOf("myContacts", "Clientes", "starred"),
			},
		},
		{
			// Windows-1252 bytes, QUOTED-PRINTABLE with a soft line
			// break ("=" at the end of a line), 2.1's bare TYPE values
			// and PREF.
			file: "outlook21.vcf", version: "2.1",
			modified: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldFirstName: pim.Str("Jürgen"),
				pim.FieldLastName:  pim.Str("Müller"),
				pim.FieldCompany:   pim.Str("Müller & Söhne GmbH"),
				pim.FieldTitle:     pim.Str("Vertriebsleiter"),
				pim.FieldEmails:    pim.ListOf("j.mueller@mueller-soehne.example", "juergen.mueller@privat.example"),
				pim.FieldPhones:    pim.ListOf("+491712345678", "+49891234567", "+49891234599"),
				pim.FieldAddress:   pim.Str("Hauptstraße 1 Gebäude B;München;Bayern;80331;Deutschland"),
				pim.FieldNotes:     pim.Str("Erster Kontakt auf der Messe München 2023.\nRückruf erbeten – am liebsten vormittags."),
			},
		},
		{
			file: "outlook30.vcf", uid: "040000008200E00074C5B7101A82E0080000000050F3A8C1D2E3F4010000000000000000", version: "3.0",
			modified: time.Date(2024, 3, 1, 9, 15, 0, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldFirstName: pim.Str("Siobhán"),
				pim.FieldLastName:  pim.Str("O'Brien"),
				pim.FieldCompany:   pim.Str("Contoso Ltd."),
				pim.FieldTitle:     pim.Str("CFO"),
				// TYPE=INTERNET,PREF: the second EMAIL is the preferred.
				pim.FieldEmails:     pim.ListOf("s.obrien@contoso.example", "siobhan.obrien@contoso.example"),
				pim.FieldPhones:     pim.ListOf("+35315550100", "+353875550199"),
				pim.FieldAddress:    pim.Str("1 Harbour Road;Dublin;;D02 X285;Ireland"),
				pim.FieldNotes:      pim.Str("Board member since 2019.\nAssistant: Ciarán"),
				pim.FieldCategories: pim.SetOf("Finance", "Board"),
			},
		},
		{
			// PREF=1 before PREF=2 before none; tel: URIs.
			file: "nextcloud.vcf", uid: "b3c7f1e2-9a4d-4f6b-8e21-0c5d7a9e3f10", version: "4.0",
			modified: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldFirstName:  pim.Str("Léa"),
				pim.FieldLastName:   pim.Str("Dubois"),
				pim.FieldCompany:    pim.Str("Atelier Dubois"),
				pim.FieldTitle:      pim.Str("Directrice artistique"),
				pim.FieldEmails:     pim.ListOf("lea.dubois@atelier.example", "lea@perso.example"),
				pim.FieldPhones:     pim.ListOf("+33123456789", "+33612345678"),
				pim.FieldAddress:    pim.Str("12 rue des Arts;Paris;;75003;France"),
				pim.FieldNotes:      pim.Str("Préfère être contactée le matin; jamais le vendredi."),
				pim.FieldCategories: pim.SetOf("Clients", "Design, Mode"),
			},
		},
		{
			// The second ADR has PREF=1; two NOTEs are joined; two
			// CATEGORIES are united.
			file: "radicale.vcf", uid: "urn:uuid:7f3e2a10-5b4c-4d2e-9f8a-1b2c3d4e5f60", version: "4.0",
			modified: time.Date(2024, 2, 10, 12, 0, 0, 0, time.UTC),
			fields: pim.Fields{
				pim.FieldFirstName:  pim.Str("Kenji"),
				pim.FieldLastName:   pim.Str("Watanabe"),
				pim.FieldCompany:    pim.Str("Sakura Systems"),
				pim.FieldTitle:      pim.Str("Lead, Platform Team"),
				pim.FieldEmails:     pim.ListOf("kenji@sakura.example", "kenji.w@mail.example"),
				pim.FieldPhones:     pim.ListOf("+819012345678"),
				pim.FieldAddress:    pim.Str("1-1 Marunouchi;Chiyoda-ku, Tokyo;;100-0005;Japan"),
				pim.FieldNotes:      pim.Str("first line\nsecond, with comma\na second note"),
				pim.FieldCategories: pim.SetOf("Partners", "Japan"),
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			c := mustDecode(t, readFixture(t, tc.file))
			if c.UID != tc.uid || c.Version != tc.version || !c.Modified.Equal(tc.modified) {
				t.Errorf("UID %q, Version %q, Modified %v; want %q, %q, %v", c.UID, c.Version, c.Modified, tc.uid, tc.version, tc.modified)
			}
			if d := diffFields(c.Fields, tc.fields); d != "" {
				t.Errorf("fields differ:%s", d)
			}
			// Decode returns normalized fields, kinds included.
			for name, v := range c.Fields {
				if n := pim.Normalize(name, v); !n.Equal(v) || n.Kind != v.Kind {
					t.Errorf("%s not normalized: %+v", name, v)
				}
			}
		})
	}
}

func TestDecodeCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		card []string // between BEGIN and END
		want pim.Fields
	}{
		{"names_from_N", []string{"VERSION:3.0", "N:Doe;Jane;Q;Dr.;", "FN:Dr. Jane Q. Doe"},
			pim.Fields{pim.FieldFirstName: pim.Str("Jane"), pim.FieldLastName: pim.Str("Doe")}},
		{"no_N_split_FN", []string{"VERSION:3.0", "FN:Mary Ann  Smith"},
			pim.Fields{pim.FieldFirstName: pim.Str("Mary Ann"), pim.FieldLastName: pim.Str("Smith")}},
		{"empty_N_split_FN", []string{"VERSION:3.0", "N:;;;;", "FN:Jean Dupont"},
			pim.Fields{pim.FieldFirstName: pim.Str("Jean"), pim.FieldLastName: pim.Str("Dupont")}},
		{"single_word_FN_is_first_name", []string{"VERSION:4.0", "FN:Cher"},
			pim.Fields{pim.FieldFirstName: pim.Str("Cher")}},
		{"N_given_only", []string{"VERSION:3.0", "N:;Plato;;;", "FN:Plato the Greek"},
			pim.Fields{pim.FieldFirstName: pim.Str("Plato")}},
		{"FN_is_company_not_a_name", []string{"VERSION:3.0", "N:;;;;", "FN:Acme Corp", "ORG:Acme  Corp;Sales"},
			pim.Fields{pim.FieldCompany: pim.Str("Acme Corp")}},
		{"FN_is_email_not_a_name", []string{"VERSION:3.0", "FN:Info@Acme.example", "EMAIL:info@acme.example"},
			pim.Fields{pim.FieldEmails: pim.ListOf("info@acme.example")}},
		{"FN_is_phone_not_a_name", []string{"VERSION:3.0", "FN:+1 555 0100", "TEL:+15550100"},
			pim.Fields{pim.FieldPhones: pim.ListOf("+15550100")}},
		{"kind_org_not_a_name", []string{"VERSION:4.0", "KIND:org", "FN:Globex Inc"},
			pim.Fields{}},
		{"escapes_in_structured_values", []string{"VERSION:3.0", `N:O\;Neil\, Jr;Mary\\Ann;;;`, `ORG:A\;B\, C;Dept`},
			pim.Fields{pim.FieldFirstName: pim.Str(`Mary\Ann`), pim.FieldLastName: pim.Str("O;Neil, Jr"), pim.FieldCompany: pim.Str("A;B, C")}},
		{"escaped_backslash_before_separator", []string{"VERSION:3.0", `N:Back\\;Slash;;;`},
			pim.Fields{pim.FieldFirstName: pim.Str("Slash"), pim.FieldLastName: pim.Str(`Back\`)}},
		{"categories_escaped_comma_and_union", []string{"VERSION:3.0", "FN:x y", `CATEGORIES:a\,b,c`, `CATEGORIES:c,d\;e,f\\`},
			pim.Fields{pim.FieldFirstName: pim.Str("x"), pim.FieldLastName: pim.Str("y"), pim.FieldCategories: pim.SetOf("a,b", "c", "d;e", `f\`)}},
		{"notes_escapes", []string{"VERSION:3.0", `NOTE:a\nb\Nc\,d\;e\\f\:g \x`},
			pim.Fields{pim.FieldNotes: pim.Str("a\nb\nc,d;e\\f:g \\x")}},
		{"notes_joined", []string{"VERSION:3.0", "NOTE:one", "NOTE:", "NOTE:two"},
			pim.Fields{pim.FieldNotes: pim.Str("one\ntwo")}},
		{"v3_type_PREF_upper_and_comma_list", []string{"VERSION:3.0", "EMAIL;TYPE=INTERNET:a@x", "EMAIL;TYPE=INTERNET,PREF:b@x", "TEL;TYPE=work;TYPE=PREF:2", "TEL:1"},
			pim.Fields{pim.FieldEmails: pim.ListOf("b@x", "a@x"), pim.FieldPhones: pim.ListOf("2", "1")}},
		{"v4_pref_lowest_first", []string{"VERSION:4.0", "EMAIL:a@x", "EMAIL;PREF=50:b@x", "EMAIL;PREF=3:c@x", "EMAIL;PREF=100:d@x", "EMAIL;PREF=0:e@x", "EMAIL;PREF=x:f@x"},
			pim.Fields{pim.FieldEmails: pim.ListOf("c@x", "b@x", "d@x", "a@x", "e@x", "f@x")}},
		{"v4_quoted_type_pref", []string{"VERSION:4.0", "TEL:1", `TEL;TYPE="voice,pref":2`},
			pim.Fields{pim.FieldPhones: pim.ListOf("2", "1")}},
		{"v4_tel_uri", []string{"VERSION:4.0", "TEL;VALUE=uri;TYPE=cell:tel:+1-555-555-0100;ext=12", "TEL;VALUE=uri:TEL:+44 20"},
			pim.Fields{pim.FieldPhones: pim.ListOf("+15555550100;ext=12", "+4420")}},
		{"mailto_and_case", []string{"VERSION:4.0", "EMAIL:mailto:Jo@X.example", "EMAIL:jo@x.example"},
			pim.Fields{pim.FieldEmails: pim.ListOf("jo@x.example")}},
		{"adr_street_joins_box_and_extended", []string{"VERSION:3.0", `ADR:PO Box 7;Suite 5;1 Main St\, Rear;Springfield;IL;62701;USA`},
			pim.Fields{pim.FieldAddress: pim.Str("PO Box 7, Suite 5, 1 Main St, Rear;Springfield;IL;62701;USA")}},
		{"adr_semicolon_in_part_escaped", []string{"VERSION:3.0", `ADR:;;Bldg A\; Floor 2;Paris;;;`},
			pim.Fields{pim.FieldAddress: pim.Str(`Bldg A\; Floor 2;Paris;;;`)}},
		{"adr_short", []string{"VERSION:3.0", `ADR:;;Main St`},
			pim.Fields{pim.FieldAddress: pim.Str(`Main St;;;;`)}},
		{"groups_and_lower_case_names", []string{"version:3.0", "item1.email;type=internet:a@x", "item1.X-ABLabel:Lab", "item2.tel:1"},
			pim.Fields{pim.FieldEmails: pim.ListOf("a@x"), pim.FieldPhones: pim.ListOf("1")}},
		{"qp_utf8_soft_breaks", []string{"VERSION:2.1", "NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:caf=C3=A9 =", "cr=C3=A8me=0D=0A=", "fin"},
			pim.Fields{pim.FieldNotes: pim.Str("café crème\nfin")}},
		{"qp_bare_param_latin1", []string{"VERSION:2.1", "N;CHARSET=ISO-8859-1;QUOTED-PRINTABLE:M=FCller;J=F6rg"},
			pim.Fields{pim.FieldFirstName: pim.Str("Jörg"), pim.FieldLastName: pim.Str("Müller")}},
		{"qp_lenient", []string{"VERSION:2.1", "TITLE;ENCODING=QUOTED-PRINTABLE:100=% sure =ZZ"},
			pim.Fields{pim.FieldTitle: pim.Str("100=% sure =ZZ")}},
		{"invalid_utf8_read_as_windows_1252", []string{"VERSION:3.0", "TITLE:Gesch\xe4ftsf\xfchrer \x96 CEO"},
			pim.Fields{pim.FieldTitle: pim.Str("Geschäftsführer – CEO")}},
		{"base64_text", []string{"VERSION:3.0", "TITLE;ENCODING=b:Q2hpZWY="},
			pim.Fields{pim.FieldTitle: pim.Str("Chief")}},
		{"folded_lines", []string{"VERSION:3.0", "TITLE:Head of ", " Research", "\tand Development"},
			pim.Fields{pim.FieldTitle: pim.Str("Head of Researchand Development")}},
		{"first_ORG_and_TITLE", []string{"VERSION:3.0", "ORG:One", "ORG:Two", "TITLE:A", "TITLE;TYPE=pref:B"},
			pim.Fields{pim.FieldCompany: pim.Str("One"), pim.FieldTitle: pim.Str("B")}},
		{"unreadable_lines_ignored", []string{"VERSION:3.0", "this is not a property", "X-BAD;PARAM=\"unterminated:x", "TITLE:T"},
			pim.Fields{pim.FieldTitle: pim.Str("T")}},
		{"nested_agent_card_ignored", []string{"VERSION:2.1", "FN:Boss Man", "AGENT:", "BEGIN:VCARD", "VERSION:2.1", "FN:Assistant Person", "EMAIL:assist@x", "END:VCARD", "EMAIL:boss@x"},
			pim.Fields{pim.FieldFirstName: pim.Str("Boss"), pim.FieldLastName: pim.Str("Man"), pim.FieldEmails: pim.ListOf("boss@x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := card(append(append([]string{"BEGIN:VCARD"}, tc.card...), "END:VCARD")...)
			c := mustDecode(t, b)
			if d := diffFields(c.Fields, tc.want); d != "" {
				t.Errorf("fields differ:%s", d)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		err  error // nil: decodes
	}{
		{"empty", "", errEmptyCard},
		{"blank", " \r\n\r\n", errEmptyCard},
		{"html", "<html><body>502 Bad Gateway</body></html>", errNotVCard},
		{"vcalendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", errNotVCard},
		{"property_first", "FN:x\r\nBEGIN:VCARD\r\nEND:VCARD\r\n", errNotVCard},
		{"no_end", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n", errNoEnd},
		{"nested_not_closed", "BEGIN:VCARD\r\nAGENT:\r\nBEGIN:VCARD\r\nEND:VCARD\r\n", errNoEnd},
		{"two_cards", "BEGIN:VCARD\r\nFN:a\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:b\r\nEND:VCARD\r\n", errSeveral},
		{"trailing_text", "BEGIN:VCARD\r\nFN:a\r\nEND:VCARD\r\ngarbage\r\n", errTrailing},
		{"bom_blank_lines_lower_case_no_final_newline", "\ufeff\r\n\r\nbegin:vcard\nversion:3.0\rFN:a\r\n\r\nend:VCARD", nil},
		{"no_uid_no_version", "BEGIN:VCARD\r\nFN:a\r\nEND:VCARD\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Decode([]byte(tc.in))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if c.UID != "" || c.Fields[pim.FieldFirstName].Str != "a" {
					t.Errorf("got %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Decode error %v, want %v", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), "carddav: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

func TestDecodeRev(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		rev  string
		want time.Time
	}{
		{"20240115T103000Z", want},
		{"2024-01-15T10:30:00Z", want},
		{"2024-01-15T10:30:00.000Z", want},
		{"2024-01-15T11:30:00+01:00", want},
		{"20240115T113000+0100", want},
		{"2024-01-15", time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
	} {
		c := mustDecode(t, card("BEGIN:VCARD", "VERSION:3.0", "REV:"+tc.rev, "END:VCARD"))
		if !c.Modified.Equal(tc.want) || (!c.Modified.IsZero() && c.Modified.Location() != time.UTC) {
			t.Errorf("REV:%s → %v, want %v", tc.rev, c.Modified, tc.want)
		}
	}
}
