package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	protected := []struct{ method, path, body string }{
		{method: "POST", path: "/api/v1/connect/aws", body: `{}`},
		{method: "POST", path: "/api/v1/connect/github", body: `{}`},
		{method: "GET", path: "/api/v1/connections"},
		{method: "DELETE", path: "/api/v1/connections/aws/prod"},
		{method: "DELETE", path: "/api/v1/connections/github/octo/app"},
		{method: "POST", path: "/api/v1/deploy", body: `{}`},
		{method: "GET", path: "/api/v1/deployments"},
		{method: "GET", path: "/api/v1/audit"},
		{method: "GET", path: "/api/v1/audit/export"},
	}
	var messages []string
	for _, rt := range protected {
		for _, auth := range []string{"", bearer("wrong-token-0123456789"), "Basic " + token, bearer(token + "x"), token} {
			a := e.do(rt.method, rt.path, rt.body, auth)
			if a.Status != http.StatusUnauthorized || a.Success || a.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %q: %d %s", rt.method, rt.path, auth, a.Status, a.Raw)
			}
			messages = append(messages, a.Message)
		}
	}
	// By-id reads: no token is fine, a wrong one is not, and a 401 reads the
	// same for a deployment that exists and one that does not.
	unknown := store.NewID()
	for _, path := range []string{"/api/v1/deploy/%s/result", "/deployments/%s", "/api/v1/deploy/%s/events"} {
		for _, id := range []string{d.ID, unknown} {
			a := e.do("GET", fmt.Sprintf(path, id), "", bearer("wrong-token-0123456789"))
			if a.Status != http.StatusUnauthorized {
				t.Errorf("%s with a wrong token: %d", fmt.Sprintf(path, id), a.Status)
			}
			messages = append(messages, a.Message)
		}
		if a := e.do("GET", fmt.Sprintf(path, unknown), "", ""); a.Status != http.StatusNotFound {
			t.Errorf("%s unknown without token: %d", path, a.Status)
		}
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Errorf("401 messages differ: %q vs %q", m, messages[0])
		}
	}
	if a := e.do("GET", "/api/v1/deploy/"+d.ID+"/result", "", ""); a.Status != http.StatusOK {
		t.Errorf("result by id alone: %d %s", a.Status, a.Raw)
	}
	if a := e.do("GET", "/api/v1/deploy/"+d.ID+"/result", "", bearer(token)); a.Status != http.StatusOK {
		t.Errorf("result with token: %d %s", a.Status, a.Raw)
	}
}

// TestNamedTokens: every configured caller's token opens the API, and what a
// caller does is recorded under its name.
func TestNamedTokens(t *testing.T) {
	t.Parallel()
	const other = "dashboard-token-abcdefghij"
	e := newEnv(t, func(o *api.Options) {
		o.APITokens = append(o.APITokens, config.APIToken{Name: "dashboard", Token: other})
	})
	if err := e.conns.PutGitHub(t.Context(), connections.GitHub{Repo: "octo/app", InstallationID: 7}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{token, other} {
		if a := e.do("GET", "/api/v1/connections", "", bearer(tok)); a.Status != 200 {
			t.Errorf("token of a configured caller: %d %s", a.Status, a.Raw)
		}
	}
	if a := e.do("POST", "/api/v1/deploy", `{"gitHubConnectionId":"octo/app","branch":"main"}`, bearer(other)); a.Status != 202 {
		t.Fatalf("deploy: %d %s", a.Status, a.Raw)
	}
	if reqs := e.deployer.requests(); len(reqs) != 1 || reqs[0].Actor != "api:dashboard" {
		t.Errorf("deployer got %+v, want actor api:dashboard", reqs)
	}
	if strings.Contains(e.logs.String(), other) || strings.Contains(e.logs.String(), token) {
		t.Errorf("a token is in the logs:\n%s", e.logs.String())
	}
}

func TestAuthEmptyTokenFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) { o.APITokens = []config.APIToken{{Name: "empty", Token: ""}} })
	for _, auth := range []string{"", "Bearer ", bearer(token)} {
		if a := e.do("GET", "/api/v1/connections", "", auth); a.Status != http.StatusUnauthorized {
			t.Errorf("auth %q with no configured token: %d", auth, a.Status)
		}
	}
}

func TestConnectAWS(t *testing.T) {
	t.Parallel()
	const role = "arn:aws:iam::210987654321:role/panda-deployer"
	tests := []struct {
		name        string
		body        string
		verifyErr   error
		noKey       bool
		wantStatus  int
		wantField   string
		wantMessage string
	}{
		{name: "role", body: `{"name":"prod","roleArn":"` + role + `","externalId":"ext-1234"}`, wantStatus: 200},
		{name: "role-without-external-id-and-key", body: `{"name":"prod","roleArn":"` + role + `"}`, noKey: true, wantStatus: 200},
		{name: "keys", body: `{"name":"ci","region":"eu-west-1","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`, wantStatus: 200},

		{name: "bad-name", body: `{"name":"../x","roleArn":"` + role + `"}`, wantStatus: 400, wantField: "name"},
		{name: "bad-arn", body: `{"name":"prod","roleArn":"arn:aws:iam::1:user/x"}`, wantStatus: 400, wantField: "roleArn"},
		{name: "both", body: `{"name":"prod","roleArn":"` + role + `","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"x"}`, wantStatus: 400, wantField: "roleArn"},
		{name: "neither", body: `{"name":"prod"}`, wantStatus: 400, wantField: "roleArn"},
		{name: "external-id-without-role", body: `{"name":"prod","externalId":"abc","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"x"}`, wantStatus: 400, wantField: "externalId"},
		{name: "bad-key-id", body: `{"name":"prod","accessKeyId":"nope","secretAccessKey":"x"}`, wantStatus: 400, wantField: "accessKeyId"},
		{name: "no-secret", body: `{"name":"prod","accessKeyId":"AKIAIOSFODNN7EXAMPLE"}`, wantStatus: 400, wantField: "secretAccessKey"},
		{name: "bad-region", body: `{"name":"prod","region":"mars","roleArn":"` + role + `"}`, wantStatus: 400, wantField: "region"},
		{name: "made-up-partition", body: `{"name":"prod","roleArn":"arn:aws-foo:iam::210987654321:role/panda"}`, wantStatus: 400, wantField: "roleArn", wantMessage: `"aws-foo" is not an AWS partition`},
		{name: "gov-role-gov-region", body: `{"name":"prod","region":"us-gov-west-1","roleArn":"arn:aws-us-gov:iam::210987654321:role/panda"}`, wantStatus: 200},
		{name: "role-of-other-partition", body: `{"name":"cn","region":"cn-north-1","roleArn":"` + role + `"}`, wantStatus: 400, wantField: "roleArn", wantMessage: "region cn-north-1 is in aws-cn"},
		{name: "name-too-long", body: `{"name":"` + strings.Repeat("n", 41) + `","roleArn":"` + role + `"}`, wantStatus: 400, wantField: "name", wantMessage: "at most 40"},
		{name: "session-token-with-role", body: `{"name":"prod","roleArn":"` + role + `","sessionToken":"x"}`, wantStatus: 400, wantField: "roleArn"},
		{name: "unknown-field", body: `{"name":"prod","roleArn":"` + role + `","admin":true}`, wantStatus: 400, wantField: "admin"},
		{name: "id-like-name", body: `{"name":"conn_abc","roleArn":"` + role + `"}`, wantStatus: 400, wantField: "name"},
		{name: "wrong-type", body: `{"name":5}`, wantStatus: 400, wantField: "name"},
		{name: "malformed", body: `{"name":`, wantStatus: 400, wantField: "body"},
		{name: "trailing", body: `{"name":"prod","roleArn":"` + role + `"} {}`, wantStatus: 400, wantField: "body"},
		{name: "too-large", body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, wantStatus: 413},
		{name: "rejected", body: `{"name":"prod","roleArn":"` + role + `"}`, verifyErr: fmt.Errorf("%w (AccessDenied)", connections.ErrRejected), wantStatus: 400, wantField: "roleArn"},
		{name: "sts-down", body: `{"name":"prod","roleArn":"` + role + `"}`, verifyErr: errors.New("dial tcp: refused"), wantStatus: 502},
		{name: "keys-without-encryption-key", noKey: true, body: `{"name":"ci","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI"}`, wantStatus: 503, wantMessage: "PANDA_ENCRYPTION_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []envOption
			if tt.noKey {
				opts = append(opts, withoutKey())
			}
			e := newEnv(t, opts...)
			e.verifier.err = tt.verifyErr
			a := e.do("POST", "/api/v1/connect/aws", tt.body, bearer(token))
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if tt.wantField != "" {
				var data struct{ Field string }
				_ = json.Unmarshal(a.Data, &data)
				if data.Field != tt.wantField || !strings.HasPrefix(a.Message, tt.wantField+":") {
					t.Errorf("field %q, message %q; want field %q", data.Field, a.Message, tt.wantField)
				}
			}
			if !strings.Contains(a.Message, tt.wantMessage) {
				t.Errorf("message %q does not say %q", a.Message, tt.wantMessage)
			}
			if tt.wantStatus != 200 {
				return
			}
			c, err := e.conns.AWS(t.Context(), map[bool]string{true: "ci", false: "prod"}[strings.Contains(tt.body, `"ci"`)])
			if err != nil {
				t.Fatal(err)
			}
			if c.AccountID != "123456789012" || len(e.verifier.seen) != 1 || e.verifier.seen[0].Name != c.Name {
				t.Errorf("stored %+v after verifying %+v", c, e.verifier.seen)
			}
		})
	}
}

func TestConnectGitHub(t *testing.T) {
	t.Parallel()
	tok := "ghp_" + strings.Repeat("A1b2", 9)
	tests := []struct {
		name       string
		body       string
		noKey      bool
		verifyErr  error
		noVerifier bool
		wantStatus int
		wantField  string
	}{
		{name: "installation", body: `{"repo":"octo/app","installationId":7}`, wantStatus: 200},
		{name: "token-refused", body: `{"repo":"octo/app","token":"` + tok + `"}`, verifyErr: fmt.Errorf("%w (401)", connections.ErrRejected), wantStatus: 400, wantField: "token"},
		{name: "github-down", body: `{"repo":"octo/app","token":"` + tok + `"}`, verifyErr: errors.New("dial tcp: refused"), wantStatus: 502},
		{name: "token-without-verifier", body: `{"repo":"octo/app","token":"` + tok + `"}`, noVerifier: true, wantStatus: 200},
		{name: "installation-without-key", body: `{"repo":"octo/app","installationId":7}`, noKey: true, wantStatus: 200},
		{name: "token", body: `{"repo":"octo/app","token":"` + tok + `"}`, wantStatus: 200},
		{name: "token-without-key", body: `{"repo":"octo/app","token":"` + tok + `"}`, noKey: true, wantStatus: 503},
		{name: "installation-not-covering", body: `{"repo":"octo/other","installationId":9}`, wantStatus: 400, wantField: "installationId"},
		{name: "bad-repo", body: `{"repo":"octo","installationId":7}`, wantStatus: 400, wantField: "repo"},
		{name: "dot-repo", body: `{"repo":"octo/..","installationId":7}`, wantStatus: 400, wantField: "repo"},
		{name: "both", body: `{"repo":"octo/app","installationId":7,"token":"` + tok + `"}`, wantStatus: 400, wantField: "token"},
		{name: "neither", body: `{"repo":"octo/app"}`, wantStatus: 400, wantField: "installationId"},
		{name: "bad-token", body: `{"repo":"octo/app","token":"x y"}`, wantStatus: 400, wantField: "token"},
		{name: "unknown-field", body: `{"repo":"octo/app","installationId":7,"admin":true}`, wantStatus: 400, wantField: "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []envOption
			if tt.noKey {
				opts = append(opts, withoutKey())
			}
			if tt.noVerifier {
				opts = append(opts, func(o *api.Options) { o.GitHubVerifier = nil })
			}
			e := newEnv(t, opts...)
			e.ghVerify.err = tt.verifyErr
			if err := e.st.PutInstallation(t.Context(), store.Installation{ID: 9, Account: "octo"}, []string{"octo/app"}); err != nil {
				t.Fatal(err)
			}
			a := e.do("POST", "/api/v1/connect/github", tt.body, bearer(token))
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if tt.wantField != "" && !strings.HasPrefix(a.Message, tt.wantField+":") {
				t.Errorf("message %q does not name %q", a.Message, tt.wantField)
			}
			c, err := e.conns.GitHub(t.Context(), "octo/app")
			if tt.wantStatus == 200 && (err != nil || c.Repo != "octo/app") {
				t.Errorf("stored %+v, %v", c, err)
			}
			if tt.wantStatus != 200 && !errors.Is(err, connections.ErrNotFound) {
				t.Errorf("a refused connection was stored: %+v %v", c, err)
			}
		})
	}
}

func TestConnectionsListAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, req := range []struct{ path, body string }{
		{"/api/v1/connect/aws", `{"name":"prod","roleArn":"arn:aws:iam::210987654321:role/panda","externalId":"ext-secret-1"}`},
		{"/api/v1/connect/aws", `{"name":"ci","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMIK7MDENG"}`},
		{"/api/v1/connect/github", `{"repo":"octo/app","installationId":7}`},
		{"/api/v1/connect/github", `{"repo":"octo/lib","token":"ghp_abcdefghijklmnopqrstuvwxyz0123"}`},
	} {
		if a := e.do("POST", req.path, req.body, bearer(token)); a.Status != 200 {
			t.Fatalf("%s: %d %s", req.path, a.Status, a.Raw)
		}
	}
	a := e.do("GET", "/api/v1/connections", "", bearer(token))
	var list map[string][]struct{ Kind, ID, Auth, ConnectionID string }
	if err := json.Unmarshal(a.Data, &list); err != nil || a.Status != 200 {
		t.Fatalf("list: %d %v %s", a.Status, err, a.Raw)
	}
	got := map[string]string{}
	for kind, l := range list {
		for _, c := range l {
			if c.Kind != kind || !connections.ValidID(c.ConnectionID) {
				t.Errorf("%s lists %+v", kind, c)
			}
			got[c.Kind+":"+c.ID] = c.Auth
		}
	}
	want := map[string]string{"aws:ci": "keys", "aws:prod": "role", "github:octo/app": "installation", "github:octo/lib": "token"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("list = %v, want %v", got, want)
	}
	for _, secret := range []string{"ext-secret-1", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENG", "ghp_abcdefghijklmnopqrstuvwxyz0123"} {
		if strings.Contains(a.Raw, secret) {
			t.Errorf("list shows a secret: %s", a.Raw)
		}
	}
	deletes := []struct {
		path string
		want int
	}{
		{path: "/api/v1/connections/aws/prod", want: 200},
		{path: "/api/v1/connections/aws/prod", want: 404},
		{path: "/api/v1/connections/aws/nope", want: 404},
		{path: "/api/v1/connections/github/octo/app", want: 200},
		{path: "/api/v1/connections/github/octo/app", want: 404},
		{path: "/api/v1/connections/github/octo/..", want: 404},
	}
	for _, d := range deletes {
		if a := e.do("DELETE", d.path, "", bearer(token)); a.Status != d.want {
			t.Errorf("DELETE %s: %d, want %d: %s", d.path, a.Status, d.want, a.Raw)
		}
	}
	a = e.do("GET", "/api/v1/connections", "", bearer(token))
	if strings.Contains(a.Raw, `"prod"`) || strings.Contains(a.Raw, "octo/app") || !strings.Contains(a.Raw, "octo/lib") {
		t.Errorf("after deletes: %s", a.Raw)
	}
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("b", 40)
	tests := []struct {
		name       string
		body       string
		deployErr  error
		wantStatus int
		wantField  string
	}{
		{name: "branch", body: `{"githubConnectionId":"octo/app","awsConnectionId":"prod","branch":"main","environment":"production","cluster":"c","service":"s","taskFamily":"f","containerPort":8080,"desiredCount":2}`, wantStatus: 202},
		{name: "sha-only", body: `{"githubConnectionId":"octo/app","sha":"` + sha + `"}`, wantStatus: 202},
		{name: "no-repo", body: `{"branch":"main"}`, wantStatus: 400, wantField: "gitHubConnectionId"},
		{name: "unknown-repo", body: `{"githubConnectionId":"octo/nope","branch":"main"}`, wantStatus: 400, wantField: "gitHubConnectionId"},
		{name: "unknown-aws", body: `{"githubConnectionId":"octo/app","awsConnectionId":"nope","branch":"main"}`, wantStatus: 400, wantField: "awsConnectionId"},
		{name: "no-ref", body: `{"githubConnectionId":"octo/app"}`, wantStatus: 400, wantField: "branch"},
		{name: "bad-branch", body: `{"githubConnectionId":"octo/app","branch":"-x"}`, wantStatus: 400, wantField: "branch"},
		{name: "dotdot-branch", body: `{"githubConnectionId":"octo/app","branch":"a..b"}`, wantStatus: 400, wantField: "branch"},
		{name: "short-sha", body: `{"githubConnectionId":"octo/app","sha":"abc123"}`, wantStatus: 400, wantField: "sha"},
		{name: "bad-env", body: `{"githubConnectionId":"octo/app","branch":"main","environment":"a b"}`, wantStatus: 400, wantField: "environment"},
		// Environment names are .panda.yml's (lower case): "Prod" can never name one.
		{name: "upper-case-env", body: `{"githubConnectionId":"octo/app","branch":"main","environment":"Prod"}`, wantStatus: 400, wantField: "environment"},
		{name: "sha256-sha", body: `{"githubConnectionId":"octo/app","sha":"` + strings.Repeat("b", 64) + `"}`, wantStatus: 400, wantField: "sha"},
		{name: "cluster-arn", body: `{"githubConnectionId":"octo/app","branch":"main","cluster":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod","service":"arn:aws:ecs:eu-west-1:123456789012:service/prod/web"}`, wantStatus: 202},
		{name: "cluster-made-up-partition", body: `{"githubConnectionId":"octo/app","branch":"main","cluster":"arn:aws-foo:ecs:eu-west-1:123456789012:cluster/prod"}`, wantStatus: 400, wantField: "ecsClusterName"},
		{name: "service-short-account", body: `{"githubConnectionId":"octo/app","branch":"main","service":"arn:aws:ecs:eu-west-1:123:service/web"}`, wantStatus: 400, wantField: "ecsServiceName"},
		{name: "option-repo", body: `{"githubConnectionId":"octo/--upload-pack=x","branch":"main"}`, wantStatus: 400, wantField: "gitHubConnectionId"},
		{name: "bad-port", body: `{"githubConnectionId":"octo/app","branch":"main","containerPort":70000}`, wantStatus: 400, wantField: "containerPort"},
		{name: "bad-count", body: `{"githubConnectionId":"octo/app","branch":"main","desiredCount":-1}`, wantStatus: 400, wantField: "desiredCount"},
		{name: "unknown-field", body: `{"githubConnectionId":"octo/app","branch":"main","force":true}`, wantStatus: 400, wantField: "force"},
		{name: "permanent", body: `{"githubConnectionId":"octo/app","branch":"main"}`, deployErr: pipeline.UserError(errors.New("x"), "no environment staging in .panda.yml"), wantStatus: 400},
		{name: "transient", body: `{"githubConnectionId":"octo/app","branch":"main"}`, deployErr: errors.New("redis down"), wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			if err := e.conns.PutGitHub(ctx, connections.GitHub{Repo: "octo/app", InstallationID: 7}); err != nil {
				t.Fatal(err)
			}
			if err := e.conns.PutAWS(ctx, connections.AWS{Name: "prod", RoleARN: "arn:aws:iam::210987654321:role/panda"}); err != nil {
				t.Fatal(err)
			}
			e.deployer.err = tt.deployErr
			a := e.do("POST", "/api/v1/deploy", tt.body, bearer(token))
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if tt.wantField != "" && !strings.HasPrefix(a.Message, tt.wantField+":") {
				t.Errorf("message %q does not name %q", a.Message, tt.wantField)
			}
			if tt.name == "permanent" && !strings.Contains(a.Message, "no environment staging") {
				t.Errorf("permanent error message %q", a.Message)
			}
			if tt.wantStatus != 202 {
				if tt.deployErr == nil && len(e.deployer.requests()) != 0 {
					t.Error("a refused request reached the deployer")
				}
				return
			}
			var data struct {
				DeploymentID, Status, EventsURL, PageURL string
			}
			_ = json.Unmarshal(a.Data, &data)
			if !store.ValidID(data.DeploymentID) || data.Status != "QUEUED" ||
				data.PageURL != "https://panda.example.com/deployments/"+data.DeploymentID ||
				a.Header.Get("Location") != "/api/v1/deploy/"+data.DeploymentID+"/result" {
				t.Errorf("answer %s, Location %q", a.Raw, a.Header.Get("Location"))
			}
			reqs := e.deployer.requests()
			if len(reqs) != 1 || reqs[0].Repo != "octo/app" || reqs[0].InstallationID != 7 || reqs[0].Trigger != "api" {
				t.Errorf("deployer got %+v", reqs)
			}
			if tt.name == "branch" && (reqs[0].AWSConnection != "prod" || *reqs[0].DesiredCount != 2 || reqs[0].ContainerPort != 8080) {
				t.Errorf("deployer got %+v", reqs[0])
			}
		})
	}
}

func TestListDeployments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shaB := strings.Repeat("b", 40)
	a1 := e.deployment()
	time.Sleep(2 * time.Millisecond)
	a2 := e.deployment(func(d *store.Deployment) { d.SHA = shaB; d.Status = store.StatusSucceeded })
	time.Sleep(2 * time.Millisecond)
	o1 := e.deployment(func(d *store.Deployment) { d.Repo = "octo/other" })
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantIDs    []string
	}{
		{name: "all", query: "", wantStatus: 200, wantIDs: []string{o1.ID, a2.ID, a1.ID}},
		{name: "repo", query: "?repo=octo/app", wantStatus: 200, wantIDs: []string{a2.ID, a1.ID}},
		{name: "sha", query: "?repo=octo/app&sha=" + shaB, wantStatus: 200, wantIDs: []string{a2.ID}},
		{name: "status", query: "?status=RUNNING", wantStatus: 200, wantIDs: []string{o1.ID, a1.ID}},
		{name: "limit", query: "?limit=1", wantStatus: 200, wantIDs: []string{o1.ID}},
		{name: "none", query: "?repo=octo/none", wantStatus: 200, wantIDs: []string{}},
		{name: "bad-repo", query: "?repo=x", wantStatus: 400},
		{name: "bad-sha", query: "?sha=xyz", wantStatus: 400},
		{name: "bad-status", query: "?status=DONE", wantStatus: 400},
		{name: "bad-limit", query: "?limit=0", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := e.do("GET", "/api/v1/deployments"+tt.query, "", bearer(token))
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d: %s", a.Status, a.Raw)
			}
			if tt.wantStatus != 200 {
				return
			}
			var list []struct{ DeploymentID string }
			if err := json.Unmarshal(a.Data, &list); err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, d := range list {
				ids = append(ids, d.DeploymentID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tt.wantIDs)
			}
		})
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	d := e.deployment(func(d *store.Deployment) {
		d.Status, d.StartedAt, d.EndedAt = store.StatusFailed, start, start.Add(95*time.Second)
		d.StageDurations = map[string]time.Duration{"clone": 2 * time.Second, "build": 60 * time.Second, "push": 30 * time.Second}
		d.ImageURI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/octo-app@sha256:abc"
		d.BlueURL, d.GreenURL = "http://blue.example", "http://green.example"
		d.Error, d.ErrorStage = "Step Functions execution failed", "deploy"
	})
	a := e.do("GET", "/api/v1/deploy/"+d.ID+"/result", "", "")
	var got map[string]any
	if err := json.Unmarshal(a.Data, &got); err != nil || a.Status != 200 {
		t.Fatalf("%d %v %s", a.Status, err, a.Raw)
	}
	want := map[string]any{
		"deploymentId": d.ID, "status": "FAILED", "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:01:35Z",
		"duration": 95000.0, "blueServiceUrl": "http://blue.example", "greenServiceUrl": "http://green.example",
		"newImageUri": d.ImageURI, "repository": "octo/app", "commit": d.SHA, "environment": "production",
		"trigger": "push", "actor": "octocat",
		"metrics": map[string]any{"gitCloneDuration": 2000.0, "dockerBuildDuration": 60000.0, "ecrPushDuration": 30000.0, "deploymentDuration": 0.0},
		"error":   map[string]any{"message": "Step Functions execution failed", "stage": "deploy"},
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, id := range []string{store.NewID(), "dep_short", "..%2F..%2Fetc"} {
		if a := e.do("GET", "/api/v1/deploy/"+id+"/result", "", ""); a.Status != 404 || a.Success {
			t.Errorf("result of %s: %d %s", id, a.Status, a.Raw)
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if a := e.do("GET", "/healthz", "", ""); a.Status != 200 || !a.Success {
		t.Errorf("healthz: %d %s", a.Status, a.Raw)
	}
	if a := e.do("GET", "/readyz", "", ""); a.Status != 200 {
		t.Errorf("readyz: %d %s", a.Status, a.Raw)
	}
	if a := e.do("GET", "/nope", "", ""); a.Status != 404 || a.Success {
		t.Errorf("unknown route: %d %s", a.Status, a.Raw)
	}
	e.metrics.ObserveWebhook("push", "queued")
	e.metrics.ObserveDeployment(&store.Deployment{Status: store.StatusSucceeded, StageDurations: map[string]time.Duration{"build": 42 * time.Second}})
	a := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`panda_webhook_deliveries_total{event="push",outcome="queued"} 1`,
		`panda_deployments_total{status="SUCCEEDED"} 1`,
		`panda_stage_duration_seconds_count{stage="build"} 1`,
		`panda_sse_clients 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(a.Raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	down := newEnv(t, func(o *api.Options) {
		o.Ready = func(ctx context.Context) error { return errors.New("redis: connection refused") }
	})
	if a := down.do("GET", "/readyz", "", ""); a.Status != 503 || strings.Contains(a.Raw, "refused") {
		t.Errorf("readyz when not ready: %d %s", a.Status, a.Raw)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	a := e.do("GET", "/deployments/"+d.ID, "", "")
	if a.Status != 200 || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(a.Header.Get("Content-Security-Policy"), "script-src 'self'") || !strings.Contains(a.Raw, `id="status"`) {
		t.Errorf("page: %d %v", a.Status, a.Header)
	}
	if a := e.do("GET", "/assets/deployment.js", "", ""); a.Status != 200 || !strings.Contains(a.Raw, "EventSource") {
		t.Errorf("script: %d", a.Status)
	}
	if a := e.do("GET", "/deployments/"+store.NewID(), "", ""); a.Status != 404 {
		t.Errorf("unknown page: %d", a.Status)
	}
}
