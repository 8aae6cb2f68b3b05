package api

import (
	"embed"
	"net/http"
)

//go:embed static/deployment.html static/deployment.js static/swagger-ui.html static/swagger-init.js
var static embed.FS

// pageCSP lets the page load only its own script and talk only to this
// origin: event messages carry build output from the repository, and the
// script writes them as text, but a policy is the second lock on that door.
const pageCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// page serves GET /deployments/{id}, the details_url of the deployment's check
// runs: a static page that reads the result and the event stream.
func (s *server) page(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.deployment(r); err != nil {
		return err
	}
	return serveStatic(w, "static/deployment.html", "text/html; charset=utf-8")
}

func (s *server) pageScript(w http.ResponseWriter, r *http.Request) error {
	return serveStatic(w, "static/deployment.js", "text/javascript; charset=utf-8")
}

func serveStatic(w http.ResponseWriter, name, contentType string) error {
	body, err := static.ReadFile(name)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", pageCSP)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL holds the deployment's capability id
	h.Set("Cache-Control", "no-cache")
	_, err = w.Write(body)
	return err
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	body, err := openapiFS.ReadFile("openapi.json")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}

//go:embed openapi.json
var openapiFS embed.FS
