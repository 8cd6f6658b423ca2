package dropbox

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestReadHeader(t *testing.T) {
	t.Parallel()
	long := "X-Long: " + strings.Repeat("y", 70000) + "\r\n"
	for _, tc := range []struct {
		name, in, hdr string
		max           int
		err           bool
	}{
		{"CRLF", "From: a@b\r\nTo: c@d\r\n\r\nbody\r\n", "From: a@b\r\nTo: c@d\r\n\r\n", 1000, false},
		{"bare LF", "From: a@b\n\nbody\n", "From: a@b\n\n", 1000, false},
		{"no body", "From: a@b\r\n", "From: a@b\r\n", 1000, false},
		{"no header", "\r\nbody", "\r\n", 1000, false},
		{"empty", "", "", 1000, false},
		{"line longer than the buffer", long + "\r\nbody", long + "\r\n", 100000, false},
		{"too large", long + "\r\nbody", "", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			hdr, err := readHeader(br, tc.max)
			if tc.err {
				if err != errHeaderTooLarge {
					t.Fatalf("err = %v, want errHeaderTooLarge", err)
				}
				return
			}
			rest, _ := io.ReadAll(br)
			if err != nil || string(hdr) != tc.hdr || string(hdr)+string(rest) != tc.in {
				t.Fatalf("header %q, rest %q, err %v", hdr, rest, err)
			}
		})
	}
}

func TestParseHeaderFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, hdr string
		want      []string // nil: an error
	}{
		{"plain", "From: Ann@Example.COM\r\n\r\n", []string{"ann@example.com"}},
		{"name and angle", "Subject: x\r\nFrom: \"Ann, M.\" <ann@example.com>\r\n\r\n", []string{"ann@example.com"}},
		{"folded", "From: Ann\r\n <ann@example.com>\r\nTo: x@y\r\n\r\n", []string{"ann@example.com"}},
		{"encoded word, unknown charset", "From: =?x-weird?q?Ann?= <ann@example.com>\r\n\r\n", []string{"ann@example.com"}},
		{"UTF-8 name", "From: Änn Müller <ann@example.com>\r\n\r\n", []string{"ann@example.com"}},
		{"comment", "From: ann@example.com (Ann)\r\n\r\n", []string{"ann@example.com"}},
		{"lower-case name, space before colon", "from : ann@example.com\n\n", []string{"ann@example.com"}},
		{"two mailboxes", "From: ann@example.com, bob@example.com\r\n\r\n", []string{"ann@example.com", "bob@example.com"}},
		{"Resent-From is not From", "Resent-From: ann@example.com\r\n\r\n", nil},
		{"From in the body", "Subject: x\r\n\r\nFrom: ann@example.com\r\n", nil},
		{"continuation of another field", "Subject: x\r\n From: ann@example.com\r\n\r\n", nil},
		{"two fields", "From: ann@example.com\r\nFROM: ann@example.com\r\n\r\n", nil},
		{"garbage after the address", "From: <ann@example.com> mallory@evil.example\r\n\r\n", nil},
		{"empty", "From:\r\n\r\n", nil},
		{"group", "From: friends: ann@example.com;\r\n\r\n", []string{"ann@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHeaderFrom([]byte(tc.hdr))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReceivedField(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		env   Envelope
		tlsOn bool
		want  string
	}{
		{"IPv4", Envelope{RemoteAddr: "192.0.2.1:5000", HeloName: "mx.example.org", Recipients: []string{"t@d"}, ReceivedAt: at}, true,
			"Received: from mx.example.org ([192.0.2.1])\r\n\tby d.example with ESMTPS\r\n\tfor <t@d>; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{"IPv6, bad HELO, two recipients", Envelope{RemoteAddr: "[2001:db8::1]:25", HeloName: "evil\r\nX-Injected: 1", Recipients: []string{"t@d", "t+x@d"}, ReceivedAt: at}, false,
			"Received: from [IPv6:2001:db8::1]\r\n\tby d.example with ESMTP; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{"address-literal HELO, odd recipient", Envelope{RemoteAddr: "pipe", HeloName: "[192.0.2.1]", Recipients: []string{"a>b@d"}, ReceivedAt: at}, false,
			"Received: from [unknown]\r\n\tby d.example with ESMTP; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := receivedField(tc.env, "d.example", tc.tlsOn); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func FuzzParseHeaderFrom(f *testing.F) {
	for _, s := range []string{
		"From: Ann <ann@example.com>\r\n\r\n", "From: a@b, c@d\n\n", "from: =?utf-8?b?w4Q=?= <x@y>\r\n",
		"From: \"q\\\"x\" <a@b>\r\n \r\n", "From: g: a@b, c@d;\r\n", "From:\r\n\tann@example.com\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		addrs, err := parseHeaderFrom(hdr)
		if err != nil {
			return
		}
		if len(addrs) == 0 {
			t.Fatal("no error and no address")
		}
		for _, a := range addrs {
			if a != strings.ToLower(a) || !strings.Contains(a, "@") {
				t.Fatalf("address %q", a)
			}
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	for _, s := range []string{"From: a@b\r\n\r\nbody", "a\nb\n\nc", "\r\n", "x"} {
		f.Add([]byte(s), 64)
	}
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 0 {
			max = -max
		}
		max %= 1 << 12
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		hdr, err := readHeader(br, max)
		if err != nil {
			if err != errHeaderTooLarge || len(in) <= max {
				t.Fatalf("err %v with %d bytes, max %d", err, len(in), max)
			}
			return
		}
		rest, _ := io.ReadAll(br)
		if len(hdr) > max || !bytes.Equal(append(hdr, rest...), in) {
			t.Fatalf("header %q + rest %q != input", hdr, rest)
		}
	})
}
