package mimeparse

import (
	"strings"
	"testing"
)

func TestBlockRemoteImages(t *testing.T) {
	in := `<p>Hi <b>Ann</b></p><img src="https://track.example/p.gif?u=ann" width="1" height="1" alt=""/>` +
		`<img src="cid:logo@x"><IMG SRC="HTTP://cdn.example/a.png"><img src="//cdn.example/b.png" srcset="https://cdn.example/b2.png 2x">` +
		`<img src="data:image/png;base64,iVBORw0KGgo="><a href="https://example.com/?a=1&amp;b=2">link</a>`
	out, n := BlockRemoteImages(sanitizeForTest(in))
	// (The policy drops data: images and srcset itself; cid: stays.)
	if n != 3 {
		t.Fatalf("%d remote images, want 3: %s", n, out)
	}
	for _, gone := range []string{` src="https://track`, ` src="http://cdn`, ` src="//cdn`, ` srcset="https`} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(gone)) {
			t.Errorf("%s still loads: %s", gone, out)
		}
	}
	for _, kept := range []string{`data-remote-src="https://track.example/p.gif?u=ann"`, `src="cid:logo@x"`, `href="https://example.com/?a=1&amp;b=2"`, `<b>Ann</b>`} {
		if !strings.Contains(out, kept) {
			t.Errorf("%s missing: %s", kept, out)
		}
	}
	if same, n := BlockRemoteImages("<p>no images</p>"); n != 0 || same != "<p>no images</p>" {
		t.Errorf("text without images changed: %q %d", same, n)
	}
}

// sanitizeForTest runs the HTML through the same policy as Parse.
func sanitizeForTest(s string) string { out, _ := sanitizeHTML(s, 1<<20); return out }
