package api

import (
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// CompanyCreationRequest is the body of POST /api/v1/companies.
type CompanyCreationRequest struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	OwnerID *int64   `json:"owner_id"` // default: the caller
}

// CompanyUpdateRequest is the body of PATCH /api/v1/companies/{id}: only the
// fields present change.
type CompanyUpdateRequest struct {
	Name    Opt[string]   `json:"name"`
	Domains Opt[[]string] `json:"domains"`
	OwnerID Opt[int64]    `json:"owner_id"`
}

func cleanCompany(c crm.Company) crm.Company {
	c.Domains = nonNil(c.Domains)
	return c
}

func (s *Server) createCompany(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req CompanyCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	co := crm.Company{OrgID: c.Viewer.OrgID, OwnerID: c.User.ID}
	var err error
	if co.Name, err = text("name", req.Name, true, maxName); err != nil {
		return err
	}
	if co.Domains, err = normDomains("domains", req.Domains); err != nil {
		return err
	}
	if req.OwnerID != nil {
		if err := refID("owner_id", *req.OwnerID); err != nil {
			return err
		}
		co.OwnerID = *req.OwnerID
	}
	co, err = s.st.CreateCompany(r.Context(), c.Viewer, co)
	if err != nil {
		return storeError(err, "company")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkCompany, co.ID)
	return created(w, fmt.Sprintf("/api/v1/companies/%d", co.ID), cleanCompany(co))
}

func (s *Server) getCompany(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "company", s.st.GetCompany, plain(cleanCompany))
}

func (s *Server) updateCompany(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req CompanyUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	// Validate before the store's transaction starts; apply only assigns.
	var name string
	var domains []string
	if req.Name.Set {
		v, err := req.Name.value("name", "give the company a name.")
		if err != nil {
			return err
		}
		if name, err = text("name", v, true, maxName); err != nil {
			return err
		}
	}
	if req.Domains.Set {
		v, err := req.Domains.value("domains", "send [] to remove every domain.")
		if err != nil {
			return err
		}
		if domains, err = normDomains("domains", v); err != nil {
			return err
		}
	}
	if req.OwnerID.Set {
		v, err := req.OwnerID.value("owner_id", "every company has an owner; give the id of the new one.")
		if err != nil {
			return err
		}
		if err := refID("owner_id", v); err != nil {
			return err
		}
	}
	co, err := s.st.UpdateCompany(r.Context(), c.Viewer, id, func(co *crm.Company) error {
		if req.Name.Set {
			co.Name = name
		}
		if req.Domains.Set {
			co.Domains = domains
		}
		if req.OwnerID.Set {
			co.OwnerID = req.OwnerID.Value
		}
		return nil
	})
	if err != nil {
		return storeError(err, "company")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkCompany, co.ID)
	writeJSON(w, http.StatusOK, cleanCompany(co))
	return nil
}

func (s *Server) deleteCompany(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteCompany(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "company")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.CompanyFilter{ListParams: lp}
	if q.has("domain") {
		if f.Domain, err = crmDomain(q.str("domain")); err != nil {
			return param("domain", err)
		}
	}
	if f.OwnerID, err = q.id("owner_id"); err != nil {
		return err
	}
	page, err := s.st.ListCompanies(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "company")
	}
	return writeList(w, page, cleanCompany)
}

func crmDomain(s string) (string, error) {
	d, err := crm.NormalizeDomain(s)
	if err != nil {
		return "", fmt.Errorf("domain=%q %s.", s, err)
	}
	return d, nil
}
