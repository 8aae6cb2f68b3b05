package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/secrets"
	"github.com/pandadeploy/panda/store"
)

// envelope is the seed system's answer shape.
type envelope struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// Error is an error with the status and message a client sees. Field, when
// set, names the request field that is wrong.
type Error struct {
	Status  int
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// badField is a 400 naming the wrong field.
func badField(field, format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// badName is a 400 naming the wrong field with what package names says is
// wrong with its value, or nil when err is nil.
func badName(field string, err error) error {
	var ne *names.Error
	switch {
	case errors.As(err, &ne):
		return badField(field, "%s", ne.Short())
	case err != nil:
		return badField(field, "%v", err)
	}
	return nil
}

// optional returns check(s), or nil when s is empty: the field was not given.
func optional(check func(string) error, s string) error {
	if s == "" {
		return nil
	}
	return check(s)
}

// firstBad returns the first non-nil error, checking fields in the order a
// client reads them.
func firstBad(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// maxBody bounds every JSON request body; none of the API's needs more.
const maxBody = 64 << 10

// handlerFunc is a handler that reports failure by returning an error, which
// handle maps to a status code. It returns nil once it has answered.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail is the one place errors become status codes. Only *Error messages and
// known sentinels reach the client; anything else is logged and answered as
// "internal error", so no wrapped detail (or secret) leaks.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &tooLarge):
		apiErr = &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("body larger than %d bytes", tooLarge.Limit)}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, connections.ErrNotFound):
		apiErr = &Error{Status: http.StatusNotFound, Message: "not found"}
	case errors.Is(err, secrets.ErrNoKey):
		apiErr = &Error{Status: http.StatusServiceUnavailable, Message: secrets.ErrNoKey.Error()}
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	var data any
	if apiErr.Field != "" {
		data = map[string]string{"field": apiErr.Field}
	}
	if apiErr.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="panda"`)
	}
	writeJSON(w, apiErr.Status, envelope{Success: false, Message: apiErr.Error(), Data: data})
}

func writeOK(w http.ResponseWriter, status int, msg string, data any) error {
	writeJSON(w, status, envelope{Success: true, Message: msg, Data: data})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads one JSON object into v: at most maxBody bytes, no unknown
// fields, nothing after it. Its errors name the field at fault.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &Error{Status: http.StatusUnsupportedMediaType, Message: "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badField("body", "must hold one JSON object and nothing after it")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &typeErr):
		return badField(typeErr.Field, "must be a JSON %s", typeErr.Type.Kind())
	case errors.As(err, &syntaxErr):
		return badField("body", "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF):
		return badField("body", "empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("body", "JSON ends too early")
	}
	// encoding/json's message for unknown fields is: json: unknown field "x".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badField(strings.Trim(name, `"`), "unknown field")
	}
	return badField("body", "not a JSON object of the expected shape")
}
