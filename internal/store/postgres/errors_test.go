package postgres

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// The dialect recognises the errors the store turns into answers, also
// when wrapped.
func TestDialectErrors(t *testing.T) {
	d := Dialect()
	wrap := func(code, detail string) error {
		return fmt.Errorf("sqlstore: commit: %w", &pgconn.PgError{Code: code, Detail: detail})
	}
	for _, code := range []string{"40P01", "40001"} {
		if !d.IsRetryable(wrap(code, "")) {
			t.Errorf("%s is not retryable", code)
		}
	}
	for _, code := range []string{"23505", "53100", "53200", "57014"} {
		if d.IsRetryable(wrap(code, "")) {
			t.Errorf("%s is retryable", code)
		}
	}
	if !d.IsStorageFull(wrap("53100", "")) || d.IsStorageFull(wrap("53200", "")) {
		t.Error("only 53100 disk_full is a full disk")
	}
	col, inUse := d.ForeignKey(wrap("23503", `Key (company_id)=(5) is not present in table "companies".`))
	if col != "company_id" || inUse {
		t.Errorf("missing reference: column %q, in use %v", col, inUse)
	}
	col, inUse = d.ForeignKey(wrap("23503", `Key (id)=(5) is still referenced from table "contacts".`))
	if col != "" || !inUse {
		t.Errorf("delete of a referenced row: column %q, in use %v", col, inUse)
	}
}
