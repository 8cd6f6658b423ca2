package api

import (
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
)

// pimCategoriesView is GET /api/v1/pim-accounts/{id}/categories: the
// categories of the server's items, for the user to choose which to
// import, as the account's last sync saw them.
type pimCategoriesView struct {
	Categories []pimCategoryView `json:"categories"`
	UpdatedAt  *time.Time        `json:"updated_at"`
}

type pimCategoryView struct {
	Name     string `json:"name"`
	Items    int    `json:"items"`
	Fixed    bool   `json:"fixed"`
	Imported bool   `json:"imported"`
}

// listPIMCategories lists an account's server categories
// (accounts.Service.PIMCategories).
func (s *Server) listPIMCategories(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cats, err := s.acc.PIMCategories(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, "PIM account")
	}
	writeJSON(w, http.StatusOK, categoriesView(cats))
	return nil
}

func categoriesView(cats accounts.PIMCategories) pimCategoriesView {
	v := pimCategoriesView{Categories: []pimCategoryView{}, UpdatedAt: cats.UpdatedAt}
	for _, c := range cats.Categories {
		v.Categories = append(v.Categories, pimCategoryView(c))
	}
	return v
}
