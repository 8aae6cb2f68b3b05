package pipelinebench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	pimage "github.com/pandadeploy/panda/pipeline/image"
)

const engineRepo = "benchapp-engine"

// benchEngine compares image.Builder + image.Pusher with baseline.sh. cold
// removes both contenders' images and prunes the engine's BuildKit cache before
// every run, and pushes to a repository of its own per run (no layer is in the
// registry yet); warm keeps them after one untimed run of each, as a busy
// worker would.
func (f *fixture) benchEngine(b *testing.B, cold bool) {
	ctx := b.Context()
	mode := modeName(cold)
	repo := func(who string, i int) string {
		if cold {
			return "bench-engine-" + who + "-cold-" + strconv.Itoa(i)
		}
		return "bench-engine-" + who + "-warm"
	}
	runPanda := func(i int) (timing, error) { return f.enginePanda(ctx, repo("panda", i)) }
	runScript := func(i int) (timing, error) {
		ref := f.reg.Host() + "/" + repo("script", i) + ":" + f.engineSHA
		f.engineRefs = append(f.engineRefs, ref)
		return f.runScript(ctx, nil, "baseline.sh", f.git.URL()+"/"+owner+"/"+engineRepo+".git", branch, ref)
	}
	if err := f.forgetEngine(ctx); err != nil {
		b.Fatal(err)
	}
	var reset func(int) error
	if cold {
		reset = func(int) error { return f.forgetEngine(ctx) }
	} else {
		for _, run := range []func(int) (timing, error){runPanda, runScript} {
			if _, err := run(0); err != nil {
				b.Fatal(err)
			}
		}
	}
	load := loadAvg()
	b.ResetTimer()
	pandas, scripts := pair(b, pairs(), reset, runPanda, runScript)
	b.StopTimer()
	checkCached(b, "panda", pandas, !cold)
	f.report(b, result{builder: "engine", mode: mode, a: "panda", b: "script", as: pandas, bs: scripts, loadBefore: load, loadAfter: loadAvg()})
}

// enginePanda runs the worker's build and push stages with the engine builder.
func (f *fixture) enginePanda(ctx context.Context, repo string) (timing, error) {
	var t timing
	start := time.Now()
	co, err := f.clone(ctx, engineRepo, f.engineSHA)
	if err != nil {
		return t, err
	}
	defer co.Close()
	t.clone = time.Since(start)
	start = time.Now()
	local := "panda-build/" + repo + ":" + f.engineSHA
	tags := pandaTags(f.engineSHA)
	f.engineRefs = append(f.engineRefs, local)
	for _, tag := range tags {
		f.engineRefs = append(f.engineRefs, f.reg.Host()+"/"+repo+":"+tag)
	}
	built, err := (&pimage.Builder{Engine: f.cli, NetworkMode: "none"}).Build(ctx, pimage.BuildRequest{
		Dir: co.Dir, Tags: []string{local}, Labels: f.labels(engineRepo, f.engineSHA, co), OnLog: buildLog(&t),
	})
	if err != nil {
		return t, err
	}
	f.engineRefs = append(f.engineRefs, built.ImageID)
	t.build = time.Since(start)
	start = time.Now()
	if _, err := f.pusher.Push(ctx, pimage.PushRequest{Image: built.ImageID, Repository: repo, Tags: tags}); err != nil {
		return t, err
	}
	t.push = time.Since(start)
	return t, nil
}

// forgetEngine removes the images the engine runs made and the engine's
// BuildKit cache, so the next build starts cold. The engine is shared: the
// images removed are only this benchmark's, but the engine's BuildKit cache
// has no owner to filter by, so the prune is the whole cache's.
func (f *fixture) forgetEngine(ctx context.Context) error {
	for _, ref := range f.engineRefs {
		_, err := f.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: %w", ref, err)
		}
	}
	f.engineRefs = f.engineRefs[:0]
	if _, err := f.cli.BuildCachePrune(ctx, build.CachePruneOptions{All: true}); err != nil {
		return fmt.Errorf("prune build cache: %w", err)
	}
	return nil
}
