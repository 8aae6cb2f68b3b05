package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/awstest"
)

// connectionToken is a repository token registered through the API; Panda
// must store it sealed and never show it.
const connectionToken = "ghp_e2eConnectionToken0123456789abcdefXYZ"

// TestNoSecretLeaks drives a representative set of flows through the
// binaries itself (a push deployment that succeeds, one whose rollout
// fails, a deployment started through the API, connections registered and
// listed, event streams read, and every hostile input), then reads every log
// line of the binaries, every event and record in Redis, everything Panda
// sent to GitHub and every API answer, and fails if any secret the test used
// appears in any of them.
//
// The flows run inside this one test, not collected from the others: tests
// run in parallel and share no state, so the scan can only vouch for what
// its own test produced.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	h := newHostileEnv(t) // the control deployment is the success flow
	client := h.answers.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A rollout that fails: its Step Functions error and cause reach the check
	// run, the events and the result.
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "failing rollout\n"})
	h.aws.SetOutcome(h.smARN, awstest.Outcome{FailAt: "UpdateService", Error: "ECS.ServiceNotFound", Cause: "service web not found"})
	if code := h.postWebhook("push", "leak-fail-1", pushPayload(t, sha)); code != http.StatusAccepted {
		t.Fatalf("push answered %d", code)
	}
	failed := h.waitFinal(sha, 2*time.Minute)
	h.aws.SetOutcome(h.smARN, awstest.Outcome{})
	if failed.Status != "FAILED" {
		t.Fatalf("failing rollout ended %s", failed.Status)
	}

	// Connections: a token connection and an installation one, an AWS
	// connection STS accepts (the worker's own keys) and one it refuses.
	creds := h.aws.Credentials()
	for _, c := range []struct{ path, body string }{
		{"/api/v1/connect/github", `{"repo":"acme/tokened","token":"` + connectionToken + `"}`},
		{"/api/v1/connect/github", `{"repo":"acme/app","installationId":42}`},
		{"/api/v1/connect/aws", `{"name":"prod","region":"` + h.aws.Region() + `","accessKeyId":"` + creds.AccessKeyID + `","secretAccessKey":"` + creds.SecretAccessKey + `"}`},
		{"/api/v1/connect/aws", `{"name":"bad","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`},
	} {
		h.call(t, client, http.MethodPost, c.path, c.body)
	}
	h.call(t, client, http.MethodGet, "/api/v1/connections", "")

	// A deployment started through the API, read back every way the API offers.
	var started struct {
		ID string `json:"deploymentId"`
	}
	body := h.call(t, client, http.MethodPost, "/api/v1/deploy", `{"githubConnectionId":"acme/app","sha":"`+sha+`","awsConnectionId":"prod"}`)
	if err := decodeData(body, &started); err != nil || started.ID == "" {
		t.Fatalf("manual deployment not started: %s", body)
	}
	for _, id := range []string{h.control, failed.ID, started.ID} {
		if _, err := readStreamEvents(ctx, client, h.appAddr, id); err != nil {
			t.Fatal(err)
		}
		h.call(t, client, http.MethodGet, "/api/v1/deploy/"+id+"/result", "")
		h.call(t, client, http.MethodGet, "/deployments/"+id, "")
	}
	h.call(t, client, http.MethodGet, "/api/v1/deployments?repo="+repoName, "")
	h.call(t, client, http.MethodGet, "/metrics", "")

	// Every hostile input, with its answers kept.
	h.runAll(t, hostileCases(h.stack, h.pwned), contentCases())

	h.scan(t, ctx)
}

// call makes an API request with the token through client and returns the body.
func (h *hostileEnv) call(t *testing.T, client *http.Client, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+h.appAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s answered %d: %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// scan waits for the deployments to end (so their last logs and check runs
// are written), gathers every text and looks for the secrets in it.
func (h *hostileEnv) scan(t *testing.T, ctx context.Context) {
	t.Helper()
	h.waitQuiet(t)
	_, rdb := h.openStore()
	sources := []leakSource{{name: "the binaries' logs", text: h.logs.String()}, {name: "API answers", text: h.answers.String()}}
	sources = append(sources, redisTexts(t, rdb)...)
	var repos []string
	for _, c := range append(hostileCases(h.stack, h.pwned), contentCases()...) {
		repos = append(repos, "acme/h-"+c.name)
	}
	sources = append(sources, h.githubTexts(append(repos, repoName)...)...)

	// The scan must have read something real, or it proves nothing.
	switch {
	case len(h.tap.Tokens()) == 0:
		t.Fatal("no installation token was issued: the tap saw nothing")
	case !strings.Contains(h.logs.String(), h.control):
		t.Fatal("the logs do not mention the control deployment")
	case !strings.Contains(h.answers.String(), "event: done"):
		t.Fatal("no event stream was read through the answer log")
	case len(sources) < 50:
		t.Fatalf("only %d sources to scan", len(sources))
	}
	secrets := h.secretsOf(h.tap, map[string]string{
		"GitHub connection token":  connectionToken,
		"refused AWS secret key":   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"hostile API secret value": "hostile-secret-access-key-0000",
	})
	t.Logf("scanned %d sources (%d bytes of logs, %d of answers) for %d secrets", len(sources), len(h.logs.String()), len(h.answers.String()), len(secrets))
	scanSecrets(t, secrets, sources)
}

// decodeData decodes the data of an API envelope into v.
func decodeData(body string, v any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, v)
}
