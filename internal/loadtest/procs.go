package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process the test started: a crmsync serve or worker, or the
// IMAP server.
type proc struct {
	name    string
	cmd     *exec.Cmd
	metrics string // its /metrics URL ("" for the IMAP server)
	args    []string
	env     []string
	log     string
}

// start runs bin with args and env, its output appended to a log file.
func start(name, bin, logFile string, args, env []string) (*proc, error) {
	p := &proc{name: name, args: args, env: env, log: logFile}
	return p, p.start(bin)
}

func (p *proc) start(bin string) error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	go func() { cmd.Wait(); f.Close() }()
	p.cmd = cmd
	return nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill9 is the crash: no release of leases, no LOGOUT.
func (p *proc) kill9() { p.cmd.Process.Signal(syscall.SIGKILL) }

func (p *proc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.kill9()
		}
	}
}

// rss is the process's resident set from /proc, in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// scrape reads the named metrics (without labels, or with the exact label
// text given, like `crmsync_leases_held{kind="mail"}`) from a /metrics
// page.
func scrape(url string, names ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(body, names...), nil
}

// parseMetrics picks the named samples from the Prometheus text format.
func parseMetrics(body []byte, names ...string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					out[n] = f
				}
			}
		}
	}
	return out
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one: the
// IMAP server holds a socket per account, each crmsync process one per
// account it syncs. Children inherit it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	l.Cur = l.Max
	return l.Cur, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
