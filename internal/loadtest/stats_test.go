package loadtest

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 || percentile([]time.Duration{7}, 99) != 7 {
		t.Error("percentile of none or one")
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentile sorted its argument")
	}
}

func TestParseMetrics(t *testing.T) {
	body := []byte(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 511
go_memstats_heap_inuse_bytes 1.2607488e+07
crmsync_leases_held{kind="mail"} 100
crmsync_leases_held{kind="pim"} 0
`)
	m := parseMetrics(body, "go_goroutines", "go_memstats_heap_inuse_bytes", `crmsync_leases_held{kind="mail"}`, "absent")
	if m["go_goroutines"] != 511 || m["go_memstats_heap_inuse_bytes"] != 12607488 || m[`crmsync_leases_held{kind="mail"}`] != 100 || len(m) != 3 {
		t.Errorf("parsed %v", m)
	}
}
