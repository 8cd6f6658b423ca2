package postgres_test

import (
	"testing"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.Postgres) }

// CRMSYNC_TEST_POSTGRES=... go test -bench . -benchtime 2000x ./internal/store/postgres
func BenchmarkContacts100k(b *testing.B) { storetest.BenchContacts(b, storetest.Postgres, 100_000) }
