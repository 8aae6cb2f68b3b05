package jobs_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

// tokenRepo is a repository the App is not installed on: it deploys through
// a token connection.
const tokenRepo = "solo/site"

// connectTokenRepo makes tokenRepo on the git and GitHub servers, commits
// files with yml as .panda.yml to main, and stores a token connection for it.
func (h *harness) connectTokenRepo(files map[string]string, yml string) (sha string) {
	h.t.Helper()
	h.gh.AddRepo(tokenRepo)
	token := h.gh.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{tokenRepo}})
	repo := h.git.CreateRepo("solo", "site")
	files[".panda.yml"] = yml
	sha = repo.Commit("main", files, "site")
	h.gh.SetBranch(tokenRepo, "main", sha)
	h.gh.SetFile(tokenRepo, sha, ".panda.yml", []byte(yml))
	if err := h.conns.PutGitHub(context.Background(), connections.GitHub{
		ID: connections.NewID(), Repo: tokenRepo, Branch: "main", Token: config.Secret(token)}); err != nil {
		h.t.Fatal(err)
	}
	return sha
}

// deployByHand is POST /api/v1/deploy as the API makes it of a request
// naming a token GitHub connection.
func (h *harness) deployByHand(env, awsConnection string) *store.Deployment {
	h.t.Helper()
	dep, err := h.deployer.Life.Deploy(context.Background(), deployment.Request{
		Repo: tokenRepo, Branch: "main", Environment: env, AWSConnection: awsConnection, Actor: "api"})
	if err != nil {
		h.t.Fatalf("Deploy %s: %v", env, err)
	}
	return dep
}

// waitDone waits for deployment id to be final with its final event written.
func (h *harness) waitDone(id string, within time.Duration) *store.Deployment {
	h.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		dep, err := h.store.Get(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if dep.Status.Final() && h.hasFinalEvent(id) {
			return dep
		}
	}
	dep, _ := h.store.Get(context.Background(), id)
	h.t.Fatalf("deployment %s did not finish within %v: %+v", id, within, dep)
	return nil
}

func envYML(name, smARN, aws, ecrRepo string) string {
	return `  ` + name + `:
    region: us-east-1
    aws: ` + aws + `
    ecr_repository: ` + ecrRepo + `
    state_machine_arn: ` + smARN + `
    cluster: prod
    service: web
    task_family: web
    container_port: 8080
    desired_count: 1
`
}

// callsOf returns the calls whose input mentions any of marks.
func callsOf(calls []awstest.Call, marks ...string) []awstest.Call {
	var out []awstest.Call
	for _, c := range calls {
		for _, m := range marks {
			if strings.Contains(string(c.Input), m) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// TestDeployThroughStoredConnections deploys a repository without the App by
// hand, through a token GitHub connection and an AWS connection that assumes
// a role in another account: the deployment succeeds, every AWS call of it
// but the AssumeRole is signed by the role session named after it (none by the
// worker's own key), and GitHub hears of it as commit statuses.
func TestDeployThroughStoredConnections(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	const (
		account = "210987654321"
		role    = "arn:aws:iam::" + account + ":role/panda-deployer"
	)
	h.aws.AddRole(awstest.Role{ARN: role, ExternalID: "ext-42"})
	if err := h.conns.PutAWS(context.Background(), connections.AWS{Name: "prod", RoleARN: role, ExternalID: "ext-42", AccountID: account}); err != nil {
		t.Fatal(err)
	}
	sm := "arn:aws:states:us-east-1:" + account + ":stateMachine:panda-bluegreen"
	h.aws.AddStateMachine(sm, awstest.BlueGreenDefinition())
	sha := h.connectTokenRepo(map[string]string{"Dockerfile": dockerfile, "hello.txt": "solo\n"},
		"environments:\n"+envYML("production", sm, "prod", "solo-site"))
	before := len(h.aws.Calls())

	dep := h.deployByHand("production", "")
	if dep.InstallationID != 0 || dep.SHA != sha || dep.Target.AWSConnection != "prod" {
		t.Fatalf("accepted %+v", dep)
	}
	got := h.waitDone(dep.ID, 3*time.Minute)
	if got.Status != store.StatusSucceeded || got.ImageURI == "" {
		t.Fatalf("status %s (%s: %s), image %q", got.Status, got.ErrorStage, got.Error, got.ImageURI)
	}

	session := "arn:aws:sts::" + account + ":assumed-role/panda-deployer/" + dep.ID
	worker := h.aws.Credentials().AccessKeyID
	ops := map[string]int{}
	for _, c := range h.aws.Calls()[before:] {
		ops[c.Operation]++
		if c.Operation == "AssumeRole" {
			form, _ := url.ParseQuery(string(c.Input))
			if c.AccessKeyID != worker || form.Get("RoleSessionName") != dep.ID || form.Get("ExternalId") != "ext-42" {
				t.Errorf("AssumeRole signed by %s as %q: want the worker's key, session %s", c.Principal, form.Get("RoleSessionName"), dep.ID)
			}
			continue
		}
		if c.Principal != session || c.Account != account {
			t.Errorf("%s signed by %q in %s, want %s", c.Operation, c.Principal, c.Account, session)
		}
	}
	// One role session serves the whole deployment on one worker.
	if ops["AssumeRole"] != 1 || ops["StartExecution"] != 1 || ops["GetAuthorizationToken"] == 0 || ops["GetExecutionHistory"] == 0 {
		t.Errorf("calls %v", ops)
	}

	statuses := h.gh.CommitStatuses(tokenRepo, sha)
	if len(statuses) < 2 {
		t.Fatalf("%d commit statuses", len(statuses))
	}
	first, last := statuses[0], statuses[len(statuses)-1]
	if first.State != "pending" || last.State != "success" {
		t.Errorf("statuses went %s → %s, want pending → success", first.State, last.State)
	}
	for _, st := range statuses {
		if st.Context != "panda/deploy" || st.TargetURL != "http://panda.test/deployments/"+dep.ID || st.Creator != "solo" {
			t.Errorf("status %+v", st)
		}
	}
	if runs := h.gh.CheckRuns(tokenRepo); len(runs) != 0 {
		t.Errorf("%d check runs on a repository without the App", len(runs))
	}
	evs := h.events(dep.ID)
	if last := evs[len(evs)-1]; last.Type != store.EventDone {
		t.Errorf("last event %s %q", last.Type, last.Message)
	}
}

// TestTwoAccountsAtOnce runs two deployments at once from one worker into two
// AWS accounts, one through a role and one through stored keys: each
// deployment's calls are signed only by its own account.
func TestTwoAccountsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	const (
		accountA = "111111111111"
		accountB = "222222222222"
		roleA    = "arn:aws:iam::" + accountA + ":role/panda"
	)
	h.aws.AddRole(awstest.Role{ARN: roleA})
	keysB := h.aws.AddUser(accountB, "panda-ci")
	ctx := context.Background()
	if err := h.conns.PutAWS(ctx, connections.AWS{Name: "acct-a", RoleARN: roleA}); err != nil {
		t.Fatal(err)
	}
	if err := h.conns.PutAWS(ctx, connections.AWS{Name: "acct-b", AccessKeyID: config.Secret(keysB.AccessKeyID), SecretAccessKey: config.Secret(keysB.SecretAccessKey)}); err != nil {
		t.Fatal(err)
	}
	smA := "arn:aws:states:us-east-1:" + accountA + ":stateMachine:sm-a"
	smB := "arn:aws:states:us-east-1:" + accountB + ":stateMachine:sm-b"
	h.aws.AddStateMachine(smA, awstest.BlueGreenDefinition())
	h.aws.AddStateMachine(smB, awstest.BlueGreenDefinition())
	h.connectTokenRepo(map[string]string{"Dockerfile": dockerfile, "hello.txt": "two\n"},
		"environments:\n"+envYML("a", smA, "acct-a", "site-a")+envYML("b", smB, "acct-b", "site-b"))
	before := len(h.aws.Calls())

	var wg sync.WaitGroup
	deps := make([]*store.Deployment, 2)
	for i, env := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deps[i] = h.deployByHand(env, "")
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, d := range deps {
		if got := h.waitDone(d.ID, 3*time.Minute); got.Status != store.StatusSucceeded {
			t.Fatalf("%s: %s (%s)", d.Environment, got.Status, got.Error)
		}
	}
	calls := h.aws.Calls()[before:]
	worker := h.aws.Credentials().AccessKeyID
	for _, c := range calls {
		switch {
		case c.Operation == "AssumeRole":
			if c.AccessKeyID != worker || !strings.Contains(string(c.Input), url.QueryEscape(roleA)) {
				t.Errorf("AssumeRole %s by %s", c.Input, c.Principal)
			}
		case c.Account == accountA:
			if c.Principal != "arn:aws:sts::"+accountA+":assumed-role/panda/"+deps[0].ID {
				t.Errorf("%s in %s signed by %s", c.Operation, accountA, c.Principal)
			}
		case c.Account == accountB:
			if c.AccessKeyID != keysB.AccessKeyID {
				t.Errorf("%s in %s signed by %s", c.Operation, accountB, c.Principal)
			}
		default:
			t.Errorf("%s signed by %s in %s, neither deployment's account", c.Operation, c.Principal, c.Account)
		}
	}
	for i, marks := range [][]string{{"site-a", "sm-a", deps[0].ID}, {"site-b", "sm-b", deps[1].ID}} {
		want := []string{accountA, accountB}[i]
		mine := callsOf(calls, marks...)
		if len(mine) == 0 {
			t.Errorf("no calls for deployment %s", deps[i].Environment)
		}
		for _, c := range mine {
			if c.Operation != "AssumeRole" && c.Account != want {
				t.Errorf("%s of deployment %s acted in %s, want %s", c.Operation, deps[i].Environment, c.Account, want)
			}
		}
	}
}

// TestUnknownAWSConnection: a deployment naming an AWS connection that does
// not exist fails as the user's error, naming it, on the result and on GitHub.
func TestUnknownAWSConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	sha := h.connectTokenRepo(map[string]string{"Dockerfile": dockerfile, "hello.txt": "x\n"},
		"environments:\n"+envYML("production", h.smARN, "gone", "site"))
	dep := h.deployByHand("production", "")
	got := h.waitDone(dep.ID, 3*time.Minute)
	if got.Status != store.StatusFailed || got.ErrorStage != "push" || !strings.Contains(got.Error, `AWS connection "gone" is not registered`) {
		t.Fatalf("status %s at %s: %q", got.Status, got.ErrorStage, got.Error)
	}
	statuses := h.gh.CommitStatuses(tokenRepo, sha)
	if last := statuses[len(statuses)-1]; last.State != "failure" || !strings.Contains(last.Description, `"gone"`) {
		t.Errorf("last status %+v", last)
	}
	if n := h.aws.CallCount("StartExecution"); n != 0 {
		t.Errorf("%d executions started", n)
	}
}

// TestDeletedWhileRunning: deleting an AWS connection while a deployment
// through it runs does not break it (it keeps the connection it started with),
// while a new deployment through it fails.
func TestDeletedWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	const role = "arn:aws:iam::333333333333:role/panda"
	h.aws.AddRole(awstest.Role{ARN: role})
	ctx := context.Background()
	if err := h.conns.PutAWS(ctx, connections.AWS{Name: "prod", RoleARN: role}); err != nil {
		t.Fatal(err)
	}
	sm := "arn:aws:states:us-east-1:333333333333:stateMachine:slow"
	h.aws.AddStateMachine(sm, awstest.BlueGreenDefinition())
	h.connectTokenRepo(map[string]string{"Dockerfile": dockerfile, "hello.txt": "d\n"},
		"environments:\n"+envYML("production", sm, "prod", "site"))
	dep := h.deployByHand("production", "")
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		cur, err := h.store.Get(ctx, dep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.ExecutionARN != "" || cur.Status.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the execution never started")
		}
	}
	if err := h.conns.DeleteAWS(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if got := h.waitDone(dep.ID, 3*time.Minute); got.Status != store.StatusSucceeded {
		t.Fatalf("after the deletion: %s (%s)", got.Status, got.Error)
	}
	next := h.deployByHand("production", "")
	got := h.waitDone(next.ID, 3*time.Minute)
	if got.Status != store.StatusFailed || !strings.Contains(got.Error, `"prod"`) {
		t.Errorf("a deployment after the deletion: %s %q", got.Status, got.Error)
	}
}
