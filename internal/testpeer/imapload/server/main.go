// Command server is the load test's IMAP server (package imapload) as a
// process of its own. It prints one JSON line on standard output once it
// listens — {"imap": "127.0.0.1:PORT", "http": "127.0.0.1:PORT", "ca":
// "FILE"} — and serves until killed.
//
//	go run ./internal/testpeer/imapload/server -users 1000 -messages 10 -ca /tmp/ca.pem
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/crmsync/crmsync/internal/testpeer/imapload"
)

func main() {
	users := flag.Int("users", 1000, "number of users (user00000, user00001, …)")
	messages := flag.Int("messages", 10, "messages in each user's INBOX at start")
	plain := flag.Bool("plain", false, "serve IMAP without TLS (default: implicit TLS)")
	ca := flag.String("ca", "", "write the TLS certificate (its own CA) to this PEM file")
	flag.Parse()

	start := time.Now()
	srv := imapload.New(*users, *messages)
	opts := srv.Options()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if !*plain {
		cert, pem, err := imapload.SelfSigned()
		if err != nil {
			log.Fatal(err)
		}
		if *ca != "" {
			if err := os.WriteFile(*ca, pem, 0o600); err != nil {
				log.Fatal(err)
			}
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(hln, srv.Handler())) }()
	json.NewEncoder(os.Stdout).Encode(map[string]string{"imap": ln.Addr().String(), "http": hln.Addr().String(), "ca": *ca})
	fmt.Fprintf(os.Stderr, "imapload: %d users × %d messages ready in %v\n", *users, *messages, time.Since(start).Round(time.Millisecond))
	log.Fatal(imapserver.New(opts).Serve(ln))
}
