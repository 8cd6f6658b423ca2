package main

import (
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/netguard"
)

// networkGuard is the one network guard of the process, from
// --private-hosts: every connection crmsync makes for a user (mail,
// CardDAV/CalDAV, autoconfiguration) goes through it.
func networkGuard(cfg config.Config) (*netguard.Guard, error) {
	g, err := netguard.Parse(cfg.PrivateHosts)
	if err != nil {
		return nil, usageErrorf("--private-hosts: %v", err)
	}
	return g, nil
}
