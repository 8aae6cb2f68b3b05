// Package pipelinebench compares Panda's clone, build and push of a fixture
// repository with a plain shell script doing the same, for each of Panda's two
// BuildKit builders, on the same engine or buildkitd, git server and registry,
// in the same run:
//
//   - engine: image.Builder and image.Pusher against baseline.sh (git clone
//     --depth 1, the Engine API's BuildKit build, docker push);
//   - buildkitd: image.BuildkitBuilder (pushing during the build, with the
//     registry build cache) against baseline-buildctl.sh (git clone --depth 1,
//     buildctl build with the same cache options), on a buildkitd of the
//     benchmark's own;
//   - second-worker: a fresh buildkitd builds a child commit after another
//     built its parent, with the registry cache that build left and without.
//
// Run it with bench/pipeline/run.sh (RUNS pairs per mode, default 3).
package pipelinebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/docker/docker/client"

	"github.com/pandadeploy/panda/internal/buildkittest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/stacktest"
	pimage "github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/pipeline/source"
)

const (
	gitToken = "ghs_benchtoken0123456789"
	owner    = "acme"
	branch   = "main"
)

// fixture is the world every contender shares.
type fixture struct {
	cli       *client.Client
	git       *gittest.Server
	reg       *registrytest.Registry
	pusher    *pimage.Pusher
	dockerCfg string // DOCKER_CONFIG of the scripts, logged in to the registry
	dir       string // this directory, where the scripts are
	// engineSHA and bkSHA are the fixture's commit in the repositories the
	// engine and buildkitd builders build (their Dockerfiles differ only in
	// FROM: buildkitd resolves it through the registry, never the engine).
	engineSHA, bkSHA string
	// parentSHA and childSHA are two commits of the second-worker repository;
	// the child changes one source file.
	parentSHA, childSHA string
	bkBase              string
	// engineRefs are the engine images the engine runs made, removed before
	// each cold run and at the end.
	engineRefs []string
	results    []result
}

// appFiles is a small service's repository: a Dockerfile that copies 8 MiB of
// dependencies (incompressible) and 300 source files, with RUN steps between.
func appFiles(base string) map[string]string {
	files := map[string]string{
		"Dockerfile": "FROM " + base + "\n" +
			"WORKDIR /app\n" +
			"COPY deps/ /app/deps/\n" +
			"RUN cat /app/deps/* | wc -c > /app/deps.size\n" +
			"COPY src/ /app/src/\n" +
			"RUN ls /app/src | wc -l > /app/files.count && test -s /app/deps.size\n" +
			"ENV PORT=8080\n" +
			"CMD [\"sh\", \"/app/src/run.sh\"]\n",
		".dockerignore": "*.md\n.git\n",
		"README.md":     "# benchapp\n",
		"src/run.sh":    "echo serving on $PORT\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 8 {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		files[fmt.Sprintf("deps/lib%d.so", i)] = string(b)
	}
	for i := range 300 {
		files[fmt.Sprintf("src/module%03d.txt", i)] = strings.Repeat(fmt.Sprintf("line %d of module %d\n", i, i), 100)
	}
	return files
}

func newFixture(b *testing.B) *fixture {
	b.Helper()
	// The world the jobs and e2e tests run in; its git server takes one fixed
	// token here, as every contender clones without the App.
	w := stacktest.New(b, stacktest.Options{GitToken: gitToken})
	user, pass := w.AWS.RegistryAuth()
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{
		cli: w.Docker, git: w.Git, reg: w.Registry, dir: dir,
		pusher:    &pimage.Pusher{Engine: w.Docker, ECR: ecr.NewFromConfig(w.AWS.Config()), STS: sts.NewFromConfig(w.AWS.Config())},
		dockerCfg: b.TempDir(),
	}
	f.engineSHA = w.Git.CreateRepo(owner, "benchapp-engine").Commit(branch, appFiles(dockertest.BusyboxBase(b, w.Docker)), "bench app")
	f.bkBase = buildkittest.PushBusybox(b, w.Docker, w.Registry.Host(), "bench-base", user, pass)
	f.bkSHA = w.Git.CreateRepo(owner, "benchapp-buildkitd").Commit(branch, appFiles(f.bkBase), "bench app")
	sw := w.Git.CreateRepo(owner, "benchapp-worker")
	f.parentSHA = sw.Commit(branch, appFiles(f.bkBase), "bench app")
	f.childSHA = sw.Commit(branch, map[string]string{"src/module007.txt": "changed by the child commit\n"}, "change one module")
	login := exec.Command("docker", "login", "--username", user, "--password-stdin", w.Registry.Host())
	login.Env = append(os.Environ(), "DOCKER_CONFIG="+f.dockerCfg)
	login.Stdin = strings.NewReader(pass)
	if out, err := login.CombinedOutput(); err != nil {
		b.Fatalf("docker login: %v\n%s", err, out)
	}
	return f
}

// timing is one run of one contender, by stage, and how many build steps its
// log reported CACHED (-1 when the contender's log is not read).
type timing struct {
	clone, build, push time.Duration
	cached             int
}

func (t timing) total() time.Duration { return t.clone + t.build + t.push }

// pairs is how many timed pairs each mode runs: RUNS, as run.sh passes it.
func pairs() int {
	if n, err := strconv.Atoi(os.Getenv("RUNS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// BenchmarkCloneBuildPush runs each builder's Panda and script in pairs (the
// order alternates, so neither always finds the page cache warmer), cold and
// warm, then the second-worker comparison, and writes the chart. It ignores
// b.N: run it with -benchtime 1x, as run.sh does; RUNS says how many pairs.
func BenchmarkCloneBuildPush(b *testing.B) {
	f := newFixture(b)
	b.Cleanup(func() { _ = f.forgetEngine(context.Background()) })
	b.Run("engine", func(b *testing.B) {
		for _, cold := range []bool{true, false} {
			b.Run(modeName(cold), func(b *testing.B) { f.benchEngine(b, cold) })
		}
	})
	b.Run("buildkitd", func(b *testing.B) {
		d := startDaemon(b.Context(), b)
		b.Cleanup(d.stop)
		for _, cold := range []bool{true, false} {
			b.Run(modeName(cold), func(b *testing.B) { f.benchBuildkitd(b, d, cold) })
		}
		b.Run("second-worker", func(b *testing.B) { f.benchSecondWorker(b, d) })
	})
	if out := os.Getenv("PANDA_BENCH_CHART"); out != "" {
		if err := writeChart(out, f.results); err != nil {
			b.Fatal(err)
		}
		b.Logf("chart written to %s", out)
	}
}

func modeName(cold bool) string { return map[bool]string{true: "cold", false: "warm"}[cold] }

// pair runs a and b in turns, in alternate order, calling reset before each
// run when set, and returns their timings.
func pair(b *testing.B, n int, reset func(i int) error, runA, runB func(i int) (timing, error)) (as, bs []timing) {
	for i := range n {
		runs := []func() error{
			func() error { t, err := runA(i); as = append(as, t); return err },
			func() error { t, err := runB(i); bs = append(bs, t); return err },
		}
		if i%2 == 1 {
			slices.Reverse(runs)
		}
		for _, run := range runs {
			if reset != nil {
				if err := reset(i); err != nil {
					b.Fatal(err)
				}
			}
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return as, bs
}

// runScript runs one of the baseline scripts and reads its stage timings.
func (f *fixture) runScript(ctx context.Context, env []string, script string, args ...string) (timing, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(f.dir, script), args...)
	cmd.Env = append(os.Environ(), append(env, "DOCKER_CONFIG="+f.dockerCfg, "GIT_AUTH="+gittest.BasicAuth(gitToken))...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return timing{}, fmt.Errorf("%s: %w\n%s", script, err, out)
	}
	var c, bu, p int64
	var cached int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "clone_ms=%d build_ms=%d push_ms=%d cached=%d", &c, &bu, &p, &cached); err != nil {
		return timing{}, fmt.Errorf("%s printed %q: %w", script, out, err)
	}
	return timing{clone: ms(c), build: ms(bu), push: ms(p), cached: cached}, nil
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// clone is Panda's clone stage of commit sha of repository name.
func (f *fixture) clone(ctx context.Context, name, sha string) (*source.Checkout, error) {
	return source.Clone(ctx, source.Request{BaseURL: f.git.URL(), Repo: owner + "/" + name, SHA: sha, Branch: branch, Token: gitToken})
}

// labels are the worker's labels (jobs' labels: created is the commit time, so
// a rebuild of a commit is a full cache hit).
func (f *fixture) labels(name, sha string, co *source.Checkout) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   f.git.URL() + "/" + owner + "/" + name,
		"org.opencontainers.image.revision": sha,
		"org.opencontainers.image.created":  co.CommitTime.UTC().Format(time.RFC3339),
	}
}

// buildLog is what Panda's build stage gets as OnLog: the worker streams each
// line to the event stream and the check run; here the CACHED steps are
// counted, so a cold run can be seen to be cold. A FROM is not counted: the
// engine reports a base image already in its store as CACHED, cold or not.
func buildLog(t *timing) func(string) {
	from := map[string]bool{} // "#3" -> the step is a FROM
	return func(line string) {
		id, rest, _ := strings.Cut(line, " ")
		if _, step, ok := strings.Cut(rest, "] "); ok && strings.HasPrefix(rest, "[") && strings.HasPrefix(step, "FROM ") {
			from[id] = true
		}
		if rest == "CACHED" && !from[id] {
			t.cached++
		}
	}
}

// pandaTags are the worker's two tags of a commit.
func pandaTags(sha string) []string {
	return []string{sha, "acme-benchapp-main-" + time.Now().UTC().Format("20060102150405")}
}
