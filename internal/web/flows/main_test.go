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
