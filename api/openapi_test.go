package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks that every operation in openapi.json is a
// route of the mux and every route of the mux is in openapi.json.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	raw, err := openapiFS.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	var spec []string
	for path, ops := range doc.Paths {
		for method := range ops {
			spec = append(spec, strings.ToUpper(method)+" "+path)
		}
	}
	s := &server{}
	var mux []string
	for _, rt := range s.routes() {
		if rt.pattern != "/" { // the JSON 404 for everything else
			mux = append(mux, strings.TrimSuffix(rt.pattern, "{$}")) // {$}: exactly the path, as OpenAPI means it
		}
	}
	slices.Sort(spec)
	slices.Sort(mux)
	if !slices.Equal(spec, mux) {
		t.Errorf("openapi.json and the mux differ:\nspec: %q\nmux:  %q", spec, mux)
	}

	// And the served mux dispatches each spec operation to its own pattern.
	h := New(Options{}).(*http.ServeMux)
	param := regexp.MustCompile(`\{[a-z]+\}`)
	for _, op := range spec {
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, param.ReplaceAllString(path, "x"), nil)
		if _, pattern := h.Handler(req); strings.TrimSuffix(pattern, "{$}") != op {
			t.Errorf("%s is served by pattern %q", op, pattern)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/openapi.json", nil))
	if rec.Code != 200 || rec.Body.String() != string(raw) {
		t.Errorf("GET /api/openapi.json: %d", rec.Code)
	}
}
