package smtpout

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/testpeer/heapwatch"
)

// A raw SMTP server that speaks normally until a chosen command, then
// streams a reply that never ends; it stops by itself after about 256 MiB
// or when the client hangs up.
func hostileSMTP(t *testing.T, greeting string, at string, head, chunk string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		flood := func() {
			io.WriteString(c, head)
			for sent := 0; sent < 256<<20; sent += len(chunk) {
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
		}
		if at == "" {
			flood()
			return
		}
		io.WriteString(c, greeting)
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(l), at) {
				flood()
				return
			}
			io.WriteString(c, "250 ok\r\n")
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestHostileReplies(t *testing.T) {
	for _, tc := range []struct{ name, at, head, chunk string }{
		{"greeting without end", "", "220 ", strings.Repeat("g", 64<<10)},
		{"EHLO line without end", "EHLO", "250 ", strings.Repeat("e", 64<<10)},
		{"endless multi-line EHLO", "EHLO", "", "250-PIPELINING\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := hostileSMTP(t, "220 hostile ready\r\n", tc.at, tc.head, tc.chunk)
			cfg := Config{Host: "127.0.0.1", Port: port, Security: "none"}
			var err error
			grew := heapwatch.Peak(func() { err = Verify(context.Background(), cfg) })
			t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
			e := connerr.As(err)
			if e == nil || e.Kind != connerr.Protocol {
				t.Fatalf("Verify = %v, want a connerr.Protocol", err)
			}
			if want := fmt.Sprintf("127.0.0.1:%d", port); e.Server != want || !strings.Contains(e.Message, "127.0.0.1") {
				t.Errorf("error %+v does not name the server %s", e, want)
			}
			if grew > 64<<20 {
				t.Errorf("heap grew by %d MiB, want < 64", grew>>20)
			}
		})
	}
}
