package compose

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// blocks are the elements that end a line of text.
var blocks = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "dd": true,
	"div": true, "dl": true, "dt": true, "fieldset": true, "figcaption": true, "figure": true,
	"footer": true, "form": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true,
	"h6": true, "header": true, "hr": true, "li": true, "main": true, "nav": true, "ol": true,
	"p": true, "pre": true, "section": true, "table": true, "tr": true, "ul": true,
}

// skipped are the elements whose content is not text.
var skipped = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "template": true,
	"noscript": true, "svg": true, "math": true, "object": true,
}

// HTMLToText derives the text/plain alternative of an HTML body: tags
// removed, entities decoded, white space collapsed except in <pre>, one
// line per block element and <br>, list items as "- ", and a link's
// address after its text when they differ.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var out strings.Builder
	skip, pre := 0, 0
	space := false // a space is pending between words
	newlines := 2  // newlines at the end of out (2 at the start: none wanted)
	var hrefs []string
	var linkStart []int
	nl := func(n int) {
		space = false
		for newlines < n {
			out.WriteString("\n")
			newlines++
		}
	}
	word := func(s string) {
		if space && newlines == 0 {
			out.WriteByte(' ')
		}
		out.WriteString(s)
		newlines, space = 0, false
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(out.String()) + "\n"
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			if pre > 0 {
				out.WriteString(t)
				if strings.HasSuffix(t, "\n") {
					newlines = 1
				} else if t != "" {
					newlines = 0
				}
				continue
			}
			if r, _ := utf8.DecodeRuneInString(t); htmlSpace(r) {
				space = true
			}
			for i, f := range strings.FieldsFunc(t, htmlSpace) {
				if i > 0 {
					space = true
				}
				word(f)
			}
			if r, _ := utf8.DecodeLastRuneInString(t); htmlSpace(r) {
				space = true
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if tag == "body" {
				skip = 0 // a <head> never closed ends here
			}
			if skipped[tag] {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch {
			case tag == "br":
				out.WriteString("\n")
				newlines++
				space = false
			case tag == "pre":
				nl(2)
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case tag == "a" && tt == html.StartTagToken:
				href := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = strings.TrimSpace(string(v))
					}
				}
				hrefs = append(hrefs, href)
				linkStart = append(linkStart, out.Len())
			case tag == "a" && tt == html.EndTagToken && len(hrefs) > 0:
				href, start := hrefs[len(hrefs)-1], linkStart[len(linkStart)-1]
				hrefs, linkStart = hrefs[:len(hrefs)-1], linkStart[:len(linkStart)-1]
				text := strings.TrimSpace(out.String()[start:])
				show := strings.TrimPrefix(href, "mailto:")
				if href != "" && !strings.HasPrefix(strings.ToLower(href), "javascript:") && !strings.HasPrefix(href, "#") && text != show && text != href {
					if text == "" {
						word(show)
					} else {
						out.WriteString(" <" + show + ">")
						newlines = 0
					}
				}
			case tag == "li" && tt != html.EndTagToken:
				nl(1)
				word("- ")
				space = false
			case tag == "img" && tt != html.EndTagToken:
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "alt" && strings.TrimSpace(string(v)) != "" {
						word("[" + strings.TrimSpace(string(v)) + "]")
						space = true
					}
				}
			case tag == "td" || tag == "th":
				space = true
			case blocks[tag]:
				if tag == "p" || tag == "blockquote" || tag == "table" || tag == "pre" || tag[0] == 'h' && len(tag) == 2 {
					nl(2)
				} else {
					nl(1)
				}
			}
		}
	}
}
