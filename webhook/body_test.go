package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWriteJSONAsEncoder: the hand-built answer is what json.Encoder wrote.
func TestWriteJSONAsEncoder(t *testing.T) {
	for _, msg := range []string{
		"queued github:push", "ignored: comment <b>&\"x\"\\", "ignored: comment \u2028 é \xff", "", "tab\there",
	} {
		for _, status := range []int{202, 400} {
			rec := httptest.NewRecorder()
			writeJSON(rec, status, msg)
			var want bytes.Buffer
			_ = json.NewEncoder(&want).Encode(envelope{Success: status < 300, Message: msg})
			if rec.Body.String() != want.String() || rec.Code != status || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("writeJSON(%d, %q) = %d %q, want %q", status, msg, rec.Code, rec.Body, want.String())
			}
		}
	}
}

// TestReadBody reads bodies whose declared length is right, wrong or absent,
// and stops at MaxBodyBytes.
func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		size, declared int64
	}{{0, 0}, {1, 1}, {8500, 8500}, {8500, -1}, {100 << 10, 100 << 10}, {300, 10}} {
		body := strings.Repeat("x", int(c.size))
		r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
		r.ContentLength = c.declared
		buf := getBuffer()
		got, err := readBody(httptest.NewRecorder(), r, buf)
		if err != nil || string(got) != body {
			t.Errorf("size %d declared %d: %d bytes, %v", c.size, c.declared, len(got), err)
		}
		putBuffer(buf)
	}
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	buf := getBuffer()
	if _, err := readBody(httptest.NewRecorder(), r, buf); err == nil {
		t.Error("a body over MaxBodyBytes was read")
	}
}
