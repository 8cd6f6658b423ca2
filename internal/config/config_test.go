package config

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the option table in doc.go")

// TestDocTable keeps the table in the package documentation equal to
// MarkdownTable.
func TestDocTable(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	// The table is the preformatted block under the "# Options" heading.
	const begin = "// # Options\n//\n"
	i := bytes.Index(src, []byte(begin))
	if i < 0 {
		t.Fatalf("doc.go lacks the heading %q", begin)
	}
	j := i + len(begin)
	for bytes.HasPrefix(src[j:], []byte("//\t")) {
		j += bytes.IndexByte(src[j:], '\n') + 1
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimSuffix(MarkdownTable(), "\n"), "\n") {
		want.WriteString("//\t" + line)
	}
	want.WriteString("\n")
	got := string(src[i+len(begin) : j])
	if got == want.String() {
		return
	}
	if *update {
		out := append(append(append([]byte{}, src[:i+len(begin)]...), want.String()...), src[j:]...)
		if err := os.WriteFile("doc.go", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the option table in doc.go is out of date: run go test ./internal/config -run TestDocTable -update\n got:\n%s\nwant:\n%s", got, want.String())
}
