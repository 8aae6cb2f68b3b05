package api

import (
	"net/http"
	"os"
)

// swaggerCSP is the Swagger UI page's policy: its own scripts only, styles
// it sets inline, data: images (its icons), and requests to this origin
// ("Try it out"); validatorUrl is off in panda-init.js, so nothing leaves.
const swaggerCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// swaggerFiles are the files of the swagger-ui-dist package the page loads;
// nothing else of the package directory is served.
var swaggerFiles = map[string]bool{
	"swagger-ui.css": true, "index.css": true, "swagger-ui-bundle.js": true,
	"swagger-ui-standalone-preset.js": true, "favicon-32x32.png": true, "favicon-16x16.png": true,
}

var errNoSwaggerUI = &Error{Status: http.StatusNotFound,
	Message: "Swagger UI is not installed: set PANDA_SWAGGER_UI_DIR to the swagger-ui-dist package (npm ci in api/swaggerui)"}

// swaggerIndex serves GET /swagger-ui/: Panda's page around Swagger UI,
// which reads ../api/openapi.json.
func (s *server) swaggerIndex(w http.ResponseWriter, r *http.Request) error {
	if s.SwaggerUIDir == "" {
		return errNoSwaggerUI
	}
	w.Header().Set("Content-Security-Policy", swaggerCSP)
	return serveStatic(w, "static/swagger-ui.html", "text/html; charset=utf-8")
}

// swaggerFile serves GET /swagger-ui/{file}: Panda's initializer, or one of
// swaggerFiles from SwaggerUIDir.
func (s *server) swaggerFile(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	switch {
	case s.SwaggerUIDir == "":
		return errNoSwaggerUI
	case name == "panda-init.js":
		return serveStatic(w, "static/swagger-init.js", "text/javascript; charset=utf-8")
	case !swaggerFiles[name]:
		return &Error{Status: http.StatusNotFound, Message: "no such file"}
	}
	// #nosec G703 -- name is one of swaggerFiles (checked above), never a path from the request
	if _, err := os.Stat(s.SwaggerUIDir + "/" + name); err != nil {
		s.log.Error("Swagger UI file missing", "dir", s.SwaggerUIDir, "file", name, "err", err)
		return errNoSwaggerUI
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, os.DirFS(s.SwaggerUIDir), name) // #nosec G703 -- name is one of swaggerFiles, inside an os.DirFS
	return nil
}
