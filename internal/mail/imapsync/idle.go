package imapsync

import (
	"context"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/crmsync/crmsync/internal/connerr"
)

// pollInterval is how often Idle sends NOOP to a server without IDLE
// (RFC 3501 §6.1.2: NOOP is the way to poll); Conn.pollEvery in tests.
const pollInterval = 30 * time.Second

// Idle waits for news on the selected folder with IDLE (RFC 2177): new or
// expunged messages or flag changes (EXISTS, EXPUNGE, FETCH) return true;
// max (at most MaxIdle; 0 means MaxIdle) or ctx ending return false. Ending
// IDLE takes a DONE and the server's OK, so the connection stays usable,
// also when ctx ends (then ctx.Err() is returned). News that arrived during
// earlier commands returns true at once.
func (c *Conn) Idle(ctx context.Context, max time.Duration) (changed bool, err error) {
	if max <= 0 || max > MaxIdle {
		max = MaxIdle
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := c.needSelected("IDLE"); err != nil {
		return false, err
	}
	if err := c.usable(); err != nil {
		return false, err
	}
	select {
	case <-c.events:
		return true, nil
	default:
	}
	if !c.caps.Idle {
		return c.poll(ctx, max)
	}

	// Starting waits for the server's continuation request.
	c.dog.start(c.cfg.CommandTimeout)
	stop := context.AfterFunc(ctx, func() { c.kill(killedByContext) })
	cmd, err := c.c.Idle()
	stopped := stop()
	c.dog.stop()
	if err != nil {
		return false, c.fail(ctx, err, phaseCommand, "IDLE")
	}
	if !stopped {
		// ctx ended as the server said "+ idling": the socket is closed.
		return false, c.fail(ctx, context.Cause(ctx), phaseCommand, "IDLE")
	}

	timer := time.NewTimer(max)
	defer timer.Stop()
	var ctxErr error
	select {
	case <-c.events:
		changed = true
	case <-timer.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	case <-c.c.Closed():
		// The server hung up; stopIdle reports it.
	}
	if err := c.stopIdle(cmd); err != nil {
		return false, err
	}
	if !changed {
		// Something that came in while we were saying DONE counts too.
		select {
		case <-c.events:
			changed = true
		default:
		}
	}
	return changed, ctxErr
}

// stopIdle sends DONE (Close) and waits for the tagged reply (Wait), from
// the caller's goroutine: Wait has no timeout of its own, so it runs
// beside a timer, and the watchdog kills a server that never answers.
func (c *Conn) stopIdle(cmd *imapclient.IdleCommand) error {
	d := c.cfg.CommandTimeout
	c.dog.start(d)
	defer c.dog.stop()
	bg := context.Background() // the caller's ctx may be over: DONE must still go out
	if err := cmd.Close(); err != nil {
		return c.fail(bg, err, phaseCommand, "IDLE")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(d + time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		return c.fail(bg, err, phaseCommand, "IDLE")
	case <-timer.C:
		c.kill(killedByWatchdog)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		e := c.cls.fault(connerr.Unreachable, nil, "%s did not end IDLE (nothing received for %s).", c.cfg.Host, d)
		c.setBroken(e)
		return e
	}
}

// poll stands in for IDLE on servers without it: NOOP every pollInterval
// until something changes or max passes.
func (c *Conn) poll(ctx context.Context, max time.Duration) (bool, error) {
	deadline := time.Now().Add(max)
	for {
		wait := min(c.pollEvery, time.Until(deadline))
		if wait <= 0 {
			return false, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		o, err := c.begin(ctx, "NOOP")
		if err != nil {
			return false, err
		}
		err = c.c.Noop().Wait()
		o.end()
		if err != nil {
			return false, o.fail(err)
		}
		select {
		case <-c.events:
			return true, nil
		default:
		}
	}
}
