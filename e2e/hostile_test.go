package e2e

import (
	"bufio"
	"context"
	"crypto/sha1" // #nosec G505 -- commit ids are SHA-1
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// hostileCase is one hostile input and the clear error it must get. Exactly
// one of the input fields is set. Every case also asserts that the input had
// no side effect: nothing queued (or, for what the intake must take, nothing
// done by the task), no deployment, no git request, nothing pushed, no file
// written.
type hostileCase struct {
	name string // also the case's repository, acme/h-<name>

	delivery *rawDelivery            // posted to /webhook as it is
	push     *hostilePush            // a validly signed push with these values
	comment  *hostileComment         // a validly signed comment on pull request 1
	config   string                  // the .panda.yml of a commit pushed to main
	files    map[string]gittest.File // a commit's files (a valid .panda.yml is added), pushed to main
	api      *apiCall

	wantCode int    // the HTTP answer's status
	wantText string // in the HTTP answer
	// wantErr is what the worker says afterwards: the archived task's error
	// (push), the reply (comment), the check run (config), the deployment's
	// error (files). Empty means the worker must never see the input.
	wantErr string
}

// rawDelivery is a webhook delivery as posted. Zero fields are those of a
// valid push delivery of the case's repository.
type rawDelivery struct {
	event, id, hookID string // "none": header left out
	body              []byte
	signature         string // "none": header left out; "" the valid one
	header            map[string]string
}

type hostilePush struct{ repo, branch, sha string }

type hostileComment struct {
	body string
	bot  bool
	perm string // the author's permission; "" means write
}

// apiCall is a request to the app. {id} in path or header values is the id of
// the control deployment.
type apiCall struct {
	method, path string
	auth         string // Authorization: "" the API token, "none" left out, else as given
	header       map[string]string
	body         string
	raw          bool // sent over a plain TCP connection exactly as written (header injection)
}

// validConfig is the .panda.yml of the hostile cases' repositories.
func validConfig(s *stack, extra string) string {
	return s.w.PandaYML(extra)
}

func hostileCases(s *stack, pwned string) []hostileCase {
	huge := make([]byte, webhookLimit+1<<20)
	for i := range huge {
		huge[i] = ' '
	}
	huge[0], huge[len(huge)-1] = '{', '}'
	bomb := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := i - 1
		bomb += fmt.Sprintf("%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	bigBody := `{"githubConnectionId":"acme/app","branch":"main","cluster":"` + strings.Repeat("x", 100<<10) + `"}`
	return []hostileCase{
		// Webhooks refused at the door.
		{name: "sig-missing", delivery: &rawDelivery{signature: "none"}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "sig-wrong-secret", delivery: &rawDelivery{signature: "secret:not-the-webhook-secret"}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "sig-other-body", delivery: &rawDelivery{signature: hubSignature(webhookSecret, []byte(`{"zen":"x"}`))}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "sig-sha1-only", delivery: &rawDelivery{signature: "none", header: map[string]string{"X-Hub-Signature": "sha1=0000000000000000000000000000000000000000"}}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "sig-not-hex", delivery: &rawDelivery{signature: "sha256=" + strings.Repeat("zz", 32)}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "sig-truncated", delivery: &rawDelivery{signature: "truncated"}, wantCode: 401, wantText: "signature missing or invalid"},
		{name: "json-malformed", delivery: &rawDelivery{body: []byte(`{"ref": "refs/heads/main", "after":`)}, wantCode: 400, wantText: "malformed JSON payload for event push"},
		{name: "json-wrong-types", delivery: &rawDelivery{body: []byte(`{"ref": 5, "after": [], "installation": "x"}`)}, wantCode: 400, wantText: "malformed JSON payload for event push"},
		{name: "body-oversized", delivery: &rawDelivery{body: huge}, wantCode: 413, wantText: "payload larger than 25 MiB"},
		{name: "delivery-traversal", delivery: &rawDelivery{id: "../../x"}, wantCode: 400, wantText: "X-GitHub-Delivery"},
		{name: "delivery-colon", delivery: &rawDelivery{id: "a:b"}, wantCode: 400, wantText: "X-GitHub-Delivery"},
		{name: "delivery-too-long", delivery: &rawDelivery{id: strings.Repeat("a", 65)}, wantCode: 400, wantText: "X-GitHub-Delivery"},
		{name: "delivery-missing", delivery: &rawDelivery{id: "none"}, wantCode: 400, wantText: "X-GitHub-Delivery"},
		{name: "hook-id-injection", delivery: &rawDelivery{hookID: "7 OR 1=1"}, wantCode: 400, wantText: "X-GitHub-Hook-ID"},
		{name: "event-traversal", delivery: &rawDelivery{event: "../push"}, wantCode: 400, wantText: "X-GitHub-Event"},

		// Validly signed pushes with hostile values: taken, then refused by the
		// worker before git runs.
		{name: "push-branch-option", push: &hostilePush{branch: "--upload-pack=touch " + pwned}, wantCode: 202, wantText: "queued", wantErr: "push refused"},
		{name: "push-branch-dotdot", push: &hostilePush{branch: "main/../../etc"}, wantCode: 202, wantText: "queued", wantErr: "push refused"},
		{name: "push-repo-traversal", push: &hostilePush{repo: "acme/.."}, wantCode: 202, wantText: "queued", wantErr: "push refused"},
		{name: "push-repo-url", push: &hostilePush{repo: "evil.example/x@y"}, wantCode: 202, wantText: "queued", wantErr: "push refused"},
		{name: "push-sha-option", push: &hostilePush{sha: "--output=" + pwned}, wantCode: 202, wantText: "queued", wantErr: "push refused"},
		{name: "push-sha-revision", push: &hostilePush{sha: "HEAD~1"}, wantCode: 202, wantText: "queued", wantErr: "push refused"},

		// Comments.
		{name: "comment-quoted", comment: &hostileComment{body: "> /deploy"}, wantCode: 202, wantText: "not a /deploy comment"},
		{name: "comment-code-fence", comment: &hostileComment{body: "```\n/deploy\n```"}, wantCode: 202, wantText: "not a /deploy comment"},
		{name: "comment-inline-code", comment: &hostileComment{body: "`/deploy`"}, wantCode: 202, wantText: "not a /deploy comment"},
		{name: "comment-indented-code", comment: &hostileComment{body: "    /deploy"}, wantCode: 202, wantText: "not a /deploy comment"},
		{name: "comment-by-bot", comment: &hostileComment{body: "/deploy", bot: true}, wantCode: 202, wantText: "comment by a bot"},
		{name: "comment-traversal", comment: &hostileComment{body: "/deploy ../../etc"}, wantCode: 202, wantText: "queued", wantErr: "`../../etc` is not an environment name"},
		{name: "comment-subshell", comment: &hostileComment{body: "/deploy $(id)"}, wantCode: 202, wantText: "queued", wantErr: "`$(id)` is not an environment name"},
		{name: "comment-two-commands", comment: &hostileComment{body: "/deploy production; rm -rf /"}, wantCode: 202, wantText: "queued", wantErr: "Panda did not understand"},
		{name: "comment-long-line", comment: &hostileComment{body: "/deploy " + strings.Repeat("a", 100_000)}, wantCode: 202, wantText: "queued", wantErr: "is not an environment name"},
		{name: "comment-unknown-env", comment: &hostileComment{body: "/deploy nowhere"}, wantCode: 202, wantText: "queued", wantErr: "There is no environment `nowhere`"},
		{name: "comment-by-reader", comment: &hostileComment{body: "/deploy", perm: "read"}, wantCode: 202, wantText: "queued", wantErr: "only people with write access"},

		// .panda.yml.
		{name: "yml-alias-bomb", config: bomb, wantCode: 202, wantErr: "uses YAML anchors or aliases"},
		{name: "yml-merge-key", config: "base: &base {cluster: prod}\nenvironments:\n  production:\n    <<: *base\n", wantCode: 202, wantErr: "uses YAML anchors or aliases"},
		{name: "yml-unknown-field", config: validConfig(s, "    dockerfilee: Dockerfile\n"), wantCode: 202, wantErr: "dockerfilee: is not a known field"},
		{name: "yml-dockerfile-traversal", config: validConfig(s, "    dockerfile: ../../etc/passwd\n"), wantCode: 202, wantErr: `must be a file inside the repository (no "..")`},
		{name: "yml-dockerfile-absolute", config: validConfig(s, "    dockerfile: /etc/passwd\n"), wantCode: 202, wantErr: "must be relative to the repository root, not absolute"},
		{name: "yml-dockerfile-nul", config: validConfig(s, "    dockerfile: \"Docker\\0file\"\n"), wantCode: 202, wantErr: "must not contain NUL, line breaks or other control characters"},
		{name: "yml-raw-nul", config: validConfig(s, "    service: \x00\n"), wantCode: 202, wantErr: "control characters are not allowed"},
		{name: "yml-one-mib", config: validConfig(s, "# "+strings.Repeat("x", 1<<20)+"\n"), wantCode: 202, wantErr: "is larger than 64 KiB"},
		{name: "yml-two-documents", config: validConfig(s, "---\nenvironments: {}\n"), wantCode: 202, wantErr: "holds more than one YAML document"},
		{name: "yml-env-traversal", config: strings.Replace(validConfig(s, ""), "production", "../prod", 1), wantCode: 202, wantErr: "is not an environment name"},
		{name: "yml-ecr-traversal", config: validConfig(s, "    ecr_repository: ../x\n"), wantCode: 202, wantErr: "is not an ECR repository name"},

		// The HTTP API.
		{name: "api-no-token", api: &apiCall{method: "GET", path: "/api/v1/deployments", auth: "none"}, wantCode: 401, wantText: "authentication required"},
		{name: "api-wrong-token", api: &apiCall{method: "GET", path: "/api/v1/deployments", auth: "Bearer " + apiToken + "x"}, wantCode: 401, wantText: "authentication required"},
		{name: "api-basic-auth", api: &apiCall{method: "GET", path: "/api/v1/connections", auth: "Basic " + apiToken}, wantCode: 401, wantText: "authentication required"},
		{name: "api-token-in-query", api: &apiCall{method: "GET", path: "/api/v1/connections?token=" + apiToken, auth: "none"}, wantCode: 401, wantText: "authentication required"},
		{name: "api-wrong-token-on-read", api: &apiCall{method: "GET", path: "/api/v1/deploy/{id}/result", auth: "Bearer nope"}, wantCode: 401, wantText: "authentication required"},
		{name: "api-body-oversized", api: &apiCall{method: "POST", path: "/api/v1/deploy", body: bigBody}, wantCode: 413, wantText: "body larger than 65536 bytes"},
		{name: "api-unknown-field", api: &apiCall{method: "POST", path: "/api/v1/deploy", body: `{"githubConnectionId":"acme/app","branch":"main","evil":true}`}, wantCode: 400, wantText: "evil: unknown field"},
		{name: "api-trailing-data", api: &apiCall{method: "POST", path: "/api/v1/deploy", body: `{"githubConnectionId":"acme/app","branch":"main"}{}`}, wantCode: 400, wantText: "must hold one JSON object and nothing after it"},
		{name: "api-wrong-content-type", api: &apiCall{method: "POST", path: "/api/v1/deploy", header: map[string]string{"Content-Type": "text/plain"}, body: `{}`}, wantCode: 415, wantText: "Content-Type must be application/json"},
		{name: "api-branch-option", api: &apiCall{method: "POST", path: "/api/v1/deploy", body: `{"githubConnectionId":"acme/app","branch":"--upload-pack=touch ` + pwned + `"}`}, wantCode: 400, wantText: `branch: is not a branch name: it starts with \"-\"`},
		{name: "api-connect-unknown-field", api: &apiCall{method: "POST", path: "/api/v1/connect/aws", body: `{"name":"x","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"hostile-secret-access-key-0000","x":1}`}, wantCode: 400, wantText: "x: unknown field"},
		{name: "api-id-dotdot", api: &apiCall{method: "GET", path: "/api/v1/deploy/dep_../../x/result"}, wantCode: 307, wantText: `href="/api/v1/deploy/x/result"`},
		{name: "api-id-dotdot-followed", api: &apiCall{method: "GET", path: "/api/v1/deploy/x/result"}, wantCode: 404, wantText: "not found"},
		{name: "api-id-encoded-dots", api: &apiCall{method: "GET", path: "/api/v1/deploy/%2e%2e/result"}, wantCode: 404, wantText: "not found"},
		{name: "api-id-encoded-slash", api: &apiCall{method: "GET", path: "/api/v1/deploy/dep_..%2F..%2Fx/result"}, wantCode: 404, wantText: "not found"},
		{name: "api-id-unknown", api: &apiCall{method: "GET", path: "/api/v1/deploy/dep_AAAAAAAAAA/result"}, wantCode: 404, wantText: "not found"},
		{name: "api-id-nul", api: &apiCall{method: "GET", path: "/api/v1/deploy/dep_%00/events"}, wantCode: 404, wantText: "not found"},
		{name: "api-list-repo-traversal", api: &apiCall{method: "GET", path: "/api/v1/deployments?repo=../../etc"}, wantCode: 400, wantText: "repo: is not a repository owner/name"},
		{name: "api-delete-traversal", api: &apiCall{method: "DELETE", path: "/api/v1/connections/github/..%2F..%2Fetc/passwd"}, wantCode: 404},
		{name: "sse-header-injection", api: &apiCall{method: "GET", path: "/api/v1/deploy/{id}/events", raw: true, header: map[string]string{"Last-Event-ID": "1\r\nX-Injected: y"}}, wantCode: 400, wantText: "Last-Event-ID: not an event id of this stream"},
		{name: "sse-encoded-crlf", api: &apiCall{method: "GET", path: "/api/v1/deploy/{id}/events", header: map[string]string{"Last-Event-ID": "1-0%0d%0aX-Injected:%20y"}}, wantCode: 400, wantText: "Last-Event-ID: not an event id of this stream"},
		{name: "sse-id-overflow", api: &apiCall{method: "GET", path: "/api/v1/deploy/{id}/events", header: map[string]string{"Last-Event-ID": "99999999999999999999-0"}}, wantCode: 400, wantText: "Last-Event-ID: not an event id of this stream"},
	}
}

// contentCases are hostile repository contents: each reaches a build on the
// worker, whose build context is limited to 1 MiB.
func contentCases() []hostileCase {
	link := func(target string) gittest.File { return gittest.File{SymlinkTarget: target} }
	file := func(content string) gittest.File { return gittest.File{Content: content} }
	return []hostileCase{
		{name: "ctx-dockerfile-symlink-out", files: map[string]gittest.File{"Dockerfile": link("/etc/passwd")}, wantCode: 202, wantErr: "leads outside the repository"},
		{name: "ctx-copy-symlink-out", files: map[string]gittest.File{
			"Dockerfile": file("FROM scratch\nCOPY passwd /passwd\n"), "passwd": link("/etc/passwd"),
		}, wantCode: 202, wantErr: "line 2 (COPY passwd /passwd): \"/etc/passwd\" not found"},
		{name: "ctx-too-large", files: map[string]gittest.File{
			"Dockerfile": file(dockerfile), "hello.txt": file("hi\n"), "big.bin": file(strings.Repeat("0123456789abcdef", 2<<16)),
		}, wantCode: 202, wantErr: "build context is larger than 1 MiB"},
		{name: "ctx-dockerignore-dockerfile", files: map[string]gittest.File{
			".dockerignore": file("Dockerfile\nsecret.txt\n"), "Dockerfile": file("FROM scratch\nCOPY secret.txt /secret.txt\n"), "secret.txt": file("s\n"),
		}, wantCode: 202, wantErr: "line 2 (COPY secret.txt /secret.txt): \"/secret.txt\" not found"},
	}
}

// webhookLimit is the intake's body limit (webhook.MaxBodyBytes).
const webhookLimit = 25 << 20

// hostileEnv is the stack the hostile cases share: one app and one worker
// whose build context is limited to 1 MiB, with a control deployment.
type hostileEnv struct {
	*stack
	tap     *tokenTap
	answers *answerLog
	insp    *asynq.Inspector
	st      *store.Store
	control string // a deployment that succeeded
	pwned   string // a path no input may create
	// before is how many deployments there were before the cases ran.
	before int
}

func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	s := newStack(t)
	h := &hostileEnv{stack: s, tap: newTokenTap(t, s.gh.URL()), answers: newAnswerLog(), pwned: filepath.Join(t.TempDir(), "pwned")}
	s.setEnv("GITHUB_API_URL="+h.tap.srv.URL, "PANDA_ENCRYPTION_KEY="+encryptionKey, "PANDA_MAX_CONTEXT_MB=1")
	st, rdb := s.openStore()
	h.st, h.insp = st, asynq.NewInspectorFromRedisClient(rdb)
	s.startApp()
	s.start("worker")
	sha := s.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "control\n"})
	if code := s.postWebhook("push", "control-1", pushPayload(t, sha)); code != http.StatusAccepted {
		t.Fatalf("control push answered %d", code)
	}
	dep := s.waitFinal(sha, 2*time.Minute)
	if dep.Status != "SUCCEEDED" {
		t.Fatalf("control deployment ended %s; log tail:\n%s", dep.Status, tail(s.logs.String(), 3000))
	}
	h.control = dep.ID
	return h
}

// TestHostileInput sends each hostile input to the running binaries and
// checks the clear error it gets and that it changed nothing.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	h := newHostileEnv(t)
	h.runAll(t, hostileCases(h.stack, h.pwned), contentCases())
}

// waitQuiet waits until every deployment is final, so their last git
// requests, logs and check-run updates are behind, and returns them.
func (h *hostileEnv) waitQuiet(t *testing.T) []*store.Deployment {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		list, err := h.st.List(context.Background(), store.Filter{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for _, d := range list {
			done = done && d.Status.Final()
		}
		if done {
			time.Sleep(500 * time.Millisecond) // the last check-run updates and log lines follow the final status
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployments still running after a minute; log tail:\n%s", tail(h.logs.String(), 2000))
		}
	}
}

// runAll runs the cases that must never reach git or the engine first, all
// at once, and checks that nothing did; then the repository-content cases.
func (h *hostileEnv) runAll(t *testing.T, early, content []hostileCase) {
	t.Helper()
	h.before = len(h.waitQuiet(t))
	gitBefore := len(h.git.Requests())
	t.Run("early", func(t *testing.T) {
		for _, c := range early {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h.run(t, c)
			})
		}
	})
	if n := len(h.git.Requests()) - gitBefore; n != 0 {
		t.Errorf("%d git requests while no case should reach git", n)
	}
	if list, err := h.st.List(context.Background(), store.Filter{Limit: 200}); err != nil || len(list) != h.before {
		t.Errorf("%d deployments (err %v), want only the %d made before the cases", len(list), err, h.before)
	}
	t.Run("content", func(t *testing.T) {
		for _, c := range content {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h.run(t, c)
			})
		}
	})
	if _, err := os.Stat(h.pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a hostile input wrote %s (stat: %v)", h.pwned, err)
	}
}

func (h *hostileEnv) run(t *testing.T, c hostileCase) {
	repo := "acme/h-" + c.name
	switch {
	case c.delivery != nil:
		h.runDelivery(t, c, repo)
	case c.push != nil:
		h.runPush(t, c, repo)
	case c.comment != nil:
		h.runComment(t, c, repo)
	case c.config != "":
		h.runConfig(t, c, repo)
	case c.files != nil:
		h.runFiles(t, c, repo)
	case c.api != nil:
		h.runAPI(t, c)
	default:
		t.Fatal("case without input")
	}
}

func (h *hostileEnv) checkAnswer(t *testing.T, c hostileCase, code int, body string) {
	t.Helper()
	if code != c.wantCode || !strings.Contains(body, c.wantText) {
		t.Fatalf("answer %d %q, want %d saying %q", code, tail(body, 300), c.wantCode, c.wantText)
	}
}

// deliveryID is the delivery id of a case unless it sets its own.
func deliveryID(c hostileCase) string { return "hostile-" + c.name }

func (h *hostileEnv) post(t *testing.T, d rawDelivery) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+h.appAddr+"/webhook", strings.NewReader(string(d.body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.id, "X-GitHub-Hook-ID": d.hookID} {
		if v != "none" {
			req.Header.Set(k, v)
		}
	}
	switch {
	case d.signature == "":
		req.Header.Set("X-Hub-Signature-256", hubSignature(webhookSecret, d.body))
	case d.signature == "truncated":
		sig := hubSignature(webhookSecret, d.body)
		req.Header.Set("X-Hub-Signature-256", sig[:len(sig)-2])
	case strings.HasPrefix(d.signature, "secret:"):
		req.Header.Set("X-Hub-Signature-256", hubSignature(strings.TrimPrefix(d.signature, "secret:"), d.body))
	case d.signature != "none":
		req.Header.Set("X-Hub-Signature-256", d.signature)
	}
	for k, v := range d.header {
		req.Header.Set(k, v)
	}
	resp, err := h.answers.Client().Do(req)
	if err != nil {
		t.Fatalf("post delivery: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (h *hostileEnv) runDelivery(t *testing.T, c hostileCase, repo string) {
	d := *c.delivery
	if d.event == "" {
		d.event = "push"
	}
	if d.id == "" {
		d.id = deliveryID(c)
	}
	if d.hookID == "" {
		d.hookID = "7"
	}
	if d.body == nil {
		d.body = pushPayloadFor(t, repo, "main", strings.Repeat("a", 40))
	}
	code, body := h.post(t, d)
	h.checkAnswer(t, c, code, body)
	h.checkNotQueued(t, "gh:"+d.hookID+":"+d.id)
}

// checkNotQueued checks that no task with the delivery's TaskID exists.
func (h *hostileEnv) checkNotQueued(t *testing.T, taskID string) {
	t.Helper()
	for _, q := range []string{tasks.QueueWebhooks} {
		if info, err := h.insp.GetTaskInfo(q, taskID); err == nil {
			t.Errorf("task %s was queued (state %v)", taskID, info.State)
		} else if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
	}
}

func (h *hostileEnv) runPush(t *testing.T, c hostileCase, repo string) {
	p := *c.push
	if p.repo == "" {
		p.repo = repo
	}
	if p.branch == "" {
		p.branch = "main"
	}
	if p.sha == "" {
		p.sha = strings.Repeat("b", 40)
	}
	var m map[string]any
	if err := json.Unmarshal(pushPayloadFor(t, p.repo, p.branch, strings.Repeat("c", 40)), &m); err != nil {
		t.Fatal(err)
	}
	m["after"] = p.sha
	body, _ := json.Marshal(m)
	id := deliveryID(c)
	code, answer := h.post(t, rawDelivery{event: "push", id: id, hookID: "7", body: body})
	h.checkAnswer(t, c, code, answer)
	taskID := "gh:7:" + id
	var info *asynq.TaskInfo
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if info, err = h.insp.GetTaskInfo(tasks.QueueWebhooks, taskID); err == nil && info.State == asynq.TaskStateArchived {
			break
		}
	}
	if info == nil || info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, c.wantErr) {
		t.Fatalf("task %s: %+v, want archived with %q", taskID, info, c.wantErr)
	}
	if info.Retried != 0 {
		t.Errorf("a refused push was retried %d times", info.Retried)
	}
}

// commentPayload is the comment fixture for repo's pull request 1.
func commentPayload(t *testing.T, repo string, commentID int64, body, login string, bot bool) []byte {
	t.Helper()
	raw, err := os.ReadFile("../webhook/testdata/issue_comment.created.pr.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	typ := "User"
	if bot {
		typ = "Bot"
	}
	m["issue"].(map[string]any)["number"] = 1
	m["comment"].(map[string]any)["id"] = commentID
	m["comment"].(map[string]any)["body"] = body
	m["comment"].(map[string]any)["user"] = map[string]any{"login": login, "type": typ}
	m["sender"] = map[string]any{"login": login, "type": typ}
	m["repository"].(map[string]any)["full_name"] = repo
	m["installation"] = map[string]any{"id": installation}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *hostileEnv) runComment(t *testing.T, c hostileCase, repo string) {
	const author = "alice"
	head := strings.Repeat("d", 40)
	h.gh.AddInstallation(installation, repo)
	h.gh.AddPullRequest(repo, githubtest.PullRequest{Number: 1, HeadSHA: head, HeadRef: "feature", BaseRef: "main", User: author})
	perm := c.comment.perm
	if perm == "" {
		perm = "write"
	}
	h.gh.SetPermission(repo, author, perm)
	h.gh.SetFile(repo, head, ".panda.yml", []byte(validConfig(h.stack, "")))
	commentID := h.gh.AddComment(repo, 1, githubtest.Comment{User: author, Body: c.comment.body})
	id := deliveryID(c)
	code, answer := h.post(t, rawDelivery{event: "issue_comment", id: id, hookID: "7",
		body: commentPayload(t, repo, commentID, c.comment.body, author, c.comment.bot)})
	h.checkAnswer(t, c, code, answer)
	if c.wantErr == "" {
		h.checkNotQueued(t, "gh:7:"+id)
		return
	}
	reply := h.waitReply(t, repo, author)
	if !strings.Contains(reply, c.wantErr) || !strings.Contains(reply, "did not") && !strings.Contains(reply, "Nothing was deployed") && !strings.Contains(reply, "Valid environments") {
		t.Errorf("reply %q, want it to say %q and that nothing was deployed", reply, c.wantErr)
	}
	if len(reply) > 1000 {
		t.Errorf("reply of %d bytes: a hostile line must not be echoed whole", len(reply))
	}
	for _, r := range h.gh.Reactions(commentID) {
		if r.Content == "rocket" || r.Content == "confused" {
			t.Errorf("comment got a %s reaction: a deployment ran", r.Content)
		}
	}
	h.checkNoDeployment(t, repo)
}

// waitReply waits for Panda's one reply on pull request 1 of repo.
func (h *hostileEnv) waitReply(t *testing.T, repo, author string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var replies []string
		for _, cm := range h.gh.Comments(repo, 1) {
			if cm.User != author {
				replies = append(replies, cm.Body)
			}
		}
		if len(replies) > 1 {
			t.Fatalf("%d replies, want 1: %q", len(replies), replies)
		}
		if len(replies) == 1 {
			return replies[0]
		}
	}
	t.Fatalf("no reply on %s#1 within 30s", repo)
	return ""
}

func (h *hostileEnv) checkNoDeployment(t *testing.T, repo string) {
	t.Helper()
	list, err := h.st.List(context.Background(), store.Filter{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d deployments of %s made from a hostile input", len(list), repo)
	}
	if tags := h.reg.Tags(strings.ReplaceAll(repo, "/", "-")); len(tags) != 0 {
		t.Errorf("images pushed for %s: %v", repo, tags)
	}
}

func (h *hostileEnv) runConfig(t *testing.T, c hostileCase, repo string) {
	h.gh.AddInstallation(installation, repo)
	sha := fmt.Sprintf("%x", sha1.Sum([]byte(c.name))) // #nosec G401 -- a made-up commit id
	h.gh.SetFile(repo, sha, ".panda.yml", []byte(c.config))
	code, answer := h.post(t, rawDelivery{event: "push", id: deliveryID(c), hookID: "7", body: pushPayloadFor(t, repo, "main", sha)})
	h.checkAnswer(t, c, code, answer)
	var run *githubtest.CheckRun
	for deadline := time.Now().Add(30 * time.Second); run == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, r := range h.gh.CheckRuns(repo) {
			if r.HeadSHA == sha && r.Status == "completed" {
				run = &r
			}
		}
	}
	if run == nil {
		t.Fatalf("no check run on %s within 30s", sha[:7])
	}
	text := run.Output.Title + "\n" + run.Output.Summary
	if run.Conclusion != "failure" || !strings.Contains(text, ".panda.yml is invalid") || !strings.Contains(text, c.wantErr) {
		t.Errorf("check run %s %s %q, want a failure saying %q", run.Name, run.Conclusion, text, c.wantErr)
	}
	if len(run.Output.Annotations) != 1 || run.Output.Annotations[0].Path != ".panda.yml" {
		t.Errorf("annotations %+v, want one on .panda.yml", run.Output.Annotations)
	}
	h.checkNoDeployment(t, repo)
}

func (h *hostileEnv) runFiles(t *testing.T, c hostileCase, repo string) {
	owner, name, _ := strings.Cut(repo, "/")
	h.gh.AddInstallation(installation, repo)
	r := h.git.CreateRepo(owner, name)
	yml := validConfig(h.stack, "")
	files := map[string]gittest.File{".panda.yml": {Content: yml}}
	for p, f := range c.files {
		files[p] = f
	}
	sha := r.CommitFiles("main", files, "hostile contents")
	h.gh.SetFile(repo, sha, ".panda.yml", []byte(yml))
	code, answer := h.post(t, rawDelivery{event: "push", id: deliveryID(c), hookID: "7", body: pushPayloadFor(t, repo, "main", sha)})
	h.checkAnswer(t, c, code, answer)
	var dep *store.Deployment
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := h.st.List(context.Background(), store.Filter{Repo: repo})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Status.Final() {
			dep = list[0]
			break
		}
	}
	if dep == nil {
		t.Fatalf("no final deployment of %s within 90s; log tail:\n%s", repo, tail(h.logs.String(), 2000))
	}
	t.Logf("deployment %s: %s at %s: %s", dep.ID, dep.Status, dep.ErrorStage, dep.Error)
	if dep.Status != store.StatusFailed || dep.ErrorStage != "build" || !strings.Contains(dep.Error, c.wantErr) {
		t.Errorf("deployment ended %s at %q: %q, want FAILED at build saying %q", dep.Status, dep.ErrorStage, dep.Error, c.wantErr)
	}
	if tags := h.reg.Tags(strings.ReplaceAll(repo, "/", "-")); len(tags) != 0 {
		t.Errorf("images pushed for %s: %v", repo, tags)
	}
	for _, e := range h.aws.Executions(h.smARN) {
		if strings.HasSuffix(e, ":"+dep.ID) {
			t.Errorf("execution %s started for a failed build", e)
		}
	}
}

func (h *hostileEnv) runAPI(t *testing.T, c hostileCase) {
	a := *c.api
	path := strings.ReplaceAll(a.path, "{id}", h.control)
	header := map[string]string{}
	switch a.auth {
	case "":
		header["Authorization"] = "Bearer " + apiToken
	case "none":
	default:
		header["Authorization"] = a.auth
	}
	if a.body != "" {
		header["Content-Type"] = "application/json"
	}
	for k, v := range a.header {
		header[k] = strings.ReplaceAll(v, "{id}", h.control)
	}
	var code int
	var body string
	var answerHeader http.Header
	if a.raw {
		code, answerHeader, body = rawRequest(t, h.appAddr, a.method, path, header, a.body)
		fmt.Fprintf(&h.answers.buf, "\n--- raw %s → %d\n%v\n%s", a.method, code, answerHeader, body)
	} else {
		code, answerHeader, body = h.apiRequest(t, a.method, path, header, a.body)
	}
	h.checkAnswer(t, c, code, body)
	for k := range answerHeader {
		if strings.HasPrefix(strings.ToLower(k), "x-injected") {
			t.Errorf("an injected header %s came back", k)
		}
	}
	if list, err := h.st.List(context.Background(), store.Filter{Limit: 200}); err != nil || len(list) != h.before {
		t.Errorf("%d deployments after a hostile API call (err %v), want the %d made before the cases", len(list), err, h.before)
	}
}

func (h *hostileEnv) apiRequest(t *testing.T, method, path string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+h.appAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.answers.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// rawRequest writes a request exactly as given, bypassing net/http's header
// checks (which would refuse a CR LF in a value), and reads the answer.
func rawRequest(t *testing.T, addr, method, path string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, addr, len(body))
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(answer)
}
