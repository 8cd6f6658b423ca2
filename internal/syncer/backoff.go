package syncer

import (
	"math/rand/v2"
	"time"
)

// backoff returns base·2^(n-1) capped at max, ±20 % jitter.
// TODO(merge): the PIM loop moves to connerr.Retry with the error taxonomy.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - d/5 + time.Duration(rand.Int64N(int64(d)/5*2+1))
}
