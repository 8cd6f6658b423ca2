// Package loadtest is `make loadtest`: ten thousand IMAP mailboxes synced
// by one `crmsync serve` and two `crmsync worker` processes on PostgreSQL,
// measured from the outside. It starts everything itself — a PostgreSQL
// cluster of its own, the IMAP server of package testpeer/imapload as a
// separate process, and the crmsync binaries — connects the mailboxes
// through the REST API (as users do: each one is verified by a login
// before it is saved), and reports:
//
//   - the time until every account is synced and its session in IDLE;
//   - memory per idle account in each process (RSS from /proc and the Go
//     heap from /metrics, above the process's level before any account);
//   - new-mail latency (median, p99) with every account connected;
//   - accounts per process (leases by owner);
//   - failover: kill -9 of the worker holding the most accounts, the time
//     until the others hold them all, a worker that joins and takes its
//     share, and that no message was lost or stored twice and no account
//     had two sessions at once (counted by the IMAP server);
//   - a PostgreSQL restart: every process reconnects and new mail flows.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crmsync/crmsync/internal/store/postgres"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/testpeer/imapload"
)

// Options of a run.
type Options struct {
	Accounts int // mailboxes (10,000)
	Messages int // messages in each at start
	Workers  int // `crmsync worker` processes beside the one `serve`
	NewMail  int // mailboxes that get a new message for the latency figure
	Crmsync  string
	Server   string // the imapload server binary
	// Baseline, when set, is another crmsync binary (an older build) run
	// as the last worker, "baseline": its memory per account is then
	// measured in the same run as the others'.
	Baseline string
	Dir      string // work directory (logs, database, report)
	Failover bool
	Restart  bool          // restart PostgreSQL
	Timeout  time.Duration // for each wait
	Hold     time.Duration // keep everything running this long after the report, for inspection
	Out      io.Writer
}

// run is the state of one run.
type run struct {
	o       Options
	pg      *pgCluster
	db      *sql.DB
	st      *sqlstore.DB
	imap    *proc
	imapAPI string // the IMAP server's HTTP address
	imapTLS string // host:port
	procs   []*proc
	token   string
	api     string
	ids     []int64 // account id by user index
	env     []string
	appends atomic.Int64
	rep     Report
}

// Report is what a run measured.
type Report struct {
	Accounts, Messages int
	FileLimit          uint64
	Connect            time.Duration // all accounts created through the API
	SyncedIdle         time.Duration // from the first account created until all synced and in IDLE
	Processes          []ProcReport
	NewMailP50         time.Duration
	NewMailP99         time.Duration
	NewMailMax         time.Duration
	NewMailCount       int
	Failover           *FailoverReport `json:",omitempty"`
	Rejoin             *RejoinReport   `json:",omitempty"`
	Restart            *RestartReport  `json:",omitempty"`
	Server             imapload.Stats
	StoredMessages     int64
	Duplicates         int64
	Lost               int64
}

// ProcReport is one process's share and memory once all are idle.
type ProcReport struct {
	Name                   string
	Accounts               int
	RSS, RSSBase           int64
	Heap, HeapBase         int64
	Goroutines             int64
	RSSPerAccount, HeapPer float64 // bytes
}

// FailoverReport: kill -9 of a worker.
type FailoverReport struct {
	Killed           string
	Held             int
	FirstTaken       time.Duration
	AllTaken         time.Duration
	MailDuringOutage int
	MailStoredAfter  time.Duration // the last of those messages stored, from the kill
}

// RejoinReport: the killed worker started again.
type RejoinReport struct {
	Share    int // the fair share it should reach
	Reached  int
	Took     time.Duration
	TimedOut bool
}

// RestartReport: PostgreSQL restarted.
type RestartReport struct {
	Restart   time.Duration // pg_ctl restart itself
	Resumed   time.Duration // from the restart's end until new mail is stored in every probe account
	AllLeases time.Duration // until every account is leased again
	Alive     bool          // every crmsync process still running
}

// Run runs the load test and writes its progress and report to o.Out.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &run{o: o}
	r.rep.Accounts, r.rep.Messages = o.Accounts, o.Messages
	defer r.cleanup()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"start PostgreSQL, the IMAP server and crmsync", r.setup},
		{"connect the mailboxes", r.connect},
		{"wait until all are synced and idle", r.waitSyncedIdle},
		{"measure memory and shares", r.measure},
		{"new-mail latency", r.newMail},
	}
	if o.Failover {
		steps = append(steps, struct {
			name string
			fn   func(context.Context) error
		}{"failover", r.failover}, struct {
			name string
			fn   func(context.Context) error
		}{"a worker joins", r.rejoin})
	}
	if o.Restart {
		steps = append(steps, struct {
			name string
			fn   func(context.Context) error
		}{"PostgreSQL restart", r.restartPG})
	}
	steps = append(steps, struct {
		name string
		fn   func(context.Context) error
	}{"check messages and sessions", r.check})
	for _, s := range steps {
		r.logf("== %s", s.name)
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return &r.rep, fmt.Errorf("%s: %w", s.name, err)
		}
		st, _ := r.serverStats()
		r.logf("   (%v; IMAP server: %d sessions, at most %d per account at once so far, %d overlaps)",
			time.Since(t).Round(time.Millisecond), st.Sessions, st.MaxPerUser, st.Overlaps)
	}
	b, _ := json.MarshalIndent(r.rep, "", "  ")
	os.WriteFile(filepath.Join(o.Dir, "report.json"), b, 0o644)
	r.rep.Print(o.Out)
	if o.Hold > 0 {
		r.logf("holding for %v (work directory %s)", o.Hold, o.Dir)
		select {
		case <-ctx.Done():
		case <-time.After(o.Hold):
		}
	}
	return &r.rep, nil
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Out, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func (r *run) cleanup() {
	for _, p := range r.procs {
		p.stop()
	}
	if r.imap != nil {
		r.imap.stop()
	}
	if r.st != nil {
		r.st.Close()
	}
	if r.db != nil {
		r.db.Close()
	}
	if r.pg != nil {
		r.pg.stop()
	}
}

func (r *run) setup(ctx context.Context) error {
	var err error
	if r.rep.FileLimit, err = raiseFileLimit(); err != nil {
		return err
	}
	if need := uint64(r.o.Accounts + 200); r.rep.FileLimit < need {
		return fmt.Errorf("the open-file limit is %d; the IMAP server needs %d: raise it (ulimit -n)", r.rep.FileLimit, need)
	}
	if r.pg, err = startPostgres(ctx, r.o.Dir); err != nil {
		return err
	}
	r.logf("PostgreSQL on port %d (its own cluster in %s)", r.pg.port, r.pg.data)
	if err := r.startIMAP(); err != nil {
		return err
	}
	key, err := exec.CommandContext(ctx, r.o.Crmsync, "keys", "generate").Output()
	if err != nil {
		return fmt.Errorf("crmsync keys generate: %w", err)
	}
	r.env = []string{"CRMSYNC_DB=" + r.pg.dsn("crmsync"), "CRMSYNC_SECRET_KEY=" + strings.TrimSpace(string(key)),
		"CRMSYNC_PRIVATE_HOSTS=127.0.0.1", "CRMSYNC_MAIL_CA_FILE=" + filepath.Join(r.o.Dir, "ca.pem"), "CRMSYNC_LOG_LEVEL=warn"}
	tokenFile := filepath.Join(r.o.Dir, "token.txt")
	init := exec.CommandContext(ctx, r.o.Crmsync, "init", "--org", "Load", "--admin-email", "admin@load.test", "--token-out", tokenFile)
	init.Env = append(os.Environ(), r.env...)
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("crmsync init: %v\n%s", err, out)
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	r.token = strings.TrimSpace(string(tok))
	if r.db, err = sql.Open("pgx", r.pg.dsn("crmsync")); err != nil {
		return err
	}
	if r.st, err = postgres.Open(ctx, r.pg.dsn("crmsync")); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	r.api = fmt.Sprintf("http://127.0.0.1:%d", port)
	serve, err := start("serve", r.o.Crmsync, filepath.Join(r.o.Dir, "serve.log"), []string{"serve", "--http", r.api[len("http://"):]}, r.env)
	if err != nil {
		return err
	}
	serve.metrics = r.api + "/metrics"
	r.procs = append(r.procs, serve)
	for i := 1; i <= r.o.Workers; i++ {
		name, bin := fmt.Sprintf("worker-%d", i), r.o.Crmsync
		if i == r.o.Workers && r.o.Baseline != "" {
			name, bin = "baseline", r.o.Baseline
		}
		if err := r.startWorker(name, bin); err != nil {
			return err
		}
	}
	for _, p := range r.procs {
		if err := waitFor(ctx, 60*time.Second, p.name+" to serve /metrics", func() (bool, error) {
			_, err := scrape(p.metrics, "go_goroutines")
			return err == nil, nil
		}); err != nil {
			return err
		}
	}
	time.Sleep(3 * time.Second) // let them settle before the baseline
	for _, p := range r.procs {
		pr, err := r.sample(p)
		if err != nil {
			return err
		}
		r.rep.Processes = append(r.rep.Processes, ProcReport{Name: p.name, RSSBase: pr.RSS, HeapBase: pr.Heap})
	}
	return nil
}

func (r *run) startWorker(name, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w, err := start(name, bin, filepath.Join(r.o.Dir, name+".log"), []string{"worker", "--metrics-addr", addr}, r.env)
	if err != nil {
		return err
	}
	w.metrics = "http://" + addr + "/metrics"
	for i, p := range r.procs {
		if p.name == name {
			r.procs[i] = w
			return nil
		}
	}
	r.procs = append(r.procs, w)
	return nil
}

// startIMAP starts the IMAP server and reads its addresses.
func (r *run) startIMAP() error {
	cmd := exec.Command(r.o.Server, "-users", strconv.Itoa(r.o.Accounts), "-messages", strconv.Itoa(r.o.Messages),
		"-ca", filepath.Join(r.o.Dir, "ca.pem"))
	logf, err := os.Create(filepath.Join(r.o.Dir, "imap.log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.imap = &proc{name: "imap", cmd: cmd}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("the IMAP server did not start (see %s): %w", logf.Name(), err)
	}
	var addrs struct{ IMAP, HTTP string }
	if err := json.Unmarshal(line, &addrs); err != nil {
		return err
	}
	r.imapTLS, r.imapAPI = addrs.IMAP, "http://"+addrs.HTTP
	r.logf("IMAP server %s (TLS), %d users × %d messages, pid %d", r.imapTLS, r.o.Accounts, r.o.Messages, cmd.Process.Pid)
	return nil
}

// sample is a process's memory now.
func (r *run) sample(p *proc) (ProcReport, error) {
	m, err := scrape(p.metrics, "go_memstats_heap_inuse_bytes", "go_goroutines", `crmsync_leases_held{kind="mail"}`)
	if err != nil {
		return ProcReport{}, fmt.Errorf("%s: %w", p.name, err)
	}
	rs, err := rss(p.pid())
	return ProcReport{Name: p.name, RSS: rs, Heap: int64(m["go_memstats_heap_inuse_bytes"]), Goroutines: int64(m["go_goroutines"]),
		Accounts: int(m[`crmsync_leases_held{kind="mail"}`])}, err
}

// connect creates the accounts through the REST API, 8 at a time.
func (r *run) connect(ctx context.Context) error {
	r.ids = make([]int64, r.o.Accounts)
	host, port, _ := strings.Cut(r.imapTLS, ":")
	p, _ := strconv.Atoi(port)
	t0 := time.Now()
	next := atomic.Int64{}
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= r.o.Accounts || ctx.Err() != nil {
					return
				}
				name := imapload.Username(i)
				body := map[string]any{"email": name + "@load.test", "password": imapload.Password,
					"imap": map[string]any{"host": host, "port": p, "security": "tls", "username": name}}
				var out struct{ ID int64 }
				if err := r.call(ctx, "POST", "/api/v1/mail-accounts", body, &out); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("account %s: %w", name, err) })
					return
				}
				r.ids[i] = out.ID
				if n := i + 1; n%1000 == 0 {
					r.logf("   %d accounts created (%v)", n, time.Since(t0).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	r.rep.Connect = time.Since(t0)
	return firstErr
}

// call makes an API request, retrying what the server says to retry.
func (r *run) call(ctx context.Context, method, path string, in, out any) error {
	b, _ := json.Marshal(in)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, method, r.api+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 300 {
			return json.Unmarshal(body, out)
		}
		if (resp.StatusCode == 429 || resp.StatusCode >= 500) && attempt < 10 {
			time.Sleep(time.Second)
			continue
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
}

// states counts the accounts by state.
func (r *run) states(ctx context.Context) (map[string]int, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT state, count(*) FROM mail_accounts GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

func (r *run) serverStats() (imapload.Stats, error) {
	var st imapload.Stats
	resp, err := http.Get(r.imapAPI + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// leases returns the mail leases by owner, and the owner of each account.
func (r *run) leases(ctx context.Context) (map[string]int, map[string]string, error) {
	ls, err := r.st.ListLeases(ctx)
	if err != nil {
		return nil, nil, err
	}
	by, owner := map[string]int{}, map[string]string{}
	for _, l := range ls {
		if l.Kind == "mail" {
			n := r.procName(l.Owner)
			by[n]++
			owner[l.Key] = n
		}
	}
	return by, owner, nil
}

// procName is the test's name of a lease owner (host/pid/random).
func (r *run) procName(owner string) string {
	parts := strings.Split(owner, "/")
	if len(parts) == 3 {
		for _, p := range r.procs {
			if strconv.Itoa(p.pid()) == parts[1] {
				return p.name
			}
		}
	}
	return owner
}

func (r *run) waitSyncedIdle(ctx context.Context) error {
	t0 := time.Now().Add(-r.rep.Connect) // from the first account created
	if r.rep.SyncedIdle > 0 {
		t0 = time.Now() // again, after a disturbance
	}
	last := time.Time{}
	return waitFor(ctx, r.o.Timeout, "all accounts synced and in IDLE", func() (bool, error) {
		states, err := r.states(ctx)
		if err != nil {
			return false, err
		}
		st, err := r.serverStats()
		if err != nil {
			return false, err
		}
		done := states["synced"] == r.o.Accounts && st.IdledUsers == r.o.Accounts
		if done || time.Since(last) > 10*time.Second {
			by, _, _ := r.leases(ctx)
			var mem []string
			for _, p := range r.procs {
				if rs, err := rss(p.pid()); err == nil {
					mem = append(mem, fmt.Sprintf("%s %d MiB", p.name, rs>>20))
				}
			}
			r.logf("   %v: states %v; IMAP sessions %d, in IDLE %d, idled users %d; leases %v; RSS %s",
				time.Since(t0).Round(time.Second), states, st.Sessions, st.Idling, st.IdledUsers, by, strings.Join(mem, ", "))
			last = time.Now()
		}
		if done && r.rep.SyncedIdle == 0 {
			r.rep.SyncedIdle = time.Since(t0)
		}
		return done, nil
	})
}

func (r *run) measure(ctx context.Context) error {
	time.Sleep(10 * time.Second) // the first syncs' garbage collected, buffers settled
	for i, p := range r.procs {
		s, err := r.sample(p)
		if err != nil {
			return err
		}
		pr := &r.rep.Processes[i]
		pr.RSS, pr.Heap, pr.Goroutines, pr.Accounts = s.RSS, s.Heap, s.Goroutines, s.Accounts
		if pr.Accounts > 0 {
			pr.RSSPerAccount = float64(pr.RSS-pr.RSSBase) / float64(pr.Accounts)
			pr.HeapPer = float64(pr.Heap-pr.HeapBase) / float64(pr.Accounts)
		}
	}
	return nil
}

// appendMail delivers a new message to user i and returns its Message-ID.
func (r *run) appendMail(i int) (string, time.Time, error) {
	id := fmt.Sprintf("n%d", r.appends.Add(1))
	at := time.Now()
	resp, err := http.Post(fmt.Sprintf("%s/append?user=%d&id=%s", r.imapAPI, i, id), "", nil)
	if err != nil {
		return "", at, err
	}
	defer resp.Body.Close()
	var out struct {
		MessageID string `json:"message_id"`
	}
	if resp.StatusCode != 200 {
		return "", at, fmt.Errorf("append: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.MessageID, at, err
}

// stored reports whether the message is in account id.
func (r *run) stored(ctx context.Context, id int64, mid string) (bool, error) {
	var n int
	err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM messages WHERE account_id = $1 AND message_id IN ($2, $3)", id, mid, "<"+mid+">").Scan(&n)
	return n > 0, err
}

// deliver appends a message to each of users, spaced by gap, and returns
// each one's latency until stored (from its append).
func (r *run) deliver(ctx context.Context, users []int, gap time.Duration) ([]time.Duration, error) {
	type pending struct {
		user int
		mid  string
		at   time.Time
	}
	var mu sync.Mutex
	var wait []pending
	errc := make(chan error, 1)
	go func() {
		for _, u := range users {
			mid, at, err := r.appendMail(u)
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			wait = append(wait, pending{u, mid, at})
			mu.Unlock()
			time.Sleep(gap)
		}
		errc <- nil
	}()
	var lat []time.Duration
	appended := false
	err := waitEvery(ctx, r.o.Timeout, 50*time.Millisecond, "new mail stored", func() (bool, error) {
		if !appended {
			select {
			case err := <-errc:
				if err != nil {
					return false, err
				}
				appended = true
			default:
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < len(wait); i++ {
			ok, err := r.stored(ctx, r.ids[wait[i].user], wait[i].mid)
			if err != nil {
				return false, nil // the database may be restarting
			}
			if ok {
				lat = append(lat, time.Since(wait[i].at))
				wait = slices.Delete(wait, i, i+1)
				i--
			}
		}
		return appended && len(wait) == 0, nil
	})
	return lat, err
}

func (r *run) newMail(ctx context.Context) error {
	users := rand.Perm(r.o.Accounts)[:min(r.o.NewMail, r.o.Accounts)]
	lat, err := r.deliver(ctx, users, 50*time.Millisecond)
	if err != nil {
		return err
	}
	r.rep.NewMailCount = len(lat)
	r.rep.NewMailP50, r.rep.NewMailP99, r.rep.NewMailMax = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	r.logf("   %d messages: median %v, p99 %v, max %v", len(lat), r.rep.NewMailP50.Round(time.Millisecond),
		r.rep.NewMailP99.Round(time.Millisecond), r.rep.NewMailMax.Round(time.Millisecond))
	return nil
}

func (r *run) failover(ctx context.Context) error {
	by, owner, err := r.leases(ctx)
	if err != nil {
		return err
	}
	var victim *proc
	for _, p := range r.procs {
		if p.name != "serve" && (victim == nil || by[p.name] > by[victim.name]) {
			victim = p
		}
	}
	if victim == nil {
		return errors.New("no worker to kill")
	}
	var held []string
	for k, o := range owner {
		if o == victim.name {
			held = append(held, k)
		}
	}
	fr := &FailoverReport{Killed: victim.name, Held: len(held)}
	r.rep.Failover = fr
	t0 := time.Now()
	victim.kill9()
	r.logf("   kill -9 %s (pid %d) holding %d accounts", victim.name, victim.pid(), len(held))
	// Mail for some of its accounts while nobody syncs them.
	byID := map[int64]int{}
	for i, id := range r.ids {
		byID[id] = i
	}
	var users []int
	for _, k := range held[:min(50, len(held))] {
		id, _ := strconv.ParseInt(k, 10, 64)
		users = append(users, byID[id])
	}
	fr.MailDuringOutage = len(users)
	var lat []time.Duration
	var derr error
	done := make(chan struct{})
	go func() { defer close(done); lat, derr = r.deliver(ctx, users, 0) }()
	err = waitFor(ctx, r.o.Timeout, "the killed worker's accounts taken over", func() (bool, error) {
		_, owner, err := r.leases(ctx)
		if err != nil {
			return false, nil
		}
		taken := 0
		for _, k := range held {
			if o, ok := owner[k]; ok && o != victim.name {
				taken++
			}
		}
		if taken > 0 && fr.FirstTaken == 0 {
			fr.FirstTaken = time.Since(t0)
		}
		if taken == len(held) {
			fr.AllTaken = time.Since(t0)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	<-done
	if derr != nil {
		return derr
	}
	if len(lat) > 0 {
		fr.MailStoredAfter = percentile(lat, 100)
	}
	r.logf("   taken over: first after %v, all after %v; the %d messages sent meanwhile stored within %v of the kill",
		fr.FirstTaken.Round(time.Millisecond), fr.AllTaken.Round(time.Millisecond), len(lat), fr.MailStoredAfter.Round(time.Millisecond))
	return nil
}

func (r *run) rejoin(ctx context.Context) error {
	name := r.rep.Failover.Killed
	bin := r.o.Crmsync
	if name == "baseline" {
		bin = r.o.Baseline
	}
	if err := r.startWorker(name, bin); err != nil {
		return err
	}
	rj := &RejoinReport{Share: r.o.Accounts / (r.o.Workers + 1) * 9 / 10}
	r.rep.Rejoin = rj
	t0 := time.Now()
	err := waitFor(ctx, 2*time.Minute, name+" to take its share", func() (bool, error) {
		by, _, err := r.leases(ctx)
		if err != nil {
			return false, nil
		}
		rj.Reached = by[name]
		return rj.Reached >= rj.Share, nil
	})
	rj.Took = time.Since(t0)
	if err != nil {
		rj.TimedOut = true
		r.logf("   %s holds %d accounts after %v (share %d)", name, rj.Reached, rj.Took.Round(time.Second), rj.Share)
	}
	// All synced again before the next step.
	return r.waitSyncedIdle(ctx)
}

func (r *run) restartPG(ctx context.Context) error {
	rr := &RestartReport{}
	r.rep.Restart = rr
	t0 := time.Now()
	if err := r.pg.restart(ctx); err != nil {
		return err
	}
	rr.Restart = time.Since(t0)
	t1 := time.Now()
	users := rand.Perm(r.o.Accounts)[:min(20, r.o.Accounts)]
	if _, err := r.deliver(ctx, users, 0); err != nil {
		return err
	}
	rr.Resumed = time.Since(t1)
	err := waitFor(ctx, r.o.Timeout, "every account leased again", func() (bool, error) {
		by, _, err := r.leases(ctx)
		if err != nil {
			return false, nil
		}
		n := 0
		for _, c := range by {
			n += c
		}
		return n == r.o.Accounts, nil
	})
	rr.AllLeases = time.Since(t1)
	r.logf("   restart took %v; new mail stored again %v after it; all accounts leased after %v", rr.Restart.Round(time.Millisecond),
		rr.Resumed.Round(time.Millisecond), rr.AllLeases.Round(time.Millisecond))
	rr.Alive = true
	for _, p := range r.procs {
		if p.cmd.ProcessState != nil || p.cmd.Process.Signal(syscall.Signal(0)) != nil {
			rr.Alive = false
		}
	}
	return err
}

func (r *run) check(ctx context.Context) error {
	if err := r.waitSyncedIdle(ctx); err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	st, err := r.serverStats()
	if err != nil {
		return err
	}
	r.rep.Server = st
	if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&r.rep.StoredMessages); err != nil {
		return err
	}
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT account_id, message_id FROM messages
		GROUP BY account_id, message_id HAVING count(*) > 1) d`).Scan(&r.rep.Duplicates); err != nil {
		return err
	}
	r.rep.Lost = st.Messages - r.rep.StoredMessages + r.rep.Duplicates
	return nil
}

// waitFor polls ok every half second until it says true, fails, or
// timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, ok func() (bool, error)) error {
	return waitEvery(ctx, timeout, 500*time.Millisecond, what, ok)
}

// waitEvery is waitFor polling every interval.
func waitEvery(ctx context.Context, timeout, every time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
