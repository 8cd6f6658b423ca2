// Package imapload is the IMAP server of the load test (make loadtest):
// go-imap v2's own server (imapserver over imapmemserver) holding N users
// of M messages each, in memory, that counts the sessions of each user so
// the test can prove, from the server's side, that no mailbox was synced by
// two crmsync processes at once.
//
// Why not Dovecot with imap-hibernate: Dovecot runs one imap process per
// connection until it hibernates, and its per-process limits, login
// processes and the hibernate round trip all need tuning to hold 10,000
// connections on a small machine; and it cannot tell us when two sessions
// of the same user overlapped. This server is one Go process (a goroutine
// and two small buffers per connection), starts in a second with its
// users and messages, and counts exactly what the test needs. It is run as
// a separate process (package server here) so that its memory and CPU are
// not mixed with the figures measured in the crmsync processes.
package imapload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Username is the name of user i (0-based); every user's password is
// Password.
func Username(i int) string { return fmt.Sprintf("user%05d", i) }

// Password is the password of every user.
const Password = "load-test-password"

// Server holds the users and counts their sessions.
type Server struct {
	users map[string]*imapmemserver.User
	names []string

	mu       sync.Mutex
	live     map[string]int  // sessions logged in, by user
	idled    map[string]bool // the user's current session has been in IDLE
	idling   int             // sessions in IDLE now
	maxLive  int             // the most sessions of one user at once, ever
	overlaps []string        // users that had two sessions at once (first few)
	nOverlap int
	logins   atomic.Int64
	appended atomic.Int64
}

// New makes a server of n users holding m messages each in their INBOX.
func New(n, m int) *Server {
	s := &Server{users: make(map[string]*imapmemserver.User, n), names: make([]string, n),
		live: map[string]int{}, idled: map[string]bool{}}
	for i := range n {
		name := Username(i)
		u := imapmemserver.NewUser(name, Password)
		if err := u.Create("INBOX", nil); err != nil {
			panic(err) // a new user has no INBOX yet
		}
		for j := range m {
			if _, err := u.Append("INBOX", literal(message(name, fmt.Sprintf("m%d", j), time.Now())), &imap.AppendOptions{}); err != nil {
				panic(err)
			}
		}
		s.users[name], s.names[i] = u, name
	}
	return s
}

// message is a small plain-text message with a unique Message-ID.
func message(user, id string, at time.Time) []byte {
	return fmt.Appendf(nil, "From: Sender <sender@load.test>\r\nTo: %s <%s@load.test>\r\nSubject: load %s %s\r\n"+
		"Date: %s\r\nMessage-ID: <%s.%s@load.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Message %s for %s.\r\n", user, user, user, id, at.Format(time.RFC1123Z), id, user, id, user)
}

// MessageID is the Message-ID (without brackets) of message id of user.
func MessageID(user, id string) string { return id + "." + user + "@load.test" }

type bytesLiteral struct {
	*bytes.Reader
	n int64
}

func (b bytesLiteral) Size() int64 { return b.n }

func literal(b []byte) imap.LiteralReader { return bytesLiteral{bytes.NewReader(b), int64(len(b))} }

// Options returns the imapserver options serving s (IMAP4rev1 with IDLE;
// TLS, when given, is for STARTTLS — implicit TLS wraps the listener).
func (s *Server) Options() *imapserver.Options {
	return &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{srv: s}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true, // loopback only; implicit TLS is the listener's
		Logger:       quiet{},
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Append delivers a new message to user i's INBOX and returns its
// Message-ID.
func (s *Server) Append(i int, id string) (string, error) {
	if i < 0 || i >= len(s.names) {
		return "", fmt.Errorf("no user %d", i)
	}
	name := s.names[i]
	if _, err := s.users[name].Append("INBOX", literal(message(name, id, time.Now())), &imap.AppendOptions{}); err != nil {
		return "", err
	}
	s.appended.Add(1)
	return MessageID(name, id), nil
}

// Stats are the server's counts.
type Stats struct {
	Users int `json:"users"`
	// Sessions logged in now, users with at least one, and sessions in
	// IDLE now; IdledUsers: users whose current session has been in IDLE.
	Sessions       int `json:"sessions"`
	UsersConnected int `json:"users_connected"`
	Idling         int `json:"idling"`
	IdledUsers     int `json:"idled_users"`
	// MaxPerUser is the most sessions one user ever had at once;
	// Overlaps how many times a login found another session of the same
	// user, OverlapUsers the first such users.
	MaxPerUser   int      `json:"max_sessions_per_user"`
	Overlaps     int      `json:"overlaps"`
	OverlapUsers []string `json:"overlap_users,omitempty"`
	Logins       int64    `json:"logins"`
	Appended     int64    `json:"appended"`
	Messages     int64    `json:"messages"` // in every INBOX
}

// Stats counts now.
func (s *Server) Stats() Stats {
	var msgs int64
	for _, u := range s.users {
		if st, err := u.Status("INBOX", &imap.StatusOptions{NumMessages: true}); err == nil && st.NumMessages != nil {
			msgs += int64(*st.NumMessages)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Users: len(s.names), Idling: s.idling, MaxPerUser: s.maxLive, Overlaps: s.nOverlap,
		OverlapUsers: append([]string(nil), s.overlaps...), Logins: s.logins.Load(), Appended: s.appended.Load(), Messages: msgs}
	for u, n := range s.live {
		st.Sessions += n
		st.UsersConnected++
		if s.idled[u] {
			st.IdledUsers++
		}
	}
	return st
}

// Handler serves GET /stats (Stats as JSON) and POST /append?user=I&id=X
// (a new message for user I; answers {"message_id": …}).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Stats())
	})
	mux.HandleFunc("POST /append", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.URL.Query().Get("user"))
		id := r.URL.Query().Get("id")
		if err != nil || id == "" {
			http.Error(w, "user (a number) and id are needed", http.StatusBadRequest)
			return
		}
		mid, err := s.Append(i, id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"message_id": mid})
	})
	return mux
}

func (s *Server) loggedIn(user string) {
	s.logins.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[user]++
	s.idled[user] = false
	if n := s.live[user]; n > 1 {
		s.nOverlap++
		if len(s.overlaps) < 20 {
			s.overlaps = append(s.overlaps, user)
		}
	}
	s.maxLive = max(s.maxLive, s.live[user])
}

func (s *Server) loggedOut(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live[user]--; s.live[user] <= 0 {
		delete(s.live, user)
		delete(s.idled, user)
	}
}

func (s *Server) idle(user string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.idling++
		s.idled[user] = true
	} else {
		s.idling--
	}
}

// session is imapmemserver's session with the counting around login,
// IDLE and close.
type session struct {
	*imapmemserver.UserSession // nil until login
	srv                        *Server
	user                       string
}

var _ imapserver.Session = (*session)(nil)

func (s *session) Login(username, password string) error {
	u := s.srv.users[username]
	if u == nil || s.user != "" {
		return imapserver.ErrAuthFailed
	}
	if err := u.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(u)
	s.user = username
	s.srv.loggedIn(username)
	return nil
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.srv.idle(s.user, true)
	defer s.srv.idle(s.user, false)
	// imapmemserver's IDLE only reports changes made after it began: one
	// made between the client's last command and its IDLE would wait for
	// the next change. Dovecot reports it at once; so does this server.
	if err := s.UserSession.Poll(w, true); err != nil {
		return err
	}
	return s.UserSession.Idle(w, stop)
}

func (s *session) Close() error {
	if s.user == "" {
		return nil
	}
	s.srv.loggedOut(s.user)
	return s.UserSession.Close()
}
