package pim

import "time"

// Tombstone records that a mapped item was deleted on one side. Deletions
// are never propagated (DESIGN §9): the copy on the other side is left as
// it is, and the engine never recreates the deleted one. A user who wants
// the item gone everywhere deletes it on both sides, as with Zendesk Sell's
// Exchange sync.
//
// The tombstone stays with the mapping (the store keeps it in pim_items) so
// that later passes — incremental or a full listing after a sync token
// expired — recognise the item and leave it alone: the surviving copy's
// changes are no longer synchronised, and the remote copy's idempotency
// stamp is not read as a new item to import.
type Tombstone struct {
	CRMID     string    `json:"crm_id"`
	RemoteID  string    `json:"remote_id"`
	DeletedOn Side      `json:"deleted_on"` // the side that no longer has the item
	At        time.Time `json:"at"`         // when the engine noticed
}

// IsZero reports whether t records nothing (the item is not tombstoned).
func (t Tombstone) IsZero() bool { return t.DeletedOn == "" }

// Action is what the engine does with one item in a pass. None of the
// actions deletes anything, and none writes an item back to a side that
// deleted it: the engine cannot propagate a deletion because it has no way
// to say it.
type Action uint8

const (
	// ActionNone: nothing to do.
	ActionNone Action = iota
	// ActionMerge: both sides have the mapped item; merge (see Merge).
	ActionMerge
	// ActionCreateRemote: a CRM record with no mapping; copy it to the
	// remote with its idempotency stamp, whatever the policy.
	ActionCreateRemote
	// ActionCreateCRM: a remote item with no mapping (and, for contacts,
	// passing ImportFilter); copy it to the CRM, whatever the policy.
	ActionCreateCRM
	// ActionLink: an unmapped item found on both sides (by stamp, or matched
	// by the engine): record the mapping with an empty base and merge.
	ActionLink
	// ActionTombstone: a mapped item is gone from one side (or both);
	// record a Tombstone and write nothing to either side.
	ActionTombstone
	// ActionIgnore: the item is tombstoned; ignore it on both sides, now
	// and in every later pass.
	ActionIgnore
)

var actionNames = [...]string{"none", "merge", "create_remote", "create_crm", "link", "tombstone", "ignore"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// ItemState is what the engine knows of an item in a pass.
type ItemState struct {
	Mapped     bool // a mapping crm id ↔ remote id exists
	Tombstoned bool // the mapping carries a Tombstone
	InCRM      bool // the CRM record exists
	InRemote   bool // the remote item exists
}

// Decide returns the action for an item. The table, first match wins:
//
//	tombstoned                      → ignore (never recreated, never synced)
//	mapped, on both sides           → merge
//	mapped, missing on either side  → tombstone
//	unmapped, on both sides         → link
//	unmapped, CRM only              → create on the remote
//	unmapped, remote only           → create in the CRM
//	unmapped, nowhere               → none
func Decide(s ItemState) Action {
	switch {
	case s.Tombstoned:
		return ActionIgnore
	case s.Mapped && s.InCRM && s.InRemote:
		return ActionMerge
	case s.Mapped:
		return ActionTombstone
	case s.InCRM && s.InRemote:
		return ActionLink
	case s.InCRM:
		return ActionCreateRemote
	case s.InRemote:
		return ActionCreateCRM
	}
	return ActionNone
}

// OnMissing returns the action for a mapped item that side no longer has
// (a 404, a deletion in a sync-collection report or a Graph delta, a CRM
// record deleted): ActionTombstone, for either side. The other side's copy
// is neither deleted nor, later, used to recreate the missing one. A side
// that is not valid counts as both missing: still a tombstone.
func OnMissing(side Side) Action {
	return Decide(ItemState{Mapped: true, InCRM: side == SideRemote, InRemote: side == SideCRM})
}
