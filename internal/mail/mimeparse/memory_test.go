package mimeparse

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// base64Stream produces the base64 encoding (76-character lines) of n
// pseudo-random bytes, generated as it is read, and hashes the bytes so
// the test can compare them with what Attachment writes.
type base64Stream struct {
	left int64
	x    uint32
	line []byte
	buf  [77]byte
	raw  [57]byte
	sum  io.Writer
}

func newBase64Stream(n int64, sum io.Writer) *base64Stream {
	return &base64Stream{left: n, x: 7, sum: sum}
}

func (s *base64Stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.line) == 0 {
			if s.left == 0 {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
			k := int64(len(s.raw))
			if s.left < k {
				k = s.left
			}
			for i := range s.raw[:k] {
				s.x ^= s.x << 13
				s.x ^= s.x >> 17
				s.x ^= s.x << 5
				s.raw[i] = byte(s.x)
			}
			if s.sum != nil {
				s.sum.Write(s.raw[:k])
			}
			s.left -= k
			e := base64.StdEncoding.EncodedLen(int(k))
			base64.StdEncoding.Encode(s.buf[:e], s.raw[:k])
			s.buf[e] = '\n'
			s.line = s.buf[:e+1]
		}
		c := copy(p[n:], s.line)
		s.line = s.line[c:]
		n += c
	}
	return n, nil
}

// repeatReader repeats s until n bytes.
type repeatReader struct {
	s    string
	left int64
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:min(len(p), n+int(r.left))], r.s[r.off:])
		r.off = (r.off + c) % len(r.s)
		n += c
		r.left -= int64(c)
	}
	return n, nil
}

// hugeMessage is a message with a text body, an HTML body (each far over
// the 1 MiB limit) and a base64 attachment of attachBytes, generated on
// the fly: never in memory as a whole.
func hugeMessage(bodyBytes, attachBytes int64, sum io.Writer) io.Reader {
	return io.MultiReader(
		strings.NewReader("From: Big Sender <big@example.com>\r\nTo: you@example.com\r\nSubject: huge\r\n"+
			"Content-Type: multipart/mixed; boundary=\"=_huge\"\r\n\r\n--=_huge\r\n"+
			"Content-Type: multipart/alternative; boundary=\"=_alt\"\r\n\r\n--=_alt\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n\r\n"),
		&repeatReader{s: "All work and no play makes Jack a dull boy. Grüße!\r\n", left: bodyBytes},
		strings.NewReader("\r\n--=_alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"),
		&repeatReader{s: "<p>All work and <b>no play</b> makes Jack a dull boy.</p>\r\n", left: bodyBytes},
		strings.NewReader("\r\n--=_alt--\r\n\r\n--=_huge\r\nContent-Type: application/octet-stream\r\n"+
			"Content-Disposition: attachment; filename=\"disk.img\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		newBase64Stream(attachBytes, sum),
		strings.NewReader("\r\n--=_huge--\r\n"),
	)
}

// peakHeap samples the heap in use while f runs and returns the peak
// growth over the heap before f, and the bytes f allocated in total.
func peakHeap(f func()) (peak, allocated uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var mu sync.Mutex
	max := before.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				mu.Lock()
				if ms.HeapInuse > max {
					max = ms.HeapInuse
				}
				mu.Unlock()
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapInuse > max {
		max = after.HeapInuse
	}
	return max - before.HeapInuse, after.TotalAlloc - before.TotalAlloc
}

// TestBoundedMemory parses a 200 MiB attachment plus two 16 MiB bodies and
// checks that the heap never grows by more than 32 MiB: memory does not
// depend on the size of the message or its attachments. Attachment, which
// streams the attachment out, is held to the same bound.
func TestBoundedMemory(t *testing.T) {
	attach, body := int64(200<<20), int64(16<<20)
	if testing.Short() || raceEnabled {
		attach, body = 40<<20, 4<<20 // the race detector makes it ~10 times slower
	}
	const limit = 32 << 20
	var size int64
	start := time.Now()
	peak, alloc := peakHeap(func() {
		m, _, err := Parse(hugeMessage(body, attach, nil), &Options{KeepAttachmentsUnder: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		size = m.Size
		if len(m.Attachments) != 1 || m.Attachments[0].Size != attach {
			t.Errorf("attachments %+v", m.Attachments)
		}
		if !m.TextTruncated || !m.HTMLTruncated || len(m.Text) > 1<<20 || len(m.HTML) > 1<<20 {
			t.Errorf("bodies: text %d bytes (cut %v), HTML %d bytes (cut %v)", len(m.Text), m.TextTruncated, len(m.HTML), m.HTMLTruncated)
		}
	})
	d := time.Since(start)
	t.Logf("Parse: %d MiB in %v (%.0f MB/s): peak heap growth %.1f MiB, allocated %.1f MiB",
		size>>20, d.Round(time.Millisecond), float64(size)/d.Seconds()/1e6, float64(peak)/(1<<20), float64(alloc)/(1<<20))
	if peak > limit {
		t.Errorf("Parse: peak heap growth %d MiB, want < %d MiB", peak>>20, limit>>20)
	}

	want, got := sha256.New(), sha256.New()
	start = time.Now()
	peak, alloc = peakHeap(func() {
		a, err := Attachment(hugeMessage(body, attach, want), 0, got)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != attach || a.Filename != "disk.img" {
			t.Errorf("attachment %+v", a)
		}
	})
	d = time.Since(start)
	t.Logf("Attachment: %d MiB in %v: peak heap growth %.1f MiB, allocated %.1f MiB",
		attach>>20, d.Round(time.Millisecond), float64(peak)/(1<<20), float64(alloc)/(1<<20))
	if peak > limit {
		t.Errorf("Attachment: peak heap growth %d MiB, want < %d MiB", peak>>20, limit>>20)
	}
	if string(want.Sum(nil)) != string(got.Sum(nil)) {
		t.Errorf("Attachment content differs from what was encoded")
	}
}
