package main

import (
	"context"
	"log/slog"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/syncer"
)

// newPIMConnector builds what the API and the sync loops use to reach
// CardDAV and CalDAV servers.
func newPIMConnector(guard *netguard.Guard, creds store.Credentials, kr *secret.Keyring, log *slog.Logger) *pimconn.Connector {
	return &pimconn.Connector{Credentials: creds, Keys: kr, Guard: guard, Logger: log}
}

// pimConfig is the PIM sync loops' wiring: the connector's targets as the
// syncer takes them, from the collections the store knows when it can.
func pimConfig(conn *pimconn.Connector, st store.PIM) *syncer.PIMConfig {
	return &syncer.PIMConfig{Open: func(ctx context.Context, a crm.PIMAccount) ([]syncer.PIMTarget, error) {
		known, err := st.PIMCollections(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		ts, err := conn.Open(ctx, a, known)
		if err != nil {
			return nil, err
		}
		out := make([]syncer.PIMTarget, len(ts))
		for i, t := range ts {
			out[i] = syncer.PIMTarget{Collection: t.Collection, Warning: t.Warning, Remote: t.Remote}
		}
		return out, nil
	}}
}
