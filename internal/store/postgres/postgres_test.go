package postgres_test

import (
	"testing"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.Postgres) }

// CRMSYNC_TEST_POSTGRES=... go test -bench . -benchtime 2000x ./internal/store/postgres
func BenchmarkContacts100k(b *testing.B) { storetest.BenchContacts(b, storetest.Postgres, 100_000) }

// CRMSYNC_TEST_POSTGRES=... go test -run '^$' -bench Relink -benchtime 1x ./internal/store/postgres
func BenchmarkRelink1000Contacts100kEmails(b *testing.B) {
	storetest.BenchRelink(b, storetest.Postgres, 100_000)
}

func TestUpgrades(t *testing.T) { storetest.RunUpgrades(t, storetest.PostgresEmpty) }
