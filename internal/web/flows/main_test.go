package flows

import (
	"os"
	"testing"

	"github.com/crmsync/crmsync/internal/webtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	webtest.Close()
	os.Exit(code)
}

// noAxe fails the test when axe-core finds a serious or critical
// accessibility violation on the page.
func noAxe(t *testing.T, b *webtest.Browser, page string) {
	t.Helper()
	if v := b.Axe(); len(v) > 0 {
		t.Errorf("accessibility of %s: %+v", page, v)
	}
}
