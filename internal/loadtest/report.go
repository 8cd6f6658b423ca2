package loadtest

import (
	"fmt"
	"io"
	"time"
)

// Print writes the report as text.
func (r *Report) Print(w io.Writer) {
	kib := func(b float64) string { return fmt.Sprintf("%.0f KiB", b/1024) }
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	fmt.Fprintf(w, "\n%d accounts × %d messages over TLS; open-file limit %d\n", r.Accounts, r.Messages, r.FileLimit)
	fmt.Fprintf(w, "connected through the API in %s; all synced and in IDLE after %s\n", ms(r.Connect), ms(r.SyncedIdle))
	fmt.Fprintf(w, "\n%-9s %8s %9s %9s %9s %9s %11s %12s %13s\n", "PROCESS", "ACCOUNTS", "RSS", "RSS BASE", "HEAP", "HEAP BASE", "GOROUTINES", "RSS/ACCOUNT", "HEAP/ACCOUNT")
	for _, p := range r.Processes {
		fmt.Fprintf(w, "%-9s %8d %9s %9s %9s %9s %11d %12s %13s\n", p.Name, p.Accounts, mib(p.RSS), mib(p.RSSBase), mib(p.Heap), mib(p.HeapBase),
			p.Goroutines, kib(p.RSSPerAccount), kib(p.HeapPer))
	}
	fmt.Fprintf(w, "\nnew mail in %d mailboxes: median %s, p99 %s, max %s (append on the server to stored in the database)\n",
		r.NewMailCount, ms(r.NewMailP50), ms(r.NewMailP99), ms(r.NewMailMax))
	if f := r.Failover; f != nil {
		fmt.Fprintf(w, "failover: kill -9 of %s holding %d accounts; first taken over after %s, all after %s; %d messages sent meanwhile stored within %s\n",
			f.Killed, f.Held, ms(f.FirstTaken), ms(f.AllTaken), f.MailDuringOutage, ms(f.MailStoredAfter))
	}
	if j := r.Rejoin; j != nil {
		verdict := "reached"
		if j.TimedOut {
			verdict = "NOT reached"
		}
		fmt.Fprintf(w, "rejoin: the restarted worker holds %d accounts after %s (90%% of its share: %d, %s)\n", j.Reached, ms(j.Took), j.Share, verdict)
	}
	if x := r.Restart; x != nil {
		fmt.Fprintf(w, "PostgreSQL restart (%s): new mail stored again within %s, every account leased within %s; processes alive: %v\n",
			ms(x.Restart), ms(x.Resumed), ms(x.AllLeases), x.Alive)
	}
	fmt.Fprintf(w, "messages: %d on the server, %d stored, %d stored twice, %d missing\n", r.Server.Messages, r.StoredMessages, r.Duplicates, r.Lost)
	fmt.Fprintf(w, "IMAP sessions: at most %d per account at once (%d overlaps, %v); %d logins\n",
		r.Server.MaxPerUser, r.Server.Overlaps, r.Server.OverlapUsers, r.Server.Logins)
}
