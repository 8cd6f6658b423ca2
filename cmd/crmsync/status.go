package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func statusCommand() *command {
	return &command{
		name:    "status",
		summary: "print an overview of accounts, sync lag, outbox and leases",
		help: "Prints what an operator watches, read from the database (the same figures /metrics serves): accounts by " +
			"provider and state, the failing ones with their error codes, how far behind the oldest sync is, the mail " +
			"waiting to be sent and which process holds how many accounts. It changes nothing and needs no secret key.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.Bool(&cfg.StatusJSON, config.StatusJSON)
		},
		run: runStatus,
	}
}

// statusReport is what `crmsync status` prints; its JSON is the --json output.
type statusReport struct {
	At       time.Time            `json:"at"`
	Accounts []accountRow         `json:"accounts"`
	Failing  failing              `json:"failing"`
	Oldest   map[string]*lagEntry `json:"oldest_sync"` // by kind; null when no account of the kind syncs
	Outbox   outboxDepth          `json:"outbox"`
	Leases   []leaseRow           `json:"leases"`
}

type accountRow struct {
	Kind      string           `json:"kind"`
	Provider  string           `json:"provider"`
	State     crm.AccountState `json:"state"`
	ErrorCode string           `json:"error_code,omitempty"`
	Count     int64            `json:"count"`
}

type failing struct {
	Count  int64            `json:"count"`
	ByCode map[string]int64 `json:"by_code"`
}

type lagEntry struct {
	At         time.Time `json:"at"`
	LagSeconds int64     `json:"lag_seconds"`
}

type outboxDepth struct {
	Queued  int64 `json:"queued"`
	Sending int64 `json:"sending"`
}

type leaseRow struct {
	Owner string `json:"owner"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

func runStatus(ctx context.Context, a *app, cfg config.Config) error {
	db, err := openStore(ctx, cfg.DB, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.RequireCurrent(ctx, db); err != nil {
		return err
	}
	ov, err := readOverview(ctx, db, time.Now())
	if err != nil {
		return fmt.Errorf("reading %s: %w", db.display, err)
	}
	if cfg.StatusJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ov)
	}
	return writeOverviewText(a.stdout, ov)
}

// readOverview gathers the overview as of now.
func readOverview(ctx context.Context, st store.Store, now time.Time) (statusReport, error) {
	ov := statusReport{At: now.UTC(), Failing: failing{ByCode: map[string]int64{}}, Oldest: map[string]*lagEntry{},
		Accounts: []accountRow{}, Leases: []leaseRow{}}
	counts, err := st.AccountCounts(ctx)
	if err != nil {
		return ov, err
	}
	for _, c := range counts {
		ov.Accounts = append(ov.Accounts, accountRow{Kind: c.Kind, Provider: c.Provider, State: c.State, ErrorCode: c.ErrorCode, Count: c.Count})
		if c.ErrorCode != "" && c.State != crm.StateDisconnected {
			ov.Failing.Count += c.Count
			ov.Failing.ByCode[c.ErrorCode] += c.Count
		}
	}
	for _, kind := range []string{store.AccountKindMail, store.AccountKindPIM} {
		ov.Oldest[kind] = nil
		if t := store.OldestSync(counts, kind); t != nil {
			ov.Oldest[kind] = &lagEntry{At: t.UTC(), LagSeconds: int64(max(0, now.Sub(*t)).Seconds())}
		}
	}
	if ov.Outbox.Queued, ov.Outbox.Sending, err = st.OutboxDepth(ctx); err != nil {
		return ov, err
	}
	leases, err := st.ListLeases(ctx)
	if err != nil {
		return ov, err
	}
	held := map[leaseRow]int{}
	for _, l := range leases {
		held[leaseRow{Owner: l.Owner, Kind: l.Kind}]++
	}
	for k, n := range held {
		k.Count = n
		ov.Leases = append(ov.Leases, k)
	}
	slices.SortFunc(ov.Leases, func(a, b leaseRow) int { return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Kind, b.Kind)) })
	return ov, nil
}

// writeOverviewText prints the overview as tables for a terminal.
func writeOverviewText(w io.Writer, ov statusReport) error {
	fmt.Fprintln(w, "Accounts:")
	if len(ov.Accounts) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(ov.Accounts) > 0 {
		fmt.Fprintln(tw, "KIND\tPROVIDER\tSTATE\tERROR\tCOUNT")
	}
	for _, r := range ov.Accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Kind, r.Provider, r.State, cmp.Or(r.ErrorCode, "-"), r.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	codes := make([]string, 0, len(ov.Failing.ByCode))
	for c, n := range ov.Failing.ByCode {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	slices.Sort(codes)
	fmt.Fprintf(w, "\nFailing accounts: %d", ov.Failing.Count)
	if len(codes) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(codes, ", "))
	}
	fmt.Fprintln(w)
	for _, kind := range []string{store.AccountKindMail, store.AccountKindPIM} {
		e := ov.Oldest[kind]
		if e == nil {
			fmt.Fprintf(w, "Oldest %s sync: no %s account syncs\n", kind, kind)
			continue
		}
		fmt.Fprintf(w, "Oldest %s sync: %s ago (%s)\n", kind, time.Duration(e.LagSeconds)*time.Second, e.At.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Outbox: %d queued, %d sending\n\nLeases (which process syncs how many accounts):\n", ov.Outbox.Queued, ov.Outbox.Sending)
	if len(ov.Leases) == 0 {
		fmt.Fprintln(w, "  (none held)")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(ov.Leases) > 0 {
		fmt.Fprintln(tw, "OWNER\tKIND\tCOUNT")
	}
	for _, l := range ov.Leases {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", l.Owner, l.Kind, l.Count)
	}
	return tw.Flush()
}
