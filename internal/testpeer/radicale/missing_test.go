package radicale

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatal end Start without ending
// the real test.
type recorder struct {
	testing.TB
	skipped, fatal string
}

type stop struct{}

func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stop{})
}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stop{})
}

func startWithout(t *testing.T) (r *recorder) {
	r = &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != (stop{}) {
			panic(v)
		}
	}()
	Start(r, nil)
	t.Fatal("Start returned without radicale")
	return r
}

// TestMissingRadicale: without radicale, skip locally but fail on CI.
func TestMissingRadicale(t *testing.T) {
	savedDirs, savedPythons := radicaleDirs, pythons
	radicaleDirs, pythons = nil, []string{"python3"}
	t.Cleanup(func() { radicaleDirs, pythons = savedDirs, savedPythons })
	t.Setenv("PATH", t.TempDir())

	t.Setenv("CI", "")
	if r := startWithout(t); r.fatal != "" || !strings.Contains(r.skipped, "apt-get install radicale") {
		t.Errorf("locally: skipped %q, fatal %q; want a skip naming the radicale package", r.skipped, r.fatal)
	}
	t.Setenv("CI", "true")
	if r := startWithout(t); r.skipped != "" || !strings.Contains(r.fatal, "install radicale") {
		t.Errorf("on CI: skipped %q, fatal %q; want a failure saying install radicale", r.skipped, r.fatal)
	}
}
