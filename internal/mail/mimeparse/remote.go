package mimeparse

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// BlockRemoteImages returns sanitized mail HTML (from Parse) with its
// remote images turned off, and how many there were. An image loaded from
// the sender's server tells them when, where and by whom the message was
// read (a tracking pixel), so mail is shown without them until the reader
// asks: each http(s) src or srcset moves to data-remote-src /
// data-remote-srcset, where a viewer can restore it. Inline parts (cid:)
// and data: images stay.
func BlockRemoteImages(s string) (string, int) {
	if !strings.Contains(s, "<img") && !strings.Contains(s, "<IMG") {
		return s, 0
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b bytes.Buffer
	n := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String(), n
		}
		tok := z.Token()
		if (tt == html.StartTagToken || tt == html.SelfClosingTagToken) && tok.Data == "img" {
			remote := false
			for i, a := range tok.Attr {
				switch a.Key {
				case "src":
					if isRemote(a.Val) {
						tok.Attr[i].Key, remote = "data-remote-src", true
					}
				case "srcset":
					if strings.Contains(strings.ToLower(a.Val), "http") {
						tok.Attr[i].Key, remote = "data-remote-srcset", true
					}
				}
			}
			if remote {
				n++
			}
		}
		b.WriteString(tok.String())
	}
}

func isRemote(u string) bool {
	u = strings.ToLower(strings.TrimSpace(u))
	return strings.HasPrefix(u, "http:") || strings.HasPrefix(u, "https:") || strings.HasPrefix(u, "//")
}
