package carddav

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// ProdID is the PRODID of the vCards Encode creates.
const ProdID = "-//crmsync//crmsync//EN"

// mappedFields are the fields a vCard carries; Encode ignores any other.
var mappedFields = []string{
	pim.FieldFirstName, pim.FieldLastName, pim.FieldCompany, pim.FieldTitle,
	pim.FieldEmails, pim.FieldPhones, pim.FieldAddress, pim.FieldNotes, pim.FieldCategories,
}

// Encode writes f as a vCard.
//
// When prev is nil it creates a vCard 3.0 (the version every CardDAV
// server and client reads) with UID uid, PRODID ProdID, FN and N, and a
// property for each non-empty field.
//
// Otherwise prev is the remote item's current body, and Encode patches it:
// only the properties of the fields whose value differs from what prev
// reads as are rewritten, and every other line of prev — PHOTO, X-
// properties, URL, BDAY, IMPP, further ADRs, groups, VERSION, UID, REV —
// is written back as it was, byte for byte (line breaks become CRLF and
// blank lines go). A rewritten property keeps its group and parameters
// where they still mean something (see doc.go), so an address book's
// labels and types survive a sync. uid is only used when prev has no UID.
// A non-nil empty prev is an error, not a create: an empty body fetched
// for an existing item must not be overwritten by a card that lost its
// photo and everything else.
//
// Encode reads its result back and fails rather than return a card that
// would not read as f; such a failure is a bug in this package.
func Encode(prev []byte, uid string, f pim.Fields) ([]byte, error) {
	var d *document
	if prev == nil {
		if strings.TrimSpace(uid) == "" {
			return nil, errors.New("carddav: a new vCard needs a UID (RFC 6352 §5.1)")
		}
		var err error
		if d, err = lex(newCard(uid)); err != nil {
			return nil, fmt.Errorf("carddav: creating a vCard: %w", err)
		}
	} else {
		var err error
		if d, err = lex(prev); err != nil {
			return nil, fmt.Errorf("carddav: cannot patch the remote vCard: %w", err)
		}
	}
	want := wantFields(f)
	e := newEditor(d, prev == nil)
	e.apply(want, uid)
	out := e.bytes()
	got, err := Decode(out)
	if err != nil {
		return nil, fmt.Errorf("carddav: internal error: the vCard written does not read back: %w", err)
	}
	for _, name := range mappedFields {
		if !got.Fields[name].Equal(want[name]) {
			return nil, fmt.Errorf("carddav: internal error: the vCard written reads back %s as %q, not %q",
				name, got.Fields[name].String(), want[name].String())
		}
	}
	return out, nil
}

// newCard is the skeleton of a created vCard.
func newCard(uid string) []byte {
	var lines []string
	lines = append(lines, "BEGIN:VCARD", "VERSION:3.0")
	lines = append(lines, renderProp("", keyProdID, nil, escapeText(ProdID))...)
	lines = append(lines, renderProp("", keyUID, nil, escapeText(strings.TrimSpace(uid)))...)
	lines = append(lines, "END:VCARD")
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// wantFields returns the mapped fields of f, normalized, with text made
// valid UTF-8 and the address in crm.PostalAddress's canonical form: what
// a vCard can carry and what Decode will read back.
func wantFields(f pim.Fields) pim.Fields {
	want := pim.Fields{}
	for _, name := range mappedFields {
		v := f[name]
		v.List = slices.Clone(v.List)
		v.Str = strings.ToValidUTF8(v.Str, "\uFFFD")
		for i := range v.List {
			v.List[i] = strings.ToValidUTF8(v.List[i], "\uFFFD")
		}
		want[name] = v
	}
	want = want.Normalize()
	// ParsePostalAddress joins extra parts to the country, and the
	// normalization may trim a part: repeat until the form is stable.
	for range 4 {
		a := want[pim.FieldAddress]
		c := pim.Normalize(pim.FieldAddress, pim.Str(crm.ParsePostalAddress(a.Str).String()))
		if c.Equal(a) {
			break
		}
		if c.IsZero() {
			delete(want, pim.FieldAddress)
		} else {
			want[pim.FieldAddress] = c
		}
	}
	return want
}

// markerStyle is how a version marks the preferred EMAIL or TEL.
type markerStyle int

const (
	markV3  markerStyle = iota // TYPE=pref
	markV4                     // PREF=1
	markV21                    // bare PREF
)

// editor collects the changes to a document and writes the result.
type editor struct {
	d      *document
	create bool
	style  markerStyle
	cur    pim.Fields // what d reads as
	edits  map[*prop]*edit
	tail   [][]string // new properties before END:VCARD
	head   [][]string // new properties right after BEGIN:VCARD
}

// edit is what becomes of one property of the document.
type edit struct {
	lines   []string // replacement, when replaced
	replace bool
	remove  bool
	after   [][]string // new properties after it
}

func newEditor(d *document, create bool) *editor {
	e := &editor{d: d, create: create, cur: d.card().Fields, edits: map[*prop]*edit{}}
	switch v := strings.TrimSpace(d.first(keyVersion).str()); {
	case strings.HasPrefix(v, "4"):
		e.style = markV4
	case strings.HasPrefix(v, "2"):
		e.style = markV21
	}
	return e
}

func (e *editor) edit(p *prop) *edit {
	ed := e.edits[p]
	if ed == nil {
		ed = &edit{}
		e.edits[p] = ed
	}
	return ed
}

func (e *editor) replace(p *prop, lines []string) {
	ed := e.edit(p)
	ed.lines, ed.replace, ed.remove = lines, true, false
}

func (e *editor) remove(p *prop) { e.edit(p).remove = true }

func (e *editor) insertAfter(p *prop, lines []string) {
	ed := e.edit(p)
	ed.after = append(ed.after, lines)
}

// add places a new property named key after the last one of that name,
// or at the end of the card.
func (e *editor) add(key string, lines []string) {
	if ps := e.d.top(key); len(ps) > 0 {
		e.insertAfter(ps[len(ps)-1], lines)
		return
	}
	e.tail = append(e.tail, lines)
}

// set replaces p's value (escaped) keeping its group and parameters but
// those in drop and the transfer encoding; with p nil it adds a property.
func (e *editor) set(p *prop, key, value string, drop ...string) {
	if p == nil {
		e.add(key, e.render("", key, nil, value))
		return
	}
	e.replace(p, e.render(p.group, p.name, withoutParams(p.params, drop...), value))
}

// render writes a property this package made. In a 2.1 card a value that
// is not ASCII says CHARSET=UTF-8: 2.1 readers (Outlook) otherwise read it
// in their own code page.
func (e *editor) render(group, name string, params []param, value string) []string {
	if e.style == markV21 && !isASCII(value) {
		params = append(slices.Clone(params), param{raw: "CHARSET=UTF-8", name: "CHARSET", values: []string{"UTF-8"}})
	}
	return renderProp(group, name, params, value)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// transferParams are the parameters that describe how a value is encoded;
// a value this package writes has none of them.
var transferParams = []string{"ENCODING", "CHARSET"}

// withoutParams returns ps without the parameters named in drop nor the
// transfer parameters.
func withoutParams(ps []param, drop ...string) []param {
	var out []param
	for _, pa := range ps {
		if !slices.Contains(drop, pa.name) && !slices.Contains(transferParams, pa.name) {
			out = append(out, pa)
		}
	}
	return out
}

// bytes writes the edited document.
func (e *editor) bytes() []byte {
	var b strings.Builder
	write := func(lines []string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
	}
	write(e.d.begin)
	for _, lines := range e.head {
		write(lines)
	}
	for _, p := range e.d.props {
		ed := e.edits[p]
		switch {
		case ed == nil:
			write(p.lines())
			continue
		case ed.remove:
		case ed.replace:
			write(ed.lines)
		default:
			write(p.lines())
		}
		for _, lines := range ed.after {
			write(lines)
		}
	}
	for _, lines := range e.tail {
		write(lines)
	}
	write(e.d.end)
	return []byte(b.String())
}

// apply makes the document carry want, touching only what changed.
func (e *editor) apply(want pim.Fields, uid string) {
	if v := e.d.first(keyVersion); v == nil {
		e.head = append(e.head, []string{"VERSION:3.0"})
	}
	if e.d.first(keyUID) == nil && strings.TrimSpace(uid) != "" {
		lines := e.render("", keyUID, nil, escapeText(strings.TrimSpace(uid)))
		if v := e.d.first(keyVersion); v != nil {
			e.insertAfter(v, lines)
		} else {
			e.head = append(e.head, lines)
		}
	}
	changed := func(field string) bool { return !e.cur[field].Equal(want[field]) }
	e.names(want)
	if changed(pim.FieldCompany) {
		e.org(want[pim.FieldCompany].Str)
	}
	if changed(pim.FieldTitle) {
		e.scalar(keyTitle, escapeText(want[pim.FieldTitle].Str))
	}
	if changed(pim.FieldEmails) {
		e.list(keyEmail, pim.FieldEmails, want[pim.FieldEmails].List)
	}
	if changed(pim.FieldPhones) {
		e.list(keyTel, pim.FieldPhones, want[pim.FieldPhones].List)
	}
	if changed(pim.FieldAddress) {
		e.address(want[pim.FieldAddress].Str)
	}
	if changed(pim.FieldNotes) {
		e.single(keyNote, escapeText(want[pim.FieldNotes].Str))
	}
	if changed(pim.FieldCategories) {
		var cats []string
		for _, c := range want[pim.FieldCategories].List {
			cats = append(cats, escapeText(c))
		}
		e.single(keyCategory, strings.Join(cats, ","))
	}
	e.dropOrphanLabels()
}

// dropOrphanLabels removes Apple's X-AB properties (X-ABLabel, X-ABADR)
// of a group whose other properties were all removed: they labelled an
// EMAIL or ADR that is gone, as Apple Contacts itself does.
func (e *editor) dropOrphanLabels() {
	orphans := map[string]bool{}
	for p, ed := range e.edits {
		if ed.remove && p.group != "" && p.depth == 1 {
			orphans[strings.ToUpper(p.group)] = true
		}
	}
	if len(orphans) == 0 {
		return
	}
	for _, p := range e.d.props {
		if ed := e.edits[p]; p.depth == 1 && !strings.HasPrefix(p.key, "X-AB") && (ed == nil || !ed.remove) {
			delete(orphans, strings.ToUpper(p.group))
		}
	}
	for _, p := range e.d.props {
		if p.depth == 1 && strings.HasPrefix(p.key, "X-AB") && orphans[strings.ToUpper(p.group)] {
			e.remove(p)
		}
	}
}

// names writes N and FN when the card would not read as want's names, and
// FN alone when it stood for the company, email or phone that changed.
func (e *editor) names(want pim.Fields) {
	first, last := want[pim.FieldFirstName].Str, want[pim.FieldLastName].Str
	fn := e.d.first(keyFN)
	if f, l := e.d.names(want); f == first && l == last && !e.create {
		// The names read right. A card without one shows its FN: keep it
		// following the company (or email, phone) it was made from.
		if first == "" && last == "" && fn != nil {
			old, now := pim.DisplayName(e.cur), pim.DisplayName(want)
			if norm(pim.FieldFirstName, fn.str()) == old && old != now {
				e.set(fn, keyFN, escapeText(now))
			}
		}
		return
	}
	e.set(fn, keyFN, escapeText(pim.DisplayName(want)))
	n := e.d.first(keyN)
	comps := []string{"", "", "", "", ""}
	if n != nil {
		comps = comps[:0]
		for _, c := range splitEscaped(n.text(), ';') {
			comps = append(comps, canonical(c))
		}
		for len(comps) < 5 {
			comps = append(comps, "")
		}
	}
	comps[0], comps[1] = escapeText(last), escapeText(first)
	e.set(n, keyN, strings.Join(comps, ";"))
}

// org writes the company as ORG's first component, keeping the others
// (department, unit).
func (e *editor) org(company string) {
	org := e.d.first(keyOrg)
	comps := []string{""}
	if org != nil {
		comps = comps[:0]
		for _, c := range splitEscaped(org.text(), ';') {
			comps = append(comps, canonical(c))
		}
	}
	comps[0] = escapeText(company)
	if strings.Trim(strings.Join(comps, ""), " ") == "" {
		e.clear(keyOrg)
		return
	}
	e.set(org, keyOrg, strings.Join(comps, ";"))
}

// scalar writes a one-value property (TITLE) into the first one in
// preference order, the one Decode reads.
func (e *editor) scalar(key, value string) {
	if value == "" {
		e.clear(key)
		return
	}
	e.set(e.d.first(key), key, value)
}

// clear empties the property Decode reads for key: it goes when it is the
// only one, and is left with an empty value otherwise, since removing it
// would make the next one (another ADR, a second TITLE) the value.
func (e *editor) clear(key string) {
	ps := e.d.ranked(key)
	switch {
	case len(ps) == 1:
		e.remove(ps[0])
	case len(ps) > 1:
		drop := []string{}
		if key == keyAdr {
			drop = append(drop, "LABEL")
		}
		e.set(ps[0], key, emptyValue(key), drop...)
	}
}

func emptyValue(key string) string {
	if key == keyAdr {
		return ";;;;;;"
	}
	return ""
}

// address writes the first ADR (in preference order) as ;;street;city;
// region;postal code;country. Its parameters stay but LABEL, the formatted
// address of vCard 4, which would be stale.
func (e *editor) address(s string) {
	if s == "" {
		e.clear(keyAdr)
		return
	}
	a := crm.ParsePostalAddress(s)
	value := strings.Join([]string{"", "", escapeText(a.Street), escapeText(a.City),
		escapeText(a.Region), escapeText(a.PostalCode), escapeText(a.Country)}, ";")
	e.set(e.d.first(keyAdr), keyAdr, value, "LABEL")
}

// single writes a field that Decode reads from every property named key
// (NOTE, CATEGORIES) as one property, in place of the first; the others
// go.
func (e *editor) single(key, value string) {
	ps := e.d.top(key)
	for i, p := range ps {
		if i > 0 || value == "" {
			e.remove(p)
		}
	}
	if value != "" {
		var first *prop
		if len(ps) > 0 {
			first = ps[0]
		}
		e.set(first, key, value)
	}
}

// item is one EMAIL or TEL of a rewritten list.
type item struct {
	src    *prop // the property it comes from; nil for a new one
	group  string
	name   string
	params []param
	value  string // escaped
	dirty  bool   // to be written from the fields above, not src's lines
}

func (e *editor) itemLines(it *item) []string {
	if !it.dirty {
		return it.src.lines()
	}
	return e.render(it.group, it.name, it.params, it.value)
}

// touch marks a reused property to be rewritten; a value in a transfer
// encoding is then written plain.
func (it *item) touch() {
	if it.dirty {
		return
	}
	it.dirty = true
	if it.src.param("ENCODING") != nil || it.src.param("CHARSET") != nil {
		it.value = canonical(it.src.text())
		it.params = withoutParams(it.params)
	}
}

// list rewrites the EMAILs or TELs to want, in order, its first element
// preferred. A property whose value is still wanted is kept as it was
// (only its preference marker may change); a new value takes over the
// group and parameters of a removed one, as an edit in an address book
// would; the properties fill the places the old ones had, in order, so
// Apple's item1.EMAIL / item1.X-ABLabel pairs stay together.
func (e *editor) list(key, field string, want []string) {
	olds := e.d.top(key)
	normOf := func(p *prop) string {
		v := p.str()
		if key == keyTel {
			v = telValue(v)
		}
		if l := pim.Normalize(field, pim.ListOf(v)).List; len(l) > 0 {
			return l[0]
		}
		return ""
	}
	primary := map[string]*prop{}
	dups := map[string][]*prop{}
	var stale []*prop
	for _, p := range e.d.ranked(key) {
		switch v := normOf(p); {
		case v == "":
		case slices.Contains(want, v):
			if primary[v] == nil {
				primary[v] = p
			} else {
				dups[v] = append(dups[v], p)
			}
		default:
			stale = append(stale, p)
		}
	}
	reuse := func(p *prop) *item {
		return &item{src: p, group: p.group, name: p.name, params: slices.Clone(p.params), value: p.value}
	}
	var items []*item
	for _, w := range want {
		switch p := primary[w]; {
		case p != nil:
			items = append(items, reuse(p))
			for _, d := range dups[w] {
				items = append(items, reuse(d))
			}
		case len(stale) > 0:
			s := stale[0]
			stale = stale[1:]
			drop := []string{}
			if key == keyTel {
				drop = append(drop, vcard.ParamValue) // a tel: URI is replaced by text
			}
			items = append(items, &item{src: s, group: s.group, name: s.name,
				params: withoutParams(s.params, drop...), value: escapeText(w), dirty: true})
		default:
			items = append(items, &item{name: key, value: escapeText(w), dirty: true})
		}
	}
	// Properties without a value (an empty EMAIL) read as nothing; they
	// stay, last.
	for _, p := range olds {
		if normOf(p) == "" {
			items = append(items, reuse(p))
		}
	}
	for i, it := range items {
		e.mark(it, i == 0 && len(want) > 0)
	}
	for k, it := range items {
		switch {
		case k < len(olds):
			e.replace(olds[k], e.itemLines(it))
		case len(olds) > 0:
			e.insertAfter(olds[len(olds)-1], e.itemLines(it))
		default:
			e.tail = append(e.tail, e.itemLines(it))
		}
	}
	for k := len(items); k < len(olds); k++ {
		e.remove(olds[k])
	}
}

// mark gives it the preference marker of the card's version (want) or
// takes every marker away (!want). A property already right is left as
// it is.
func (e *editor) mark(it *item, want bool) {
	var prefs []param
	typePref := false
	firstType := ""
	for _, pa := range it.params {
		switch pa.name {
		case vcard.ParamPreferred:
			prefs = append(prefs, pa)
		case vcard.ParamType:
			if slices.Contains(pa.types(), "pref") {
				typePref = true
			}
			if firstType == "" && !pa.bare {
				firstType = strings.TrimSpace(pa.raw[:strings.IndexByte(pa.raw, '=')])
			}
		}
	}
	var ok bool
	if e.style == markV4 {
		ok = !typePref && (!want && len(prefs) == 0 ||
			want && len(prefs) == 1 && len(prefs[0].values) == 1 && strings.TrimSpace(prefs[0].values[0]) == "1")
	} else {
		ok = len(prefs) == 0 && typePref == want
	}
	if ok {
		return
	}
	if it.src != nil {
		it.touch()
	}
	var ps []param
	for _, pa := range it.params {
		switch pa.name {
		case vcard.ParamPreferred:
			continue
		case vcard.ParamType:
			if p, keep := withoutPref(pa); keep {
				ps = append(ps, p)
			}
		default:
			ps = append(ps, pa)
		}
	}
	if want {
		switch e.style {
		case markV4:
			ps = append(ps, param{raw: "PREF=1", name: vcard.ParamPreferred, values: []string{"1"}})
		case markV21:
			ps = append(ps, param{raw: "PREF", name: vcard.ParamType, bare: true, values: []string{"PREF"}})
		default:
			if firstType == "" {
				firstType = vcard.ParamType
			}
			ps = append(ps, param{raw: firstType + "=pref", name: vcard.ParamType, values: []string{"pref"}})
		}
	}
	it.params = ps
}

// withoutPref returns a TYPE parameter without its "pref" value, and
// whether anything is left of it.
func withoutPref(pa param) (param, bool) {
	var kept []string
	removed := false
	for _, v := range pa.values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "pref") {
				removed = true
			} else if strings.TrimSpace(t) != "" {
				kept = append(kept, t)
			}
		}
	}
	if !removed {
		return pa, true
	}
	if len(kept) == 0 {
		return param{}, false
	}
	if pa.bare {
		return param{raw: strings.Join(kept, ","), name: pa.name, bare: true, values: kept}, true
	}
	var b strings.Builder
	b.WriteString(strings.TrimSpace(pa.raw[:strings.IndexByte(pa.raw, '=')]))
	b.WriteByte('=')
	for i, t := range kept {
		if i > 0 {
			b.WriteByte(',')
		}
		t = strings.ReplaceAll(t, `"`, "")
		if paramNeedsQuote(t) {
			t = `"` + t + `"`
		}
		b.WriteString(t)
	}
	return param{raw: b.String(), name: pa.name, values: kept}, true
}
