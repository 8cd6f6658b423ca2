package graphfake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Outlook's master category list (§7.4, [G-CAT]):
// /me/outlook/masterCategories lists, creates (201), patches only color,
// deletes; displayName is unique in the mailbox (without case, as
// Exchange compares category names) and immutable; color is "none" or
// preset0…preset24.

func init() {
	routes = append(routes, route{"outlook/masterCategories", (*Graph).serveCategories})
}

// Category is one entry of the master category list.
type Category struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Color       string `json:"color"`
}

type categoryStore struct {
	list []*Category
}

func (g *Graph) catstore() *categoryStore {
	if g.categories == nil {
		g.categories = &categoryStore{}
	}
	return g.categories
}

func (s *categoryStore) byName(name string) *Category {
	for _, c := range s.list {
		if strings.EqualFold(c.DisplayName, name) {
			return c
		}
	}
	return nil
}

func validColor(c string) bool {
	if c == "none" {
		return true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(c, "preset"))
	return strings.HasPrefix(c, "preset") && err == nil && n >= 0 && n <= 24 && c == "preset"+strconv.Itoa(n)
}

// --- helpers: the user in Outlook ---

// Categories returns the master list, in creation order.
func (g *Graph) Categories() []Category {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Category
	for _, c := range g.catstore().list {
		out = append(out, *c)
	}
	return out
}

// AddCategory adds a category as the user would; false when the name is
// taken or the color invalid.
func (g *Graph) AddCategory(name, color string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.addCategory(name, color)
	return ok == ""
}

// DeleteCategory deletes the category named name (without case); false
// when there is none.
func (g *Graph) DeleteCategory(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.catstore()
	for i, c := range s.list {
		if strings.EqualFold(c.DisplayName, name) {
			s.list = append(s.list[:i], s.list[i+1:]...)
			return true
		}
	}
	return false
}

// RenameCategory renames a category as Outlook's own interface does (Graph
// cannot: displayName is immutable there); its id and color stay.
func (g *Graph) RenameCategory(from, to string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.catstore()
	c := s.byName(from)
	if c == nil || (s.byName(to) != nil && s.byName(to) != c) {
		return false
	}
	c.DisplayName = to
	return true
}

// addCategory returns an error code when it cannot add.
func (g *Graph) addCategory(name, color string) (*Category, string) {
	s := g.catstore()
	switch {
	case strings.TrimSpace(name) == "":
		return nil, "invalidRequest"
	case !validColor(color):
		return nil, "invalidRequest"
	case s.byName(name) != nil:
		return nil, "nameAlreadyExists"
	}
	c := &Category{ID: randomUUID(), DisplayName: name, Color: color}
	s.list = append(s.list, c)
	return c, ""
}

// randomUUID is an id shaped like Graph's GUIDs (categories,
// subscriptions).
func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// --- HTTP ---

func (g *Graph) serveCategories(w http.ResponseWriter, r *http.Request, path string) {
	id := strings.Trim(strings.TrimPrefix(path, "outlook/masterCategories"), "/")
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.catstore()
	var body struct {
		DisplayName *string `json:"displayName"`
		Color       *string `json:"color"`
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not JSON.")
			return
		}
	}
	if id == "" {
		switch r.Method {
		case http.MethodGet:
			all := []any{}
			for _, c := range s.list {
				all = append(all, *c)
			}
			writeGraphJSON(w, map[string]any{"value": all})
		case http.MethodPost:
			color := "none"
			if body.Color != nil {
				color = *body.Color
			}
			if body.DisplayName == nil {
				graphError(w, http.StatusBadRequest, "invalidRequest", "displayName is required.")
				return
			}
			c, code := g.addCategory(*body.DisplayName, color)
			switch code {
			case "nameAlreadyExists":
				graphError(w, http.StatusConflict, code, "A category with this name already exists.")
				return
			case "":
			default:
				graphError(w, http.StatusBadRequest, code, "The name or color is not valid.")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(c)
		default:
			graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
		}
		return
	}
	idx := -1
	for i, c := range s.list {
		if c.ID == id {
			idx = i
		}
	}
	if idx < 0 {
		notFound(w)
		return
	}
	c := s.list[idx]
	switch r.Method {
	case http.MethodGet:
		writeGraphJSON(w, *c)
	case http.MethodPatch:
		if body.DisplayName != nil && *body.DisplayName != c.DisplayName {
			graphError(w, http.StatusBadRequest, "invalidRequest", "displayName cannot be changed.")
			return
		}
		if body.Color != nil {
			if !validColor(*body.Color) {
				graphError(w, http.StatusBadRequest, "invalidRequest", "The color is not valid.")
				return
			}
			c.Color = *body.Color
		}
		writeGraphJSON(w, *c)
	case http.MethodDelete:
		s.list = append(s.list[:idx], s.list[idx+1:]...)
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
	}
}
