package sqlite_test

import (
	"testing"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.SQLite) }

// go test -bench . -benchtime 2000x ./internal/store/sqlite
func BenchmarkContacts100k(b *testing.B) { storetest.BenchContacts(b, storetest.SQLite, 100_000) }

// go test -run '^$' -bench Relink -benchtime 1x ./internal/store/sqlite
func BenchmarkRelink1000Contacts100kEmails(b *testing.B) {
	storetest.BenchRelink(b, storetest.SQLite, 100_000)
}

func TestUpgrades(t *testing.T) { storetest.RunUpgrades(t, storetest.SQLiteEmpty) }
