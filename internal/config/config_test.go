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

func TestParseDB(t *testing.T) {
	tests := []struct {
		dsn, kind, target, err string
	}{
		{dsn: "crmsync.db", kind: SQLite, target: "crmsync.db"},
		{dsn: "./data/crm.db", kind: SQLite, target: "./data/crm.db"},
		{dsn: "/var/lib/crmsync/crmsync.db", kind: SQLite, target: "/var/lib/crmsync/crmsync.db"},
		{dsn: "sqlite:crm.db", kind: SQLite, target: "crm.db"},
		{dsn: "sqlite:///var/lib/crm.db", kind: SQLite, target: "/var/lib/crm.db"},
		{dsn: "sqlite://crm.db", kind: SQLite, target: "crm.db"},
		{dsn: "file:crm.db", kind: SQLite, target: "crm.db"},
		{dsn: "FILE:///tmp/crm.db", kind: SQLite, target: "/tmp/crm.db"},
		{dsn: "postgres://crm@db.internal:5432/crm?sslmode=verify-full", kind: Postgres, target: "postgres://crm@db.internal:5432/crm?sslmode=verify-full"},
		{dsn: "postgresql://crm@db/crm", kind: Postgres, target: "postgresql://crm@db/crm"},
		{dsn: "Postgres://crm@db/crm", kind: Postgres, target: "Postgres://crm@db/crm"},
		{dsn: "", err: "empty database"},
		{dsn: "sqlite:", err: "empty database"},
		{dsn: "crm.db?mode=ro", err: "must not contain"},
		{dsn: "host=db dbname=crm", err: "postgres:// URL"},
	}
	for _, tt := range tests {
		kind, target, err := ParseDB(tt.dsn)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDB(%q): error %v, want one with %q", tt.dsn, err, tt.err)
			}
			continue
		}
		if err != nil || kind != tt.kind || target != tt.target {
			t.Errorf("ParseDB(%q) = %q, %q, %v; want %q, %q", tt.dsn, kind, target, err, tt.kind, tt.target)
		}
	}
}

func TestRedactDB(t *testing.T) {
	for dsn, want := range map[string]string{
		"crm.db":                                      "crm.db",
		"postgres://crm:hunter2@db/crm":               "postgres://crm:xxxxx@db/crm",
		"postgres://crm@db/crm?password=hunter2":      "postgres://crm@db/crm?password=xxxxx",
		"postgresql://crm@db/crm?sslmode=verify-full": "postgresql://crm@db/crm?sslmode=verify-full",
	} {
		if got := RedactDB(dsn); got != want {
			t.Errorf("RedactDB(%q) = %q, want %q", dsn, got, want)
		}
	}
}

func TestFlagSet(t *testing.T) {
	env := map[string]string{"CRMSYNC_LOG_FORMAT": "JSON", "CRMSYNC_HTTP": ":9090"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var cfg Config
	fs := NewFlagSet("serve", "Serves.", lookup)
	cfg.RegisterDB(fs)
	fs.String(&cfg.HTTPAddr, HTTP)
	cfg.RegisterLog(fs)
	if err := fs.Parse([]string{"--http", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	want := Config{DB: "crmsync.db", HTTPAddr: "127.0.0.1:1", LogLevel: "info", LogFormat: "json"}
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}

	var help bytes.Buffer
	fs.Usage(&help)
	for _, s := range []string{"Usage: crmsync serve [flags]", "--db DSN", "(env CRMSYNC_DB, default crmsync.db)",
		"--log-level LEVEL", "(env CRMSYNC_LOG_FORMAT, default text)"} {
		if !strings.Contains(help.String(), s) {
			t.Errorf("help lacks %q:\n%s", s, help.String())
		}
	}
	for _, line := range strings.Split(help.String(), "\n") {
		if len(line) > 80 {
			t.Errorf("help line longer than 80 columns: %q", line)
		}
	}
	if err := NewFlagSet("x", "", lookup).Parse([]string{"-h"}); err != ErrHelp {
		t.Errorf("-h: %v, want ErrHelp", err)
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	Config{LogLevel: "warn", LogFormat: "json"}.Logger(&b).Info("hidden")
	Config{LogLevel: "warn", LogFormat: "json"}.Logger(&b).Warn("shown")
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("log output %q", s)
	}
}
