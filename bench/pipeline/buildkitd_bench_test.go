package pipelinebench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	pimage "github.com/pandadeploy/panda/pipeline/image"
)

const (
	bkRepo     = "benchapp-buildkitd"
	workerRepo = "benchapp-worker"
)

// benchBuildkitd compares image.BuildkitBuilder (with Pusher.Destination, the
// worker's push stage for this builder) with baseline-buildctl.sh on buildkitd
// d. cold prunes d and pushes to fresh repositories (so no registry cache
// either) before every run; warm keeps d's cache and the registry cache after
// one untimed run of each.
func (f *fixture) benchBuildkitd(b *testing.B, d *daemon, cold bool) {
	ctx := b.Context()
	mode := modeName(cold)
	repo := func(who string, i int) string {
		if cold {
			return "bench-bk-" + who + "-cold-" + strconv.Itoa(i)
		}
		return "bench-bk-" + who + "-warm"
	}
	runPanda := func(i int) (timing, error) {
		return f.bkPanda(ctx, d, bkRepo, f.bkSHA, repo("panda", i), "")
	}
	runScript := func(i int) (timing, error) {
		r := repo("script", i)
		host := f.reg.Host() + "/"
		return f.runScript(ctx, []string{"BUILDCTL=" + os.Getenv(buildctlVar), "BUILDKIT_HOST=" + d.addr}, "baseline-buildctl.sh",
			f.git.URL()+"/"+owner+"/"+bkRepo+".git", branch, host+r+":"+f.bkSHA, host+pimage.CacheRepositoryName(r)+":"+pimage.DefaultCacheTag)
	}
	if err := d.prune(ctx); err != nil {
		b.Fatal(err)
	}
	var reset func(int) error
	if cold {
		reset = func(int) error { return d.prune(ctx) }
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
	// The buildkitd is the bench's own: nothing else can fill its cache.
	checkCached(b, "panda", pandas, !cold)
	checkCached(b, "script", scripts, !cold)
	f.report(b, result{builder: "buildkitd", mode: mode, a: "panda", b: "script", as: pandas, bs: scripts, loadBefore: load, loadAfter: loadAvg()})
}

// bkPanda runs the worker's push and build stages with the buildkitd builder:
// Pusher.Destination (STS, ECR repositories, credentials) counts as push, the
// build pushes. cacheRepo, when set, replaces the destination's cache
// repository.
func (f *fixture) bkPanda(ctx context.Context, d *daemon, gitRepo, sha, repo, cacheRepo string) (timing, error) {
	var t timing
	start := time.Now()
	co, err := f.clone(ctx, gitRepo, sha)
	if err != nil {
		return t, err
	}
	defer co.Close()
	t.clone = time.Since(start)
	start = time.Now()
	dest, err := f.pusher.Destination(ctx, repo, pandaTags(sha))
	if err != nil {
		return t, err
	}
	if cacheRepo != "" {
		dest.CacheRepository = cacheRepo
	}
	t.push = time.Since(start)
	start = time.Now()
	_, err = (&pimage.BuildkitBuilder{Client: d.cli}).Build(ctx, pimage.BuildRequest{
		Dir: co.Dir, Labels: f.labels(gitRepo, sha, co), Push: &dest, OnLog: buildLog(&t),
	})
	t.build = time.Since(start)
	return t, err
}

// benchSecondWorker: worker A (d, warm) builds the parent commit and leaves
// its registry cache; then a second worker, a buildkitd started with an empty
// state directory, builds the child commit once with that cache ("with") and
// once with an empty cache repository ("without"), each on a fresh buildkitd
// of its own. Every pair has its own repositories, so no run sees another's
// cache. Starting the fresh buildkitd is not timed.
func (f *fixture) benchSecondWorker(b *testing.B, d *daemon) {
	ctx := b.Context()
	onFresh := func(repo, cache string) (timing, error) {
		fresh := startDaemon(ctx, b)
		defer fresh.stop()
		return f.bkPanda(ctx, fresh, workerRepo, f.childSHA, repo, cache)
	}
	parentRepo := func(i int) string { return "bench-sw-parent-" + strconv.Itoa(i) }
	withCache := func(i int) (timing, error) {
		return onFresh("bench-sw-with-"+strconv.Itoa(i), pimage.CacheRepositoryName(parentRepo(i)))
	}
	without := func(i int) (timing, error) { return onFresh("bench-sw-without-"+strconv.Itoa(i), "") }
	load := loadAvg()
	b.ResetTimer()
	var withs, withouts []timing
	for i := range pairs() {
		b.StopTimer()
		if _, err := f.bkPanda(ctx, d, workerRepo, f.parentSHA, parentRepo(i), ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		first, second := withCache, without
		if i%2 == 1 { // alternate the order, as pair does
			first, second = without, withCache
		}
		t1, err := first(i)
		if err != nil {
			b.Fatal(err)
		}
		t2, err := second(i)
		if err != nil {
			b.Fatal(err)
		}
		w, wo := t1, t2
		if i%2 == 1 {
			w, wo = t2, t1
		}
		withs, withouts = append(withs, w), append(withouts, wo)
	}
	b.StopTimer()
	checkCached(b, "with cache", withs, true)
	checkCached(b, "without", withouts, false)
	f.report(b, result{builder: "buildkitd", mode: "second-worker", a: "with cache", b: "without", as: withs, bs: withouts, loadBefore: load, loadAfter: loadAvg()})
}
