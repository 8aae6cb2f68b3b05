package githubapp

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/pandadeploy/panda/redact"
)

// maxTokenAnswer bounds the access-token answer read to learn the token; the
// real one is a few kilobytes with its repository list.
const maxTokenAnswer = 1 << 20

// tokenLearner hands every installation token GitHub issues to a Redactor.
// It sits under ghinstallation's transports, so the tokens they cache and the
// repository tokens of RepoToken are all learnt, as issued.
type tokenLearner struct {
	next http.RoundTripper
	r    *redact.Redactor
}

// learnTokens returns next itself when there is no Redactor.
func learnTokens(next http.RoundTripper, r *redact.Redactor) http.RoundTripper {
	if r == nil {
		return next
	}
	return &tokenLearner{next: next, r: r}
}

// RoundTrip implements http.RoundTripper.
func (t *tokenLearner) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || resp.StatusCode != http.StatusCreated ||
		!strings.HasSuffix(req.URL.Path, "/access_tokens") {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the client reads the same short body and fails on it
	}
	var tok struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &tok) == nil {
		t.r.Add(tok.Token)
	}
	return resp, nil
}
