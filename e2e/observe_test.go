package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/store"
)

// This file adds what the hostile-input, secret-scan and scale-out tests need
// on top of stack_test.go: more processes with their own settings, a tap on
// the installation tokens GitHub issues, a record of every API answer, and
// the secret scan itself.

// encryptionKey seals stored connections in these tests; it is a secret too.
const encryptionKey = "ZTJlLWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzLWxvbmc=" // 32 bytes, base64

// envWith returns a copy of env with each "KEY=value" of kv set, replacing any
// earlier value of KEY.
func envWith(env []string, kv ...string) []string {
	out := make([]string, 0, len(env)+len(kv))
	for _, e := range env {
		key, _, _ := strings.Cut(e, "=")
		replaced := false
		for _, n := range kv {
			if strings.HasPrefix(n, key+"=") {
				replaced = true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return append(out, kv...)
}

// setEnv changes the environment of the processes started from now on.
func (s *stack) setEnv(kv ...string) { s.env = envWith(s.env, kv...) }

// startWith is start with extra environment for this one process.
func (s *stack) startWith(name string, kv ...string) *exec.Cmd {
	s.t.Helper()
	saved := s.env
	s.env = envWith(saved, kv...)
	defer func() { s.env = saved }()
	return s.start(name)
}

// startAppAt starts another app instance listening on addr and waits until it
// is ready.
func (s *stack) startAppAt(addr string) {
	s.t.Helper()
	s.startWith("app", "PANDA_ADDR="+addr, "PANDA_PUBLIC_URL=http://"+addr)
	waitAppReady(s.t, addr, s.logs)
}

func waitAppReady(t *testing.T, addr string, logs *stacktest.Logs) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("app at %s did not become ready; log:\n%s", addr, tail(logs.String(), 3000))
}

// hubSignature is the X-Hub-Signature-256 of body under secret.
func hubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// pushPayloadFor is the push fixture for a commit on branch of repo.
func pushPayloadFor(t *testing.T, repo, branch, sha string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(pushPayload(t, sha), &m); err != nil {
		t.Fatal(err)
	}
	m["ref"] = "refs/heads/" + branch
	m["repository"].(map[string]any)["full_name"] = repo
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenTap stands between Panda and the GitHub test server and keeps every
// installation token the server issues, so the secret scan can look for them.
type tokenTap struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newTokenTap(t *testing.T, target string) *tokenTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &tokenTap{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = tap.keep
	tap.srv = httptest.NewServer(proxy)
	t.Cleanup(tap.srv.Close)
	return tap
}

// keep records the token of an access-token answer and passes the answer on.
func (tap *tokenTap) keep(resp *http.Response) error {
	if !strings.HasSuffix(resp.Request.URL.Path, "/access_tokens") {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var tok struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &tok) == nil && tok.Token != "" {
		tap.mu.Lock()
		tap.tokens = append(tap.tokens, tok.Token)
		tap.mu.Unlock()
	}
	return nil
}

// Tokens returns the installation tokens issued so far.
func (tap *tokenTap) Tokens() []string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return append([]string(nil), tap.tokens...)
}

// answerLog keeps every answer the API gave to the test's client: status,
// headers and body, SSE streams included as far as they were read.
type answerLog struct {
	buf stacktest.Logs
	rt  http.RoundTripper
}

func newAnswerLog() *answerLog { return &answerLog{rt: http.DefaultTransport} }

// Client returns a client whose answers are kept. It does not follow
// redirects, so a path trick's first answer is what the test sees.
func (a *answerLog) Client() *http.Client {
	return &http.Client{
		Transport: a,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (a *answerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	var head bytes.Buffer
	// Only the path: a query may hold what a hostile case sent, which is the
	// test's own doing, not an answer.
	fmt.Fprintf(&head, "\n--- %s %s → %d\n", r.Method, r.URL.Path, resp.StatusCode)
	_ = resp.Header.Write(&head)
	_, _ = a.buf.Write(head.Bytes())
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &a.buf), resp.Body}
	return resp, nil
}

func (a *answerLog) String() string { return a.buf.String() }

// sseSeen is one event of a stream as a client received it.
type sseSeen struct{ id, name string }

// readStreamEvents reads a deployment's event stream from the app at addr until it
// ends (or ctx does) and returns the events in order.
func readStreamEvents(ctx context.Context, client *http.Client, addr, id string) ([]sseSeen, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/deploy/"+id+"/events", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("events of %s at %s: status %d", id, addr, resp.StatusCode)
	}
	var out []sseSeen
	var cur sseSeen
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case line == "" && cur.id != "":
			out = append(out, cur)
			cur = sseSeen{}
		}
	}
	return out, sc.Err()
}

// streamIDs returns the ids of every event of deployment id in Redis.
func streamIDs(ctx context.Context, st *store.Store, id string) ([]string, error) {
	evs, err := st.Events(ctx, id, "", 100000, 0)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids, nil
}

// openStore is the world's Redis as an app instance connects to it.
func (s *stack) openStore() (*store.Store, redis.UniversalClient) {
	s.t.Helper()
	return s.w.Store(), s.w.Redis()
}

// leakSource is one body of text the secret scan reads.
type leakSource struct{ name, text string }

// secretsOf names every secret the stack handed to Panda, plus extra ones a
// test used, by a label that can be printed.
func (s *stack) secretsOf(tap *tokenTap, extra map[string]string) map[string]string {
	out := map[string]string{
		"webhook secret":        webhookSecret,
		"API token":             apiToken,
		"AWS secret access key": s.aws.Credentials().SecretAccessKey,
		"encryption key":        encryptionKey,
	}
	_, pass := s.aws.RegistryAuth()
	out["registry password"] = pass
	out["ECR authorization token"] = base64.StdEncoding.EncodeToString([]byte("AWS:" + pass))
	for i, line := range strings.Split(string(s.gh.PrivateKeyPEM()), "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			out[fmt.Sprintf("App private key, line %d", i)] = line
		}
	}
	for i, tok := range tap.Tokens() {
		out[fmt.Sprintf("installation token #%d", i+1)] = tok
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// redisTexts returns every event of every stream in Redis, and every string
// and hash value (deployment records, Asynq's task payloads, sealed
// connections), as scan sources.
func redisTexts(t *testing.T, rdb redis.UniversalClient) []leakSource {
	t.Helper()
	ctx := context.Background()
	var out []leakSource
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var text string
		switch {
		case typ == "stream":
			msgs, err := rdb.XRange(ctx, key, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(msgs)
			text = string(b)
		case typ == "string":
			text = rdb.Get(ctx, key).Val()
		case typ == "hash":
			b, _ := json.Marshal(rdb.HGetAll(ctx, key).Val())
			text = string(b)
		default:
			continue
		}
		out = append(out, leakSource{name: "redis " + typ + " " + key, text: text})
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// githubTexts returns what Panda sent to GitHub (every request body: check
// runs, comments, reactions, deployments and their statuses) and what GitHub
// shows (check-run outputs).
func (s *stack) githubTexts(repos ...string) []leakSource {
	var out []leakSource
	for _, r := range s.gh.Requests() {
		out = append(out, leakSource{name: "GitHub request " + r.Method + " " + r.Path, text: string(r.Body) + r.Query.Encode()})
	}
	for _, repo := range repos {
		for _, run := range s.gh.CheckRuns(repo) {
			b, _ := json.Marshal(run)
			out = append(out, leakSource{name: "check run " + run.Name + " of " + repo, text: string(b)})
		}
	}
	return out
}

// scanSecrets fails t for each secret found in a source, naming both without
// printing the secret.
func scanSecrets(t *testing.T, secrets map[string]string, sources []leakSource) {
	t.Helper()
	for label, secret := range secrets {
		if len(secret) < 8 {
			t.Fatalf("secret %q is too short to scan for", label)
		}
		for _, src := range sources {
			if i := strings.Index(src.text, secret); i >= 0 {
				from, to := max(0, i-60), min(len(src.text), i+len(secret)+20)
				near := strings.ReplaceAll(src.text[from:to], secret, "<"+label+">")
				t.Errorf("the %s appeared in %s: …%s…", label, src.name, near)
			}
		}
	}
}
