package api_test

import "github.com/crmsync/crmsync/internal/api"

// The linking routes' bodies, checked against openapi.json like the others.
func init() {
	requestTypes["PUT /api/v1/org/linking"] = api.LinkingRulesRequest{}
	requestTypes["POST /api/v1/messages/{id}/links"] = api.MessageLinkRequest{}
}
