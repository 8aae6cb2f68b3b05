package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-github/v66/github"
)

// Bodies are read into pooled buffers: a push is about 8 KB, and io.ReadAll
// grew a new buffer for each (five allocations and copies) only for it to
// become garbage once the task was queued. Nothing taken from a payload keeps
// pointing into the buffer (Route copies what it keeps into strings).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const (
	// presizeLimit bounds how much of a declared Content-Length is allocated
	// before the bytes arrive: the header is not signed, and a sender must
	// not get 25 MiB allocated for the price of a header.
	presizeLimit = 64 << 10
	// poolLimit keeps buffers grown by a large delivery out of the pool.
	poolLimit = 1 << 20
)

func getBuffer() *[]byte { return bodyPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= poolLimit {
		*b = (*b)[:0]
		bodyPool.Put(b)
	}
}

// readBody reads the request body, at most MaxBodyBytes (beyond, the error is
// an *http.MaxBytesError), into *buf, which it may grow.
func readBody(w http.ResponseWriter, r *http.Request, buf *[]byte) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b := (*buf)[:0]
	if n := r.ContentLength; n > 0 && n < presizeLimit && int(n)+1 > cap(b) {
		b = make([]byte, 0, n+1) // +1: room to read the EOF without growing
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			*buf = b
			return b, nil
		}
		if err != nil {
			*buf = b
			return nil, err
		}
	}
}

// verify checks the delivery's signature over the exact body bytes, in
// constant time (go-github's ValidateSignature compares with hmac.Equal: a
// timing oracle would leak the expected signature byte by byte), and returns
// the JSON payload. It is github.ValidatePayloadFromBody without reading the
// body again: a JSON body is its own payload, and any other Content-Type
// (a form-encoded delivery, or one GitHub does not send) is left to
// ValidatePayloadFromBody itself.
func verify(contentType string, body []byte, signature string, secret []byte) ([]byte, error) {
	if contentType != "application/json" {
		return github.ValidatePayloadFromBody(contentType, bytes.NewReader(body), signature, secret)
	}
	// As ValidatePayloadFromBody: a signature is checked when one is sent or
	// a secret is set.
	if len(secret) > 0 || signature != "" {
		if err := github.ValidateSignature(signature, body, secret); err != nil {
			return nil, err
		}
	}
	return body, nil
}
