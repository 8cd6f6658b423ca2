package api

import (
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// OpportunityCreationRequest is the body of POST /api/v1/opportunities.
type OpportunityCreationRequest struct {
	Name       string                `json:"name"`
	CompanyID  *int64                `json:"company_id"`
	ContactIDs []int64               `json:"contact_ids"`
	OwnerID    *int64                `json:"owner_id"` // default: the caller
	Status     crm.OpportunityStatus `json:"status"`   // default: open
	Amount     *crm.Decimal          `json:"amount"`
	Currency   string                `json:"currency"`
}

// OpportunityUpdateRequest is the body of PATCH /api/v1/opportunities/{id}:
// only the fields present change.
type OpportunityUpdateRequest struct {
	Name       Opt[string]                `json:"name"`
	CompanyID  Opt[int64]                 `json:"company_id"` // null: no company
	ContactIDs Opt[[]int64]               `json:"contact_ids"`
	OwnerID    Opt[int64]                 `json:"owner_id"`
	Status     Opt[crm.OpportunityStatus] `json:"status"`
	Amount     Opt[crm.Decimal]           `json:"amount"` // null: no amount
	Currency   Opt[string]                `json:"currency"`
}

func cleanOpportunity(o crm.Opportunity) crm.Opportunity {
	o.ContactIDs = nonNil(o.ContactIDs)
	return o
}

func (s *Server) createOpportunity(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req OpportunityCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	o := crm.Opportunity{OrgID: c.Viewer.OrgID, OwnerID: c.User.ID, Status: crm.StatusOpen, Amount: req.Amount}
	var err error
	if o.Name, err = text("name", req.Name, true, maxName); err != nil {
		return err
	}
	if req.CompanyID != nil {
		if err := refID("company_id", *req.CompanyID); err != nil {
			return err
		}
		o.CompanyID = req.CompanyID
	}
	if o.ContactIDs, err = refIDs("contact_ids", req.ContactIDs); err != nil {
		return err
	}
	if req.OwnerID != nil {
		if err := refID("owner_id", *req.OwnerID); err != nil {
			return err
		}
		o.OwnerID = *req.OwnerID
	}
	if req.Status != "" {
		if err := checkStatus(req.Status); err != nil {
			return err
		}
		o.Status = req.Status
	}
	if o.Currency, err = normCurrency(req.Currency); err != nil {
		return err
	}
	o, err = s.st.CreateOpportunity(r.Context(), c.Viewer, o)
	if err != nil {
		return storeError(err, "opportunity")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkOpportunity, o.ID)
	return created(w, fmt.Sprintf("/api/v1/opportunities/%d", o.ID), cleanOpportunity(o))
}

func (s *Server) getOpportunity(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "opportunity", s.st.GetOpportunity, plain(cleanOpportunity))
}

func (s *Server) updateOpportunity(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req OpportunityUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	var name, currency string
	var contactIDs []int64
	if req.Name.Set {
		v, err := req.Name.value("name", "give the opportunity a name.")
		if err != nil {
			return err
		}
		if name, err = text("name", v, true, maxName); err != nil {
			return err
		}
	}
	if req.CompanyID.Set && !req.CompanyID.Null {
		if err := refID("company_id", req.CompanyID.Value); err != nil {
			return err
		}
	}
	if req.ContactIDs.Set {
		v, err := req.ContactIDs.value("contact_ids", "send [] to remove every contact.")
		if err != nil {
			return err
		}
		if contactIDs, err = refIDs("contact_ids", v); err != nil {
			return err
		}
	}
	if req.OwnerID.Set {
		v, err := req.OwnerID.value("owner_id", "every opportunity has an owner; give the id of the new one.")
		if err != nil {
			return err
		}
		if err := refID("owner_id", v); err != nil {
			return err
		}
	}
	if req.Status.Set {
		v, err := req.Status.value("status", "give one of the statuses.")
		if err != nil {
			return err
		}
		if err := checkStatus(v); err != nil {
			return err
		}
	}
	if req.Currency.Set {
		v, err := req.Currency.value("currency", `send "" for no currency.`)
		if err != nil {
			return err
		}
		if currency, err = normCurrency(v); err != nil {
			return err
		}
	}
	o, err := s.st.UpdateOpportunity(r.Context(), c.Viewer, id, func(o *crm.Opportunity) error {
		if req.Name.Set {
			o.Name = name
		}
		if req.CompanyID.Set {
			if req.CompanyID.Null {
				o.CompanyID = nil
			} else {
				id := req.CompanyID.Value
				o.CompanyID = &id
			}
		}
		if req.ContactIDs.Set {
			o.ContactIDs = contactIDs
		}
		if req.OwnerID.Set {
			o.OwnerID = req.OwnerID.Value
		}
		if req.Status.Set {
			o.Status = req.Status.Value
		}
		if req.Amount.Set {
			if req.Amount.Null {
				o.Amount = nil
			} else {
				a := req.Amount.Value
				o.Amount = &a
			}
		}
		if req.Currency.Set {
			o.Currency = currency
		}
		return nil
	})
	if err != nil {
		return storeError(err, "opportunity")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkOpportunity, o.ID)
	writeJSON(w, http.StatusOK, cleanOpportunity(o))
	return nil
}

func (s *Server) deleteOpportunity(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteOpportunity(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "opportunity")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listOpportunities(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.OpportunityFilter{ListParams: lp}
	if f.CompanyID, err = q.id("company_id"); err != nil {
		return err
	}
	if f.ContactID, err = q.id("contact_id"); err != nil {
		return err
	}
	if f.OwnerID, err = q.id("owner_id"); err != nil {
		return err
	}
	if q.has("status") {
		f.Status = crm.OpportunityStatus(q.str("status"))
		if err := checkStatus(f.Status); err != nil {
			return param("status", err)
		}
	}
	page, err := s.st.ListOpportunities(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "opportunity")
	}
	return writeList(w, page, cleanOpportunity)
}
