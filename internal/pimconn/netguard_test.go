package pimconn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
)

// Without an allowance a CardDAV URL on loopback, by any spelling, is
// refused before the request (and its Basic credentials) leaves; with the
// operator's allowance the same server is reached.
func TestVerifyGuarded(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	c := newConnector(t)
	c.Guard = nil
	for _, host := range []string{"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "localhost"} {
		_, err := c.Verify(context.Background(), crm.PIMCardDAV, "http://"+host+port+"/", "ann", "secret")
		if connerr.KindOf(err) != connerr.NotAllowed {
			t.Errorf("%s: %v; want destination_not_allowed", host, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the server was reached %d times", n)
	}
	c = newConnector(t)
	c.Guard = netguard.MustParse("127.0.0.0/8")
	if _, err := c.Verify(context.Background(), crm.PIMCardDAV, srv.URL+"/", "ann", "secret"); connerr.KindOf(err) != connerr.Auth {
		t.Errorf("allowed: %v; want the server's auth_failed", err)
	}
}
