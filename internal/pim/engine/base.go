package engine

import (
	"encoding/json"

	"github.com/crmsync/crmsync/internal/pim"
)

// pimBase is what a mapping's Base holds: the fields both sides agreed on
// at the end of the last sync, the fixed categories written then, and
// every category the remote item carried (those the user did not import
// included), so that a CRM-side change can be written without fetching
// the remote item again.
type pimBase struct {
	Fields     pim.Fields `json:"fields"`
	Fixed      []string   `json:"fixed,omitempty"`
	RemoteCats []string   `json:"remote_categories,omitempty"`
	// LeftOutBy is, for a remote item not imported, the category choice
	// that left it out: when the user changes it, the item is looked at
	// again.
	LeftOutBy []string `json:"left_out_by,omitempty"`
}

func decodeBase(b []byte) pimBase {
	var pb pimBase
	if len(b) > 0 {
		_ = json.Unmarshal(b, &pb) // a base that cannot be read is empty: the merge then treats both sides as new
	}
	if pb.Fields == nil {
		pb.Fields = pim.Fields{}
	}
	return pb
}

func (pb pimBase) encode() []byte {
	b, _ := json.Marshal(pb)
	return b
}
