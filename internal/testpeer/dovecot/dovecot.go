package dovecot

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
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
}

// Server is a running (or stopped) throwaway Dovecot. Its address, ports,
// certificate and mail survive Stop/Start.
type Server struct {
	Host      string // always "127.0.0.1"
	Port      int    // plain IMAP, STARTTLS offered
	TLSPort   int    // implicit TLS
	CAPool    *x509.CertPool
	CACertPEM []byte // the self-signed server certificate, which is its own CA

	tb       testing.TB
	dir      string // everything lives under here
	conf     string // dovecot.conf
	logPath  string
	baseDir  string // sockets; kept short (sun_path is 108 bytes)
	users    int
	mailUID  int
	mailGID  int
	dovecot  string // binary
	doveadm  string // binary, may be "" (then only the helpers needing it fail)
	asRoot   bool
	ident    identity
	startDur time.Duration // how long the last start took

	mu      sync.Mutex // serialises Stop/Start
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been reaped
	waitErr error         // cmd.Wait's result, valid after exited is closed
}

// identity is who owns the mail and who Dovecot's unprivileged processes
// run as.
type identity struct {
	mailUser, loginUser, internalUser, internalGroup string
}

// startTimeout bounds how long Start waits for the greeting.
const startTimeout = 30 * time.Second

// dovecotDirs are searched for the binary after PATH (Debian puts it in
// /usr/sbin, which a normal user's PATH often lacks).
var dovecotDirs = []string{"/usr/sbin", "/usr/local/sbin"}

// Start writes a configuration into a fresh temporary directory, starts
// Dovecot in the foreground as a child process and waits until it greets on
// the plain port. The server is stopped, and on failure its log printed,
// when the test ends.
//
// Without a dovecot binary the test is skipped, or failed when CI=true.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	bin := findBinary("dovecot", dovecotDirs...)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("dovecot: binary not found; install it (Debian: apt-get install dovecot-imapd)")
		}
		t.Skip("dovecot: binary not found (Debian: apt-get install dovecot-imapd); skipping")
	}
	s := &Server{
		Host:    "127.0.0.1",
		tb:      t,
		users:   opts.Users,
		dovecot: bin,
		doveadm: findBinary("doveadm", "/usr/bin", "/usr/sbin", "/usr/local/bin"),
		asRoot:  os.Geteuid() == 0,
	}
	if s.users <= 0 {
		s.users = 3
	}
	if err := s.setup(t); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("dovecot log (%s):\n%s", s.logPath, s.logTail(64<<10))
		}
	})

	// A free port can be taken by someone else between our probe and
	// Dovecot's bind: pick new ports and try again.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.Port, s.TLSPort, err = freePorts(); err != nil {
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
		t.Fatalf("dovecot: %v\nlog:\n%s", err, s.logTail(16<<10))
	}
	return s
}

// User returns the name and password of user n (1-based).
func (s *Server) User(n int) (username, password string) {
	if n < 1 || n > s.users {
		panic(fmt.Sprintf("dovecot: no user %d (have user1..user%d)", n, s.users))
	}
	return fmt.Sprintf("user%d", n), fmt.Sprintf("pass%d", n)
}

// Addr is the plain (and STARTTLS) address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// TLSAddr is the implicit-TLS address.
func (s *Server) TLSAddr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort)) }

// TLSConfig trusts the server's certificate (for 127.0.0.1 and localhost).
func (s *Server) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.CAPool} }

// Dir is the directory holding the configuration, mail and log.
func (s *Server) Dir() string { return s.dir }

// ConfigPath is the dovecot.conf in use, for doveadm -c.
func (s *Server) ConfigPath() string { return s.conf }

// StartupTime is how long the last (re)start took until the greeting.
func (s *Server) StartupTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startDur
}

// Stop stops Dovecot, cutting every connection; mail, ports and certificate
// are kept for Start. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	s.stop()
}

// Start starts a stopped server again on the same ports with the same data
// ("server restart mid-sync"). Starting a running server does nothing.
// Failures end the test given to the package-level Start, so call it from
// that test's goroutine.
func (s *Server) Start() {
	s.tb.Helper()
	// A process of the previous run may hold a listening socket for a
	// moment longer.
	err := s.run()
	for deadline := time.Now().Add(10 * time.Second); errors.Is(err, errPortInUse) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		err = s.run()
	}
	if err != nil {
		s.tb.Fatalf("dovecot: restart: %v\nlog:\n%s", err, s.logTail(16<<10))
	}
}

// Restart is Stop then Start.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.Start()
}

// setup creates the directory tree, users, certificate and identities.
func (s *Server) setup(t testing.TB) error {
	s.dir = t.TempDir()
	if s.asRoot {
		// Dovecot's unprivileged processes (auth as "dovecot", imap as the
		// mail user) must reach files under here; t.TempDir's parent is 0700.
		if err := traversable(s.dir); err != nil {
			return err
		}
	}
	s.conf = filepath.Join(s.dir, "dovecot.conf")
	s.logPath = filepath.Join(s.dir, "dovecot.log")
	s.baseDir = filepath.Join(s.dir, "run")
	if len(s.baseDir) > 80 {
		// Dovecot puts sockets of up to ~25 bytes' name under base_dir.
		d, err := os.MkdirTemp("", "dovecot")
		if err != nil {
			return err
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		s.baseDir = filepath.Join(d, "run")
	}

	id, err := pickIdentity(s.asRoot)
	if err != nil {
		return err
	}
	s.ident = id
	u, err := user.Lookup(id.mailUser)
	if err != nil {
		return fmt.Errorf("mail user: %w", err)
	}
	s.mailUID, _ = strconv.Atoi(u.Uid)
	s.mailGID, _ = strconv.Atoi(u.Gid)

	for _, d := range []string{s.baseDir, filepath.Join(s.dir, "state"), filepath.Join(s.dir, "mail"), filepath.Join(s.dir, "tls")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// Dovecot refuses a group/other-writable base_dir; umask may differ.
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}

	var users strings.Builder
	for i := 1; i <= s.users; i++ {
		name, pass := s.User(i)
		fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", name, pass)
		home := filepath.Join(s.dir, "mail", name)
		for _, sub := range []string{"", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"} {
			p := filepath.Join(home, sub)
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			if err := os.Lchown(p, s.mailUID, s.mailGID); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "users"), []byte(users.String()), 0o644); err != nil {
		return err
	}

	certPEM, keyPEM, err := selfSignedCert()
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "tls", "server.crt"), certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "tls", "server.key"), keyPEM, 0o600); err != nil {
		return err
	}
	s.CACertPEM = certPEM
	s.CAPool = x509.NewCertPool()
	s.CAPool.AppendCertsFromPEM(certPEM)
	return nil
}

// pickIdentity follows the Debian package: as root the mail belongs to
// nobody, login processes run as dovenull and internal ones as dovecot. An
// unprivileged master can only run everything as itself.
func pickIdentity(root bool) (identity, error) {
	if !root {
		u, err := user.Current()
		if err != nil {
			return identity{}, err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return identity{}, err
		}
		return identity{u.Username, u.Username, u.Username, g.Name}, nil
	}
	id := identity{mailUser: "nobody", loginUser: "dovenull", internalUser: "dovecot"}
	if _, err := user.Lookup(id.loginUser); err != nil {
		id.loginUser = "nobody"
	}
	if _, err := user.Lookup(id.internalUser); err != nil {
		id.internalUser = "nobody"
	}
	return id, nil
}

// traversable gives group and others search permission on dir and on the
// per-test parent directory the testing package made 0700; above that it
// only checks, and says what to do.
func traversable(dir string) error {
	parent := filepath.Dir(dir)
	for _, d := range []string{dir, parent} {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
			return err
		}
	}
	for d := filepath.Dir(parent); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users, which Dovecot's unprivileged processes need; point TMPDIR (or GOTMPDIR) elsewhere", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func findBinary(name string, dirs ...string) string {
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

// freePorts returns two distinct free loopback ports.
func freePorts() (int, int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// run starts the master in the foreground and waits for the greeting.
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
	fmt.Fprintf(logf, "--- crmsync testpeer: starting %s -F -c %s at %s\n", s.dovecot, s.conf, begin.Format(time.RFC3339Nano))

	cmd := exec.Command(s.dovecot, "-F", "-c", s.conf)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that Stop can reap stragglers by group.
		Setpgid: true,
		// If the test binary dies without running cleanups (a -timeout
		// panic), the master must not outlive it.
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

// waitReady waits until the plain port greets with "* OK" and the TLS port
// accepts, or the master exits.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 5 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("dovecot exited during start-up: %v", s.waitErr)
		default:
		}
		if last = greet(s.Addr()); last == nil {
			c, err := net.DialTimeout("tcp", s.TLSAddr(), time.Second)
			if err == nil {
				c.Close()
				return nil
			}
			last = err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	return fmt.Errorf("no greeting within %v: %v", startTimeout, last)
}

func greet(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// stopLocked sends SIGTERM to Dovecot's whole process group: every process
// exits at once (a SIGTERM to the master alone makes it wait 1 to 5 s for
// its children) and the master reaps them. A group that will not go is
// killed.
func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	proc.StopGroup(s.cmd.Process.Pid, s.exited)
	s.cmd, s.exited = nil, nil
}

// logTail returns up to the last limit bytes of the log.
func (s *Server) logTail(limit int64) string { return proc.Tail(s.logPath, limit) }

// mailRoot is the Maildir of a user.
func (s *Server) mailRoot(username string) string {
	return filepath.Join(s.dir, "mail", username, "Maildir")
}

// folderDir maps a folder name to its Maildir++ directory (INBOX is the
// root; "a/b" is ".a.b"). Folder names must not contain dots.
func (s *Server) folderDir(username, folder string) string {
	if strings.EqualFold(folder, "INBOX") {
		return s.mailRoot(username)
	}
	return filepath.Join(s.mailRoot(username), "."+strings.ReplaceAll(folder, "/", "."))
}

// chownTree gives a path created by the test process to the mail user.
func (s *Server) chownTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.mailUID, s.mailGID)
	})
}

var (
	errPortInUse = errors.New("port in use")
	errNoDoveadm = errors.New("doveadm binary not found")
)
