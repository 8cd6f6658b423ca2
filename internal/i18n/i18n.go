// Package i18n is crmsync's one catalogue of words for people: the web
// app's pages and the messages users read in the REST API's answers come
// from here, in English, French, Swedish and Italian.
//
// Messages live in locales/<area>.<lang>.json (go-i18n's format: an id
// maps to a text, or to its plural forms "one"/"other"), one file per
// area of the app and language, so that the people who work on an area
// touch only its files. English is the source; a test fails when an id is
// missing in one language, or when a template or Go file asks for an id
// the catalogue does not have.
//
// Dates and numbers are written the way each language writes them:
// numbers through golang.org/x/text's printer, dates with the month names
// and order from the catalogue (x/text has no date formatting).
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The languages crmsync speaks; the first is the fallback.
var Langs = []string{"en", "fr", "sv", "it"}

var tags = []language.Tag{language.English, language.French, language.Swedish, language.Italian}

//go:embed locales/*.json
var files embed.FS

var bundle = sync.OnceValue(func() *i18n.Bundle {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", jsonUnmarshal)
	entries, err := fs.Glob(files, "locales/*.json")
	if err != nil {
		panic(err)
	}
	for _, name := range entries {
		data, err := files.ReadFile(name)
		if err != nil {
			panic(err)
		}
		if _, err := b.ParseMessageFileBytes(data, name); err != nil {
			panic(fmt.Sprintf("i18n: %s: %v", name, err))
		}
	}
	return b
})

var matcher = language.NewMatcher(tags)

// Supported reports whether lang is one crmsync speaks.
func Supported(lang string) bool {
	for _, l := range Langs {
		if l == lang {
			return true
		}
	}
	return false
}

// Negotiate picks the language: the user's choice when they made one,
// else the best match for the browser's Accept-Language header, else
// English.
func Negotiate(chosen, acceptLanguage string) string {
	if Supported(chosen) {
		return chosen
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return Langs[0]
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return Langs[0]
	}
	return Langs[i]
}

// Printer writes the messages, numbers and dates of one language. It is
// safe for concurrent use.
type Printer struct {
	Lang string
	loc  *i18n.Localizer
	num  *message.Printer
}

var printers sync.Map // lang -> *Printer

// For returns the printer of lang (English for a language crmsync does
// not speak).
func For(lang string) *Printer {
	if !Supported(lang) {
		lang = Langs[0]
	}
	if p, ok := printers.Load(lang); ok {
		return p.(*Printer)
	}
	tag := language.MustParse(lang)
	p := &Printer{Lang: lang, loc: i18n.NewLocalizer(bundle(), lang), num: message.NewPrinter(tag)}
	printers.Store(lang, p)
	return p
}

// T returns the message id with its {{.Name}} placeholders filled from
// args, given as name, value pairs. An id the catalogue lacks comes back
// as the id itself, so that a gap shows on the page instead of an empty
// string (and the catalogue's tests catch it first).
func (p *Printer) T(id string, args ...any) string {
	return p.localize(id, nil, args)
}

// N is T for a message with plural forms, chosen by count (which is also
// {{.Count}}, written as a number of the language).
func (p *Printer) N(id string, count int, args ...any) string {
	return p.localize(id, count, args)
}

func (p *Printer) localize(id string, count any, args []any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok {
			data[k] = args[i+1]
		}
	}
	if count != nil {
		data["Count"] = p.Number(count.(int))
	}
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil || s == "" {
		return id
	}
	return s
}

// Has reports whether the catalogue has the message id (in English, the
// source every language follows).
func Has(id string) bool {
	ids, err := english()
	return err == nil && ids[id]
}

var english = sync.OnceValues(func() (map[string]bool, error) { return IDs("en") })

// Coded returns the catalogue's words for a coded message, the id
// "code.<code>" (an account state's error code, an API error code), with
// its placeholders from args; when the catalogue has no such id, the
// English fallback the code came with. The REST API and the web app both
// show coded messages through it, so that a user reads them in their
// language wherever they look.
func (p *Printer) Coded(code, fallback string, args ...any) string {
	if code == "" || !Has("code."+code) {
		return fallback
	}
	return p.T("code."+code, args...)
}

// Number writes an integer the language's way (1,234 / 1 234 / 1.234).
func (p *Printer) Number(n int) string {
	return p.num.Sprintf("%d", n)
}

// Date writes a day, with the month's name, in the language's order.
func (p *Printer) Date(t time.Time) string {
	return p.T("format.date", "Day", t.Day(), "Month", p.T(fmt.Sprintf("month.%d", int(t.Month()))), "Year", t.Year())
}

// Time writes a time of day (12-hour clock in English, 24-hour otherwise,
// as the catalogue says).
func (p *Printer) Time(t time.Time) string {
	return t.Format(p.T("format.time"))
}

// DateTime writes a day and a time of day.
func (p *Printer) DateTime(t time.Time) string {
	return p.T("format.datetime", "Date", p.Date(t), "Time", p.Time(t))
}

// IDs returns the message ids of a language's files, for the tests that
// check every language has every message.
func IDs(lang string) (map[string]bool, error) {
	ids := map[string]bool{}
	entries, err := fs.Glob(files, "locales/*."+lang+".json")
	if err != nil {
		return nil, err
	}
	for _, name := range entries {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := jsonUnmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for id := range m {
			if ids[id] {
				return nil, fmt.Errorf("%s: %q is also in another file", name, id)
			}
			ids[id] = true
		}
	}
	return ids, nil
}

// Areas lists the catalogue's files of a language.
func Areas(lang string) []string {
	entries, _ := fs.Glob(files, "locales/*."+lang+".json")
	for i, e := range entries {
		entries[i] = strings.TrimSuffix(strings.TrimPrefix(e, "locales/"), "."+lang+".json")
	}
	return entries
}
