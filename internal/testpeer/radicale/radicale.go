package radicale

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/proc"
)

// Options tune Start. A nil *Options is the same as a zero Options.
type Options struct {
	// Users is the number of accounts, user1..userN (password passK for
	// userK). Zero means 3.
	Users int
	// LogLevel is Radicale's logging level (debug, info, warning, error,
	// critical). Empty means "info": one line per request, which is what a
	// failed test wants to see.
	LogLevel string
}

// Server is a running (or stopped) throwaway Radicale. Its port and data
// survive Stop/Start.
type Server struct {
	Host string // always "127.0.0.1"
	Port int

	tb       testing.TB
	dir      string // everything lives under here
	conf     string
	logPath  string
	storage  string // filesystem_folder
	users    int
	command  []string // how to run Radicale, before the options
	logLevel string
	startDur time.Duration
	http     *http.Client // for the helpers

	mu      sync.Mutex // serialises Stop/Start
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been reaped
	waitErr error         // cmd.Wait's result, valid after exited is closed
}

// startTimeout bounds how long Start waits for the first answer.
const startTimeout = 30 * time.Second

// radicaleDirs are searched for the command after PATH; pythons are tried
// for "python3 -m radicale" in this order. /usr/bin/python3 comes first:
// the Debian package installs the module for the system Python, and a
// python3 earlier in PATH (pyenv, a virtualenv) usually lacks it.
var (
	radicaleDirs = []string{"/usr/bin", "/usr/local/bin"}
	pythons      = []string{"/usr/bin/python3", "python3"}
)

// Start writes a configuration into a fresh temporary directory, starts
// Radicale as a child process and waits until it answers HTTP. The server is
// stopped, and on failure its log printed, when the test ends.
//
// Without Radicale the test is skipped, or failed when CI=true.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	command := findRadicale()
	if command == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("radicale: not found; install radicale (Debian: apt-get install radicale)")
		}
		t.Skip("radicale: not found (Debian: apt-get install radicale); skipping")
	}
	s := &Server{
		Host:     "127.0.0.1",
		tb:       t,
		users:    opts.Users,
		command:  command,
		logLevel: opts.LogLevel,
		http:     &http.Client{Timeout: time.Minute},
	}
	if s.users <= 0 {
		s.users = 3
	}
	if s.logLevel == "" {
		s.logLevel = "info"
	}
	if err := s.setup(t); err != nil {
		t.Fatalf("radicale: %v", err)
	}
	t.Cleanup(func() {
		s.stop()
		s.http.CloseIdleConnections()
		if t.Failed() {
			t.Logf("radicale log (%s):\n%s", s.logPath, s.logTail(64<<10))
		}
	})

	// A free port can be taken by someone else between our probe and
	// Radicale's bind: pick a new one and try again.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.Port, err = freePort(); err != nil {
			break
		}
		if err = s.writeConfig(); err != nil {
			break
		}
		if err = s.run(); !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("radicale: %v\nlog:\n%s", err, s.logTail(16<<10))
	}
	return s
}

// User returns the name and password of user n (1-based).
func (s *Server) User(n int) (username, password string) {
	if n < 1 || n > s.users {
		panic(fmt.Sprintf("radicale: no user %d (have user1..user%d)", n, s.users))
	}
	return fmt.Sprintf("user%d", n), fmt.Sprintf("pass%d", n)
}

// URL is the server's root, "http://127.0.0.1:port/". CardDAV and CalDAV
// clients can start discovery there.
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Dir is the directory holding the configuration, users, collections and
// log.
func (s *Server) Dir() string { return s.dir }

// LogPath is Radicale's log file (stdout and stderr).
func (s *Server) LogPath() string { return s.logPath }

// StartupTime is how long the last (re)start took until the first answer.
func (s *Server) StartupTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startDur
}

// Stop stops Radicale, cutting every connection; data and port are kept for
// Start. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	s.stop()
	s.http.CloseIdleConnections()
}

// Start starts a stopped server again on the same port with the same data
// ("server restart mid-sync"). Starting a running server does nothing.
// Failures end the test given to the package-level Start, so call it from
// that test's goroutine.
func (s *Server) Start() {
	s.tb.Helper()
	err := s.run()
	for deadline := time.Now().Add(10 * time.Second); errors.Is(err, errPortInUse) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		err = s.run()
	}
	if err != nil {
		s.tb.Fatalf("radicale: restart: %v\nlog:\n%s", err, s.logTail(16<<10))
	}
}

// Restart is Stop then Start.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.Start()
}

// findRadicale returns the command line that runs Radicale, or nil.
func findRadicale() []string {
	if p := findExecutable("radicale", radicaleDirs...); p != "" {
		return []string{p}
	}
	for _, py := range pythons {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		// The module must be importable by this interpreter.
		if exec.Command(p, "-c", "import radicale").Run() == nil {
			return []string{p, "-m", "radicale"}
		}
	}
	return nil
}

func findExecutable(name string, dirs ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// setup creates the directory tree and the users file.
func (s *Server) setup(t testing.TB) error {
	s.dir = t.TempDir()
	s.conf = filepath.Join(s.dir, "config")
	s.logPath = filepath.Join(s.dir, "radicale.log")
	s.storage = filepath.Join(s.dir, "collections")
	if err := os.MkdirAll(s.storage, 0o755); err != nil {
		return err
	}
	var users strings.Builder
	for i := 1; i <= s.users; i++ {
		name, pass := s.User(i)
		fmt.Fprintf(&users, "%s:%s\n", name, pass)
	}
	return os.WriteFile(filepath.Join(s.dir, "users"), []byte(users.String()), 0o600)
}

// writeConfig writes the configuration for the current port. The options
// are those of Radicale 3.1 (see radicale --help); the same set-up as the
// shared peers/radicale.sh.
func (s *Server) writeConfig() error {
	conf := fmt.Sprintf(`# Generated by crmsync's testpeer/radicale -- throwaway loopback test server.
[server]
hosts = %s
max_connections = 20
timeout = 30

[encoding]
request = utf-8
stock = utf-8

[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
# no sleep after a failed login (default 1 s)
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = %s

[web]
type = none

[logging]
level = %s
mask_passwords = True
`, s.Addr(), filepath.Join(s.dir, "users"), s.storage, s.logLevel)
	return os.WriteFile(s.conf, []byte(conf), 0o600)
}

// freePort returns a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run starts Radicale and waits until it answers.
func (s *Server) run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	begin := time.Now()
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	args := append(append([]string(nil), s.command[1:]...), "--config", s.conf)
	fmt.Fprintf(logf, "--- crmsync testpeer: starting %s %s at %s\n", s.command[0], strings.Join(args, " "), begin.Format(time.RFC3339Nano))

	cmd := exec.Command(s.command[0], args...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Radicale reads no other environment than its config, but Python does:
	// keep a user's site packages and start-up file out of it.
	cmd.Env = append(os.Environ(), "PYTHONNOUSERSITE=1", "PYTHONSTARTUP=", "PYTHONDONTWRITEBYTECODE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that Stop can reap stragglers by group.
		Setpgid: true,
		// If the test binary dies without running cleanups (a -timeout
		// panic), the server must not outlive it.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	if err := s.waitReady(exited); err != nil {
		s.stopLocked()
		if strings.Contains(s.logTail(4<<10), "Address already in use") {
			return fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return err
	}
	s.startDur = time.Since(begin)
	return nil
}

// waitReady waits until Radicale answers an OPTIONS request with its DAV
// classes (not someone else who took the port), or the process exits.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 10 * time.Millisecond
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("radicale exited during start-up: %v", s.waitErr)
		default:
		}
		req, err := http.NewRequest(http.MethodOptions, s.URL(), nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if strings.Contains(resp.Header.Get("Dav"), "calendar-access") {
				return nil
			}
			err = fmt.Errorf("OPTIONS / answered %s without the DAV classes of a CalDAV server", resp.Status)
		}
		last = err
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	return fmt.Errorf("no answer within %v: %v", startTimeout, last)
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// stopLocked sends SIGTERM to Radicale's process group and waits for it;
// one that will not go is killed.
func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	proc.StopGroup(s.cmd.Process.Pid, s.exited)
	s.cmd, s.exited = nil, nil
}

// logTail returns up to the last limit bytes of the log.
func (s *Server) logTail(limit int64) string { return proc.Tail(s.logPath, limit) }

var errPortInUse = errors.New("port in use")
