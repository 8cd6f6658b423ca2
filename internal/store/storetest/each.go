package storetest

import "testing"

// Each runs fn once per database, as a subtest named after it: SQLite, and
// PostgreSQL (skipped without CRMSYNC_TEST_POSTGRES, required under CI).
func Each(t *testing.T, fn func(t *testing.T, f Factory)) {
	for _, db := range []struct {
		name string
		f    Factory
	}{{"sqlite", SQLite}, {"postgres", Postgres}} {
		t.Run(db.name, func(t *testing.T) { fn(t, db.f) })
	}
}
