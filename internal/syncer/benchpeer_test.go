package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/syncer"
)

// benchChildEnv holds the JSON childParams of a BenchmarkInitialSync child
// process; without it TestInitialSyncBenchChild does nothing.
const benchChildEnv = "CRMSYNC_BENCH_CHILD"

// childResultPrefix starts the child's result line on stdout.
const childResultPrefix = "CRMSYNC_BENCH_RESULT "

type childParams struct {
	Host    string
	Port    int
	User    string
	Pass    string
	Store   string // "sqlite" or "postgres"
	DSN     string // SQLite file or PostgreSQL DSN (fresh, unmigrated)
	Want    int    // messages in INBOX
	LogPath string
	Timeout time.Duration
}

func (p childParams) encode() string {
	b, _ := json.Marshal(p)
	return string(b)
}

type childResult struct {
	Elapsed      time.Duration // account creation → state synced
	ProgressDone int64
	RSSAtSynced  int64 // bytes, VmHWM when synced
	PeakRSS      int64 // bytes, VmHWM at the end (loops stopped)
	HeapPeak     int64 // bytes, max HeapInuse+StackInuse sampled every 100 ms
	OrgID        int64
	UserID       int64
	AccountID    int64
	Error        string
}

func parseChildResult(out string) (childResult, error) {
	var res childResult
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, childResultPrefix); ok {
			return res, json.Unmarshal([]byte(rest), &res)
		}
	}
	return res, errors.New("no result line from the child process")
}

// TestInitialSyncBenchChild is BenchmarkInitialSync's child process (this
// test binary re-executed with CRMSYNC_BENCH_CHILD set): it runs crmsync's
// initial sync of one mailbox the way the server does, so that the parent
// measures this process's peak RSS. In a normal test run it returns at once.
func TestInitialSyncBenchChild(t *testing.T) {
	raw := os.Getenv(benchChildEnv)
	if raw == "" {
		return
	}
	var p childParams
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatalf("%s: %v", benchChildEnv, err)
	}
	res, err := childSync(p)
	if err != nil {
		res.Error = err.Error()
	}
	// VmHWM, not getrusage's Maxrss: that one starts at the parent's RSS
	// (Linux carries the high-water mark of the address space exec'd from).
	res.PeakRSS = procHWM("/proc/self/status")
	out, _ := json.Marshal(res)
	fmt.Printf("\n%s%s\n", childResultPrefix, out)
}

// childSync creates the account and runs syncer.Run with the server's
// defaults (only Dial and Parse set, as cmd/crmsync does) until the account
// is synced.
func childSync(p childParams) (res childResult, err error) {
	ctx := context.Background()
	st, err := openBenchStore(ctx, p.Store, p.DSN)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return res, err
	}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return res, err
	}
	defer logf.Close()
	logger := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		return res, err
	}
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "bench", AdminEmail: "admin@bench.example", TokenName: "t", TokenHash: hash, TokenPrefix: prefix})
	if err != nil {
		return res, err
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	res.OrgID, res.UserID = org.ID, admin.ID

	// The clock starts at account creation: verify the login, seal the
	// password, save the account (what POST /mail-accounts does).
	start := time.Now()
	conn := &mailconn.Connector{Credentials: st, Keys: kr, Logger: logger, Guard: testPeers}
	settings := crm.MailSettings{IMAP: &crm.ServerSettings{Host: p.Host, Port: p.Port, Security: "none", Username: p.User}, Source: "manual"}
	if err := conn.Verify(ctx, settings, p.Pass, p.Pass); err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	sealed, err := conn.Seal("cred-1", []byte(p.Pass))
	if err != nil {
		return res, err
	}
	if err := st.PutCredential(ctx, store.Credential{ID: "cred-1", OrgID: org.ID, Purpose: "mail_password", Ciphertext: sealed}); err != nil {
		return res, err
	}
	acct, err := st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: admin.ID, Email: p.User + "@crmsync.test", Provider: "imap",
		Mode: crm.ModeSync, Settings: settings, CredentialID: "cred-1", State: crm.StateConnecting})
	if err != nil {
		return res, err
	}
	res.AccountID = acct.ID

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		syncer.Run(runCtx, syncer.Config{Store: st, Logger: logger, Mail: &syncer.MailConfig{Dial: conn.Dial, Engine: mailsync.Config{Parse: conn.Parse}}})
	}()
	defer func() { cancel(); <-done }()

	deadline := start.Add(p.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var ms runtime.MemStats
	for k := 0; ; k++ {
		if k%5 == 0 {
			runtime.ReadMemStats(&ms)
			res.HeapPeak = max(res.HeapPeak, int64(ms.HeapInuse+ms.StackInuse))
		}
		a, err := st.GetMailAccount(ctx, v, acct.ID)
		if err != nil {
			return res, err
		}
		res.ProgressDone = a.ProgressDone
		switch a.State {
		case crm.StateSynced:
			res.Elapsed = time.Since(start)
			res.RSSAtSynced = procHWM("/proc/self/status")
			return res, nil
		case crm.StateAuthFailed, crm.StateProviderBlocked, crm.StateUnreachable, crm.StateThrottled, crm.StateSyncError:
			return res, fmt.Errorf("account state %s: %s", a.State, a.ErrorMessage)
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("not synced after %v: state %s, %d of %d", p.Timeout, a.State, a.ProgressDone, a.ProgressTotal)
		}
		<-tick.C
	}
}
