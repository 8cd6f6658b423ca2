// Package lease runs work that must have at most one owner at a time across
// every crmsync process sharing a database (DESIGN §10): one sync loop per
// mailbox or PIM account, one leader for singleton maintenance.
//
// A lease is claimed with a time to live and renewed well before it ends
// (every TTL/3 by default). Work runs under a context that is cancelled as
// soon as a renewal fails, and every write it makes carries the lease's
// Fence, which the store checks inside the write's transaction: even a
// process that stalled past its lease (a long GC pause, a frozen VM) cannot
// write after another has taken over.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// Config tunes the timing. Zero fields take the defaults.
type Config struct {
	TTL   time.Duration // how long a claim lasts without renewal (30 s)
	Renew time.Duration // how often the holder renews (TTL/3)
	Retry time.Duration // how often a non-holder tries to claim (TTL/3, jittered)
	// Renewer, when set, renews the leases of Hold (its Run must be
	// running) instead of a goroutine per Hold.
	Renewer *Renewer
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = 30 * time.Second
	}
	if c.Renew <= 0 {
		c.Renew = c.TTL / 3
	}
	if c.Retry <= 0 {
		c.Retry = c.TTL / 3
	}
	return c
}

// NewOwner returns a name for this process that is unique across restarts:
// host, pid and a random suffix. A restarted process must not believe it
// still holds its predecessor's leases.
func NewOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// ErrLost is returned by Hold when the lease was lost while fn ran.
var ErrLost = errors.New("lease: lost")

// Hold claims the lease (failing at once with store.ErrLeaseHeld if another
// owner has it), runs fn while renewing it, and releases it when fn returns.
// fn's context is cancelled if a renewal fails; Hold then returns ErrLost
// unless fn returned an error of its own.
func Hold(ctx context.Context, st store.Leases, kind, key, owner string, cfg Config, fn func(ctx context.Context, f store.Fence) error) error {
	cfg = cfg.withDefaults()
	l, err := st.ClaimLease(ctx, kind, key, owner, cfg.TTL)
	if err != nil {
		return err
	}
	if cfg.Renewer != nil {
		return holdShared(ctx, st, l, fn, cfg.Renewer)
	}
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.Renew)
		defer t.Stop()
		for {
			select {
			case <-workCtx.Done():
				return
			case <-t.C:
				nl, err := st.RenewLease(workCtx, l, cfg.TTL)
				if err == nil {
					l = nl
					continue
				}
				if workCtx.Err() != nil {
					return
				}
				// A failed renewal for another reason (database briefly
				// unreachable) is retried until the lease would end: only
				// then is the work stopped.
				if errors.Is(err, store.ErrLeaseLost) || time.Now().After(l.ExpiresAt.Add(-cfg.Renew/2)) {
					close(lost)
					cancel()
					return
				}
			}
		}
	}()
	ferr := fn(workCtx, l.Fence())
	cancel()
	<-done
	select {
	case <-lost:
		if ferr == nil || errors.Is(ferr, context.Canceled) {
			return ErrLost
		}
		return ferr
	default:
	}
	return release(st, l, ferr)
}

// release gives l up and returns ferr. It uses a fresh context: the
// caller's may be done, and a clean hand-over saves the next holder a
// whole TTL.
func release(st store.Leases, l store.Lease, ferr error) error {
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_ = st.ReleaseLease(rctx, l)
	return ferr
}

// Leader runs fn every interval for as long as ctx lasts, but only in the
// one process that holds the lease (kind, key): the others wait, trying to
// claim it every Retry, and one of them takes over within the TTL when the
// leader dies. Errors from fn are given to report and do not end the loop.
func Leader(ctx context.Context, st store.Leases, kind, key, owner string, cfg Config, interval time.Duration,
	fn func(ctx context.Context, f store.Fence) error, report func(error)) {
	cfg = cfg.withDefaults()
	if report == nil {
		report = func(error) {}
	}
	for ctx.Err() == nil {
		err := Hold(ctx, st, kind, key, owner, cfg, func(ctx context.Context, f store.Fence) error {
			for {
				if err := fn(ctx, f); err != nil && ctx.Err() == nil {
					report(err)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(interval):
				}
			}
		})
		if err != nil && !errors.Is(err, store.ErrLeaseHeld) && !errors.Is(err, context.Canceled) {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(cfg.Retry)):
		}
	}
}

// jitter returns d ± 20 %, so that waiting processes do not claim in step.
func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)/5*2+1))
	if err != nil {
		return d
	}
	return d - d/5 + time.Duration(n.Int64())
}

// ReapLocal releases the leases held by processes of this host that no
// longer run (owner names carry host and pid, see NewOwner). A server
// restarted after a crash thus resumes its work at once instead of waiting
// out its predecessor's TTL. A lease whose process may still run — another
// host, or a live pid — is left alone: only its expiry can free it.
func ReapLocal(ctx context.Context, st store.Leases) (int, error) {
	host, _ := os.Hostname()
	leases, err := st.ListLeases(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range leases {
		h, pid, ok := ownerProcess(l.Owner)
		if !ok || h != host || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := st.ReleaseLease(ctx, l); err == nil {
			n++
		}
	}
	return n, nil
}

// ownerProcess splits an owner name made by NewOwner.
func ownerProcess(owner string) (host string, pid int, ok bool) {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	return parts[0], pid, err == nil && pid > 0
}
