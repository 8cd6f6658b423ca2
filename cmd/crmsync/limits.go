package main

import (
	"strconv"

	"github.com/crmsync/crmsync/internal/auth"
)

// parseHashMemory reads --password-hash-memory, in MiB, as bytes (0: the
// default).
func parseHashMemory(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mib, err := strconv.ParseInt(s, 10, 64)
	if err != nil || mib < 2*auth.HashMemory>>20 || mib > 1<<20 {
		return 0, usageErrorf("--password-hash-memory: %q is not a number of MiB of at least %d (two hashes), like 256", s, 2*auth.HashMemory>>20)
	}
	return mib << 20, nil
}
