package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
)

// relinkTimeout bounds the recomputation of links after a write. It runs
// after the record is saved, detached from the client: a client that hangs
// up must not leave the links of a saved record half recomputed.
const relinkTimeout = 2 * time.Minute

// relink recomputes the automatic links touching a record just created or
// changed (DESIGN §6): a new contact address or company domain links the
// past emails it matches, a closed opportunity gets no new ones. Deletes
// need no call: the store unlinks a deleted record in the same
// transaction.
//
// The write has succeeded whatever happens here, so the client still gets
// its success. A failure is logged at error level with the request id: the
// record's emails keep their previous links until the record's next change
// recomputes them.
func (s *Server) relink(r *http.Request, orgID int64, t crm.LinkType, id int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), relinkTimeout)
	defer cancel()
	if err := s.st.Relink(ctx, orgID, t, id); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "relinking emails failed: the record is saved, but its emails' links may be stale until its next change",
			slog.String("request_id", requestID(r.Context())), slog.String("type", string(t)), slog.Int64("id", id), slog.Any("err", err))
	}
}

// LinkingRulesRequest is the body of PUT /api/v1/org/linking.
type LinkingRulesRequest struct {
	// OwnDomains are the organisation's own domains: mail between
	// colleagues links no company through them.
	OwnDomains []string `json:"own_domains"`
	// FreemailDomains extend the built-in list of free-mail providers
	// (linker.FreemailDomains): no company is linked through them.
	FreemailDomains []string `json:"freemail_domains"`
}

// linkingRulesView is the organisation's linking settings.
type linkingRulesView struct {
	OwnDomains             []string `json:"own_domains"`
	FreemailDomains        []string `json:"freemail_domains"`
	BuiltinFreemailDomains []string `json:"builtin_freemail_domains"`
}

func (s *Server) linkingView(ctx context.Context, orgID int64) (linkingRulesView, error) {
	own, freemail, err := s.st.LinkingRules(ctx, orgID)
	if err != nil {
		return linkingRulesView{}, err
	}
	builtin := slices.Clone(linker.FreemailDomains)
	slices.Sort(builtin)
	return linkingRulesView{OwnDomains: nonNil(own), FreemailDomains: nonNil(freemail), BuiltinFreemailDomains: builtin}, nil
}

// getLinking answers the organisation's linking settings, with the
// built-in free-mail list so that a settings page can show it.
func (s *Server) getLinking(w http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := s.linkingView(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// putLinking replaces the organisation's own and extra free-mail domains
// (admins). Mail stored from then on is linked by the new rules; the links
// of mail already stored are not recomputed (they are when a contact or
// company they touch changes).
func (s *Server) putLinking(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can change the organisation's linking settings.")
	}
	var req LinkingRulesRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OwnDomains == nil {
		return required("own_domains", "own_domains is required: the organisation's own domains, like [\"acme.com\"] (send [] for none).")
	}
	if req.FreemailDomains == nil {
		return required("freemail_domains", "freemail_domains is required: free-mail providers to add to the built-in list (send [] for none).")
	}
	own, err := linkingDomains("own_domains", req.OwnDomains)
	if err != nil {
		return err
	}
	freemail, err := linkingDomains("freemail_domains", req.FreemailDomains)
	if err != nil {
		return err
	}
	if err := s.st.PutLinkingRules(r.Context(), c.Viewer.OrgID, own, freemail); err != nil {
		return err
	}
	v, err := s.linkingView(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// linkingDomains normalises a list of domains (linker.RuleDomains).
func linkingDomains(field string, items []string) ([]string, error) {
	v, err := linker.RuleDomains(field, items)
	return v, ruleError(err)
}
