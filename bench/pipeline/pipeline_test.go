// Package pipelinebench compares Panda's clone, build and push of a fixture
// repository with a plain shell script doing the same (git clone --depth 1,
// docker build, docker push), on the same engine, git server and registry, in
// the same run. Run it with bench/pipeline/run.sh, or:
//
//	go test -run '^$' -bench CloneBuildPush -benchtime 3x -timeout 20m ./bench/pipeline
package pipelinebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

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
	name     = "benchapp"
	branch   = "main"
)

// fixture is the world both contenders share.
type fixture struct {
	cli        *client.Client
	git        *gittest.Server
	reg        *registrytest.Registry
	pusher     *pimage.Pusher
	sha        string
	dockerCfg  string // DOCKER_CONFIG of the script, logged in to the registry
	scriptPath string
	// built are the ids of the images Panda built: a warm rebuild moves the
	// tags to a new image and leaves the old one, which forget removes too.
	built []string
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
	// token here, as both contenders clone without the App.
	w := stacktest.New(b, stacktest.Options{GitToken: gitToken})
	cli, git, reg := w.Docker, w.Git, w.Registry
	base := dockertest.BusyboxBase(b, cli)
	user, pass := w.AWS.RegistryAuth()
	repo := git.CreateRepo(owner, name)
	f := &fixture{
		cli: cli, git: git, reg: reg,
		pusher:    &pimage.Pusher{Engine: cli, ECR: ecr.NewFromConfig(w.AWS.Config()), STS: sts.NewFromConfig(w.AWS.Config())},
		sha:       repo.Commit(branch, appFiles(base), "bench app"),
		dockerCfg: b.TempDir(),
	}
	script, err := filepath.Abs("baseline.sh")
	if err != nil {
		b.Fatal(err)
	}
	f.scriptPath = script
	login := exec.Command("docker", "login", "--username", user, "--password-stdin", reg.Host())
	login.Env = append(os.Environ(), "DOCKER_CONFIG="+f.dockerCfg)
	login.Stdin = strings.NewReader(pass)
	if out, err := login.CombinedOutput(); err != nil {
		b.Fatalf("docker login: %v\n%s", err, out)
	}
	return f
}

// timing is one run of one contender, by stage.
type timing struct{ clone, build, push time.Duration }

func (t timing) total() time.Duration { return t.clone + t.build + t.push }

// panda runs the three stages the way the worker's build task does.
func (f *fixture) panda(ctx context.Context, repoName string, tags []string) (timing, error) {
	var t timing
	start := time.Now()
	co, err := source.Clone(ctx, source.Request{BaseURL: f.git.URL(), Repo: owner + "/" + name, SHA: f.sha, Branch: branch, Token: gitToken})
	if err != nil {
		return t, err
	}
	defer co.Close()
	t.clone = time.Since(start)
	start = time.Now()
	built, err := (&pimage.Builder{Engine: f.cli, NetworkMode: "none"}).Build(ctx, pimage.BuildRequest{
		Dir:  co.Dir,
		Tags: []string{"panda-build/" + repoName + ":" + f.sha},
		Labels: map[string]string{
			"org.opencontainers.image.source":   f.git.URL() + "/" + owner + "/" + name,
			"org.opencontainers.image.revision": f.sha,
			"org.opencontainers.image.created":  co.CommitTime.Format(time.RFC3339), // as the worker labels it
		},
	})
	if err != nil {
		return t, err
	}
	f.built = append(f.built, built.ImageID)
	t.build = time.Since(start)
	start = time.Now()
	if _, err := f.pusher.Push(ctx, pimage.PushRequest{Image: built.ImageID, Repository: repoName, Tags: tags}); err != nil {
		return t, err
	}
	t.push = time.Since(start)
	return t, nil
}

// script runs baseline.sh and reads its stage timings.
func (f *fixture) script(ctx context.Context, ref string) (timing, error) {
	cmd := exec.CommandContext(ctx, f.scriptPath, f.git.URL()+"/"+owner+"/"+name+".git", branch, ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+f.dockerCfg, "GIT_AUTH="+gittest.BasicAuth(gitToken))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return timing{}, fmt.Errorf("baseline.sh: %w\n%s", err, out)
	}
	var c, bu, p int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "clone_ms=%d build_ms=%d push_ms=%d", &c, &bu, &p); err != nil {
		return timing{}, fmt.Errorf("baseline.sh printed %q: %w", out, err)
	}
	return timing{clone: ms(c), build: ms(bu), push: ms(p)}, nil
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// forget removes the images of refs (and the intermediate images of their
// builds, which are the classic builder's cache) and the engine's BuildKit
// cache, so the next build starts cold. It removes nothing but what this
// benchmark built: the engine is shared.
func (f *fixture) forget(ctx context.Context, refs []string) error {
	for _, ref := range slices.Concat(refs, f.built) {
		_, err := f.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: %w", ref, err)
		}
	}
	if _, err := f.cli.BuildCachePrune(ctx, build.CachePruneOptions{All: true}); err != nil {
		return fmt.Errorf("prune build cache: %w", err)
	}
	return nil
}

// BenchmarkCloneBuildPush runs Panda and the script in turns (the order
// alternates, so neither always finds the page cache warmer) and reports the
// median seconds of each and their ratio. cold removes every image and cache
// of both before each run; warm keeps them, as a busy worker would.
func BenchmarkCloneBuildPush(b *testing.B) {
	f := newFixture(b)
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) { f.bench(b, mode == "cold") })
	}
}

func (f *fixture) bench(b *testing.B, cold bool) {
	ctx := b.Context()
	mode := map[bool]string{true: "cold", false: "warm"}[cold]
	pandaRepo, scriptRepo := "bench-panda-"+mode, "bench-script-"+mode
	pandaTags := []string{f.sha, "acme-benchapp-main-" + time.Now().UTC().Format("20060102150405")}
	scriptRef := f.reg.Host() + "/" + scriptRepo + ":" + f.sha
	refs := []string{"panda-build/" + pandaRepo + ":" + f.sha, scriptRef}
	for _, tag := range pandaTags {
		refs = append(refs, f.reg.Host()+"/"+pandaRepo+":"+tag)
	}
	b.Cleanup(func() { _ = f.forget(context.WithoutCancel(ctx), refs) })
	if err := f.forget(ctx, refs); err != nil {
		b.Fatal(err)
	}
	if !cold { // warm: one untimed run of each fills the caches
		if _, err := f.panda(ctx, pandaRepo, pandaTags); err != nil {
			b.Fatal(err)
		}
		if _, err := f.script(ctx, scriptRef); err != nil {
			b.Fatal(err)
		}
	}
	var pandas, scripts []timing
	b.ResetTimer()
	for i := range b.N {
		runs := []func() error{
			func() error { t, err := f.panda(ctx, pandaRepo, pandaTags); pandas = append(pandas, t); return err },
			func() error { t, err := f.script(ctx, scriptRef); scripts = append(scripts, t); return err },
		}
		if i%2 == 1 {
			slices.Reverse(runs)
		}
		for _, run := range runs {
			if cold {
				b.StopTimer()
				if err := f.forget(ctx, refs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	report(b, mode, pandas, scripts)
}

// report logs every run and reports medians and the ratio of medians.
func report(b *testing.B, mode string, pandas, scripts []timing) {
	p, s := median(pandas), median(scripts)
	b.ReportMetric(p.total().Seconds(), "panda-s")
	b.ReportMetric(s.total().Seconds(), "script-s")
	b.ReportMetric(p.total().Seconds()/s.total().Seconds(), "panda/script")
	b.Logf("%s, %d runs each; median clone/build/push/total:", mode, len(pandas))
	b.Logf("  panda  %v / %v / %v / %v", p.clone, p.build, p.push, p.total())
	b.Logf("  script %v / %v / %v / %v", s.clone, s.build, s.push, s.total())
	for i := range pandas {
		b.Logf("  run %d: panda %v (%v/%v/%v), script %v (%v/%v/%v)", i, pandas[i].total(), pandas[i].clone, pandas[i].build, pandas[i].push,
			scripts[i].total(), scripts[i].clone, scripts[i].build, scripts[i].push)
	}
}

// median returns the run whose total is the median (the lower middle for an
// even count), so its stages add up to its total.
func median(ts []timing) timing {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b timing) int { return int(a.total() - b.total()) })
	return s[(len(s)-1)/2]
}
