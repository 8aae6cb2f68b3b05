package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/store"
)

const (
	scaleEnvs    = 5
	scalePerEnv  = 4 // pushes per environment's branch
	scaleWorkers = 3
)

// scaleConfig is a .panda.yml of scaleEnvs environments, each deployed by
// its own branch to its own state machine, so executions of an environment
// can be told apart.
func scaleConfig(s *stack, machines []string) string {
	var b strings.Builder
	b.WriteString("environments:\n")
	for i, arn := range machines {
		fmt.Fprintf(&b, "  env%d:\n    branch: b%d\n    region: %s\n    state_machine_arn: %s\n"+
			"    cluster: c%d\n    service: web\n    task_family: web\n    container_port: 8080\n",
			i, i, s.aws.Region(), arn, i)
	}
	return b.String()
}

// TestScaleOut runs two app instances and three workers against one Redis
// and pushes 20 commits to 5 environments at once, half of the deliveries to
// each app. Every deployment must end with exactly one final status, no
// environment may ever run two executions at the same time, and SSE clients
// of both app instances must see exactly the events Redis holds.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.repo.SetAllowAnySHA(true) // older commits of a branch are fetched by SHA, as GitHub allows
	machines := make([]string, scaleEnvs)
	for i := range machines {
		machines[i] = s.aws.StateMachineARN(fmt.Sprintf("panda-env%d", i))
		s.aws.AddStateMachine(machines[i], awstest.BlueGreenDefinition())
	}
	yml := scaleConfig(s, machines)
	addrs := []string{s.appAddr, freeAddr(t)}
	s.startApp()
	s.startAppAt(addrs[1])
	for range scaleWorkers {
		s.start("worker")
	}

	type push struct{ branch, sha string }
	var pushes []push
	for n := range scalePerEnv {
		for e := range scaleEnvs {
			branch := fmt.Sprintf("b%d", e)
			sha := s.repo.Commit(branch, map[string]string{
				"Dockerfile": dockerfile, "hello.txt": fmt.Sprintf("env %d push %d\n", e, n), ".panda.yml": yml,
			}, "push "+branch)
			s.gh.SetFile(repoName, sha, ".panda.yml", []byte(yml))
			pushes = append(pushes, push{branch, sha})
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, len(pushes))
	for i, p := range pushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = postSigned(t, addrs[i%2], "push", fmt.Sprintf("scale-%d", i), pushPayloadFor(t, repoName, p.branch, p.sha))
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Fatalf("push %d answered %d, want 202", i, c)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clients := followAll(ctx, t, s, addrs, len(pushes))
	final := s.waitAllFinal(t, len(pushes), 150*time.Second)
	t.Logf("%d deployments final %v after the burst", len(final), time.Since(start).Round(time.Second))

	st, _ := s.openStore()
	bySHA := map[string]int{}
	for _, d := range final {
		bySHA[d.Commit]++
		checkFinalOnce(t, st, d.ID)
	}
	for _, p := range pushes {
		if bySHA[p.sha] != 1 {
			t.Errorf("commit %s has %d deployments, want 1", p.sha[:7], bySHA[p.sha])
		}
	}
	checkSerialPerEnvironment(t, s, machines, final)
	clients.compare(t, st)
}

// postSigned posts a signed delivery to the app at addr and returns the status.
func postSigned(t *testing.T, addr, event, delivery string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", strings.NewReader(string(body)))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "7")
	req.Header.Set("X-Hub-Signature-256", hubSignature(webhookSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scaleResult is the part of a deployment's result these tests read.
type scaleResult struct {
	ID          string     `json:"deploymentId"`
	Status      string     `json:"status"`
	Commit      string     `json:"commit"`
	Environment string     `json:"environment"`
	CreatedAt   time.Time  `json:"createdAt"`
	EndTime     *time.Time `json:"endTime"`
}

func (s *stack) allDeployments() []scaleResult {
	s.t.Helper()
	out, err := s.listDeployments()
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// listDeployments lists the test repository's deployments; unlike apiGet it
// may be called from any goroutine.
func (s *stack) listDeployments() ([]scaleResult, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.appAddr+"/api/v1/deployments?repo="+repoName+"&limit=200", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env struct {
		Data []scaleResult `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return env.Data, nil
}

// waitAllFinal waits until n deployments exist and every one is final.
func (s *stack) waitAllFinal(t *testing.T, n int, within time.Duration) []scaleResult {
	t.Helper()
	var deps []scaleResult
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		deps = s.allDeployments()
		if len(deps) > n {
			t.Fatalf("%d deployments for %d pushes", len(deps), n)
		}
		done := len(deps) == n
		for _, d := range deps {
			done = done && isFinal(d.Status)
		}
		if done {
			return deps
		}
	}
	t.Fatalf("not all of %d deployments final within %v: %+v; log tail:\n%s", n, within, deps, tail(s.logs.String(), 3000))
	return nil
}

// checkFinalOnce checks that a deployment's stream holds exactly one final
// event, and that it is the last.
func checkFinalOnce(t *testing.T, st *store.Store, id string) {
	t.Helper()
	evs, err := st.Events(context.Background(), id, "", 100000, 0)
	if err != nil {
		t.Fatal(err)
	}
	finals := 0
	for _, ev := range evs {
		if ev.Final() {
			finals++
		}
	}
	if finals != 1 || !evs[len(evs)-1].Final() {
		t.Errorf("deployment %s: %d final events in %d (last final: %v), want exactly one, last", id, finals, len(evs), len(evs) > 0 && evs[len(evs)-1].Final())
	}
}

// checkSerialPerEnvironment reads every execution's start and stop from the
// Step Functions test server: within one environment they must not overlap.
// It also checks that executions match the deployments that succeeded and
// that the newest deployment of each environment succeeded.
func checkSerialPerEnvironment(t *testing.T, s *stack, machines []string, deps []scaleResult) {
	t.Helper()
	ctx := context.Background()
	client := sfn.NewFromConfig(s.aws.Config())
	succeeded := map[string]int{}
	newest := map[string]scaleResult{}
	for _, d := range deps {
		if d.Status == "SUCCEEDED" {
			succeeded[d.Environment]++
		} else if d.Status != "SUPERSEDED" {
			t.Errorf("deployment %s of %s ended %s", d.ID, d.Environment, d.Status)
		}
		if n, ok := newest[d.Environment]; !ok || d.CreatedAt.After(n.CreatedAt) {
			newest[d.Environment] = d
		}
	}
	for i, arn := range machines {
		env := fmt.Sprintf("env%d", i)
		type span struct {
			name        string
			start, stop time.Time
		}
		var spans []span
		for _, e := range s.aws.Executions(arn) {
			out, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: &e})
			if err != nil {
				t.Fatal(err)
			}
			if out.StopDate == nil {
				t.Errorf("execution %s of %s has not stopped", *out.Name, env)
				continue
			}
			spans = append(spans, span{*out.Name, *out.StartDate, *out.StopDate})
		}
		sort.Slice(spans, func(a, b int) bool { return spans[a].start.Before(spans[b].start) })
		for j := 1; j < len(spans); j++ {
			if spans[j].start.Before(spans[j-1].stop) {
				t.Errorf("%s ran two executions at once: %s (%v–%v) and %s (from %v)", env,
					spans[j-1].name, spans[j-1].start.Format(time.StampMilli), spans[j-1].stop.Format(time.StampMilli),
					spans[j].name, spans[j].start.Format(time.StampMilli))
			}
		}
		if len(spans) != succeeded[env] {
			t.Errorf("%s: %d executions for %d successful deployments", env, len(spans), succeeded[env])
		}
		t.Logf("%s: %d executions, %d deployments succeeded", env, len(spans), succeeded[env])
		if n := newest[env]; n.Status != "SUCCEEDED" {
			t.Errorf("%s: the newest deployment %s ended %s, want SUCCEEDED", env, n.ID, n.Status)
		}
	}
}

// followers are SSE clients of several app instances.
type followers struct {
	mu   sync.Mutex
	seen map[string]map[string][]sseSeen // deployment → app address → events
	errs []error
	wg   sync.WaitGroup
}

// followAll connects an SSE client of every app to each deployment as soon
// as the deployment exists, until n deployments are followed.
func followAll(ctx context.Context, t *testing.T, s *stack, addrs []string, n int) *followers {
	f := &followers{seen: map[string]map[string][]sseSeen{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		followed := map[string]bool{}
		for len(followed) < n && ctx.Err() == nil {
			deps, err := s.listDeployments()
			if err != nil {
				f.mu.Lock()
				f.errs = append(f.errs, err)
				f.mu.Unlock()
				return
			}
			for _, d := range deps {
				if followed[d.ID] {
					continue
				}
				followed[d.ID] = true
				for _, addr := range addrs {
					f.wg.Add(1)
					go f.follow(ctx, addr, d.ID)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return f
}

func (f *followers) follow(ctx context.Context, addr, id string) {
	defer f.wg.Done()
	evs, err := readStreamEvents(ctx, http.DefaultClient, addr, id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("follow %s at %s: %w", id, addr, err))
	}
	if f.seen[id] == nil {
		f.seen[id] = map[string][]sseSeen{}
	}
	f.seen[id][addr] = evs
}

// compare waits for every client to finish and checks that each saw the ids
// of its deployment's stream in Redis, in order, and nothing else.
func (f *followers) compare(t *testing.T, st *store.Store) {
	t.Helper()
	f.wg.Wait()
	for _, err := range f.errs {
		t.Error(err)
	}
	for id, byAddr := range f.seen {
		want, err := streamIDs(context.Background(), st, id)
		if err != nil {
			t.Fatal(err)
		}
		for addr, evs := range byAddr {
			got := make([]string, len(evs))
			for i, ev := range evs {
				got[i] = ev.id
			}
			if !slices.Equal(got, want) {
				t.Errorf("SSE client of %s at %s saw %d events %v, Redis holds %d %v", id, addr, len(got), got, len(want), want)
			}
		}
	}
	if len(f.seen) == 0 {
		t.Error("no deployment was followed")
	}
}
