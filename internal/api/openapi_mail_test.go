package api_test

import "github.com/crmsync/crmsync/internal/api"

// The mail routes' bodies, checked against openapi.json like the others.
func init() {
	requestTypes["PUT /api/v1/org/mail-service"] = api.MailServiceRequest{}
	requestTypes["POST /api/v1/mail-accounts"] = api.MailAccountCreationRequest{}
	requestTypes["PATCH /api/v1/mail-accounts/{id}"] = api.MailAccountUpdateRequest{}
	requestTypes["PUT /api/v1/mail-accounts/{id}/folders"] = api.FolderSelectionRequest{}
	requestTypes["PATCH /api/v1/messages/{id}"] = api.MessageUpdateRequest{}
}
