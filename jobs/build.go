package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/pipeline/source"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// HandleBuild runs the clone, build and push stages of a deployment, then
// queues its start. A retry after a crash redoes clone and build (the engine's
// cache makes that cheap) unless the image was already pushed; pushing again
// is idempotent because the registry stores by digest.
func (d *Deployer) HandleBuild(ctx context.Context, t *asynq.Task) error {
	p, dep, done, err := d.load(ctx, t)
	if done {
		return err
	}
	if held, err := d.freezeGate(ctx, dep, p.Step); held || err != nil {
		return err
	}
	if dep.ImageURI == "" {
		dep, err = d.markRunning(ctx, dep)
		if err != nil {
			return err
		}
		// The stages run for as long as the deployment does: a Cancel (or any
		// end) written by any worker kills the clone, stops the build and
		// aborts the push within moments (see store.WhileRunning).
		wctx, stop := d.Store.WhileRunning(ctx, dep.ID)
		err := d.buildAndPush(wctx, dep)
		stop()
		if err != nil {
			return err
		}
	} else if dep.Trigger == deployment.TriggerRollback {
		// The image exists already: go straight to the deploy stage.
		if dep, err = d.markRunning(ctx, dep); err != nil {
			return err
		}
		if dep, err = d.reuseImage(ctx, dep); err != nil {
			return err
		}
	}
	return d.enqueue(ctx, tasks.NewStartTask(dep.ID, 0, 0))
}

func (d *Deployer) markRunning(ctx context.Context, dep *store.Deployment) (*store.Deployment, error) {
	if dep.Status == store.StatusRunning {
		return dep, nil
	}
	dep, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		x.Status = store.StatusRunning
		if x.StartedAt.IsZero() {
			x.StartedAt = d.now()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.event(ctx, dep, events.Running{Environment: dep.Environment, SHA: dep.SHA})
	d.Life.Running(ctx, dep)
	return dep, nil
}

// buildAndPush runs the three stages; on failure it has already recorded the
// outcome (or returned the error for a retry).
func (d *Deployer) buildAndPush(ctx context.Context, dep *store.Deployment) error {
	tok, err := d.Tokens.RepoToken(ctx, dep.InstallationID, dep.Repo)
	if errors.Is(err, connections.ErrNotFound) {
		// The token connection was deleted before the clone: nothing to retry.
		return d.stageFailed(ctx, dep, pipeline.StageClone, pipeline.UserError(err, "the GitHub connection of %s was deleted: connect the repository again to deploy it", dep.Repo))
	}
	if err != nil {
		return d.stageFailed(ctx, dep, pipeline.StageClone, pipeline.TransientError(err, "could not get a token to clone %s", dep.Repo))
	}
	var co *source.Checkout
	err = d.runStage(ctx, dep, pipeline.StageClone, func(ctx context.Context) error {
		co, err = source.Clone(ctx, source.Request{
			BaseURL: d.GitURL, Repo: dep.Repo, SHA: dep.SHA, Branch: dep.Branch,
			Token: tok.Value, Submodules: dep.Target.Submodules, TempRoot: d.WorkDir,
		})
		return err
	})
	if err != nil {
		return err
	}
	defer co.Close()

	var built image.BuildResult
	err = d.runStage(ctx, dep, pipeline.StageBuild, func(ctx context.Context) error {
		req, err := d.buildRequest(ctx, dep, co)
		if err != nil {
			return err
		}
		built, err = d.Builder.Build(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	return d.runStage(ctx, dep, pipeline.StagePush, func(ctx context.Context) error {
		res := built.Pushed // a builder that pushed leaves nothing to do here
		if res == nil {
			pushed, err := d.push(ctx, dep, built)
			if err != nil {
				return err
			}
			res = &pushed
		}
		updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
			x.ImageURI = res.ImageURI
			x.CommitTime = co.CommitTime // for the lead time of the audit's deployment.finished
			return nil
		})
		if err != nil {
			return err
		}
		*dep = *updated
		return nil
	})
}

// buildRequest is what the build stage asks of the builder for dep's
// checkout: its Dockerfile, tags and labels, the .panda.yml build settings,
// the build secrets' source, and where to push when the builder pushes.
func (d *Deployer) buildRequest(ctx context.Context, dep *store.Deployment, co *source.Checkout) (image.BuildRequest, error) {
	req := image.BuildRequest{
		Dir:        co.Dir,
		Dockerfile: dep.Target.Dockerfile,
		Tags:       []string{localTag(dep)},
		Labels:     labels(d.GitURL, dep, co.CommitTime),
		BuildArgs:  dep.Target.BuildArgs,
		Target:     dep.Target.BuildTarget,
		Platform:   dep.Target.Platform,
		OnLog:      d.logger(ctx, dep, pipeline.StageBuild),
	}
	if req.SecretNames = dep.Target.BuildSecrets; len(req.SecretNames) > 0 && d.BuildSecrets != nil {
		req.SecretSource = d.BuildSecrets(dep.Repo, dep.Environment)
	}
	if d.BuilderPushes {
		dest, err := d.destination(ctx, dep)
		if err != nil {
			return req, err
		}
		req.Push = &dest
	}
	return req, nil
}

// pushTags are the tags pushed: both, or in EventBridge mode only the
// environment's trigger tag (the rule matches it alone, so one push starts one
// execution, of this environment), after making sure that rule exists.
func (d *Deployer) pushTags(ctx context.Context, dep *store.Deployment) ([]string, error) {
	tags := imageTags(dep)
	if eventBridge(dep) {
		if err := d.ensureRule(ctx, dep); err != nil {
			return nil, err
		}
		tags = []string{rollout.TriggerTag(dep.Environment, dep.SHA)}
	}
	return tags, nil
}

// push pushes the engine's image to ECR.
func (d *Deployer) push(ctx context.Context, dep *store.Deployment, built image.BuildResult) (image.PushResult, error) {
	pusher, err := d.AWS.Pusher(ctx, dep)
	if err != nil {
		return image.PushResult{}, err
	}
	tags, err := d.pushTags(ctx, dep)
	if err != nil {
		return image.PushResult{}, err
	}
	return pusher.Push(ctx, image.PushRequest{
		Image:      built.ImageID,
		Repository: ecrRepository(dep),
		Tags:       tags,
		OnProgress: d.logger(ctx, dep, pipeline.StagePush),
	})
}

// destination is where a builder that pushes puts the image.
func (d *Deployer) destination(ctx context.Context, dep *store.Deployment) (image.Destination, error) {
	pusher, err := d.AWS.Pusher(ctx, dep)
	if err != nil {
		return image.Destination{}, err
	}
	tags, err := d.pushTags(ctx, dep)
	if err != nil {
		return image.Destination{}, err
	}
	return pusher.Destination(ctx, ecrRepository(dep), tags)
}

// runStage runs one stage: it marks the stage started in the events and its
// check run, runs it, and records its duration and outcome.
func (d *Deployer) runStage(ctx context.Context, dep *store.Deployment, stage pipeline.Stage, run func(context.Context) error) error {
	if cur, err := d.Store.Get(ctx, dep.ID); err == nil && cur.Status.Final() {
		return fmt.Errorf("deployment %s ended while it ran (%s): %w", dep.ID, cur.Status, asynq.SkipRetry)
	}
	// A stage that succeeded in an earlier attempt is redone (its checkout or
	// local image went with the process that crashed), but its check run stays
	// as it was concluded: GitHub refuses to move a completed check run back to
	// in_progress or to change its conclusion.
	redo := stageDone(dep, stage)
	start := d.now()
	d.event(ctx, dep, events.StageStarted{Stage: stage})
	if !redo {
		d.checkErr(dep, "start", d.Checks.Start(ctx, dep, string(stage)))
	}
	if err := run(ctx); err != nil && errors.Is(context.Cause(ctx), store.ErrFinal) {
		// Ended (cancelled) elsewhere while the stage ran, which stopped it:
		// whoever ended it has reported the end.
		return errEnded
	} else if errors.Is(err, store.ErrFinal) {
		// Cancelled while the stage ran: its record is final, nothing to retry.
		return fmt.Errorf("deployment %s ended while it ran: %w", dep.ID, asynq.SkipRetry)
	} else if err != nil {
		return d.stageFailed(ctx, dep, stage, err)
	}
	took := d.now().Sub(start)
	gated := scanGated(dep, stage)
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		if gated {
			// The scan gate concludes the stage (jobs/gates.go).
			x.ScanSince = start
			return nil
		}
		if x.StageDurations == nil {
			x.StageDurations = map[string]time.Duration{}
		}
		x.StageDurations[string(stage)] = took
		return nil
	})
	if errors.Is(err, store.ErrFinal) {
		return fmt.Errorf("deployment %s ended while it ran: %w", dep.ID, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	*dep = *updated
	d.event(ctx, dep, events.StageSucceeded{Stage: stage, Duration: took, ImageURI: dep.ImageURI})
	if !redo && !gated {
		d.checkErr(dep, "finish", d.Checks.Finish(ctx, dep, string(stage), checks.ResultFor(dep, string(stage))))
	}
	return nil
}

// stageDone reports whether stage already succeeded in an earlier attempt.
func stageDone(dep *store.Deployment, stage pipeline.Stage) bool {
	_, done := dep.StageDurations[string(stage)]
	return done
}

// logger returns the OnLog callback of a stage: each line becomes an event and
// goes to the check run's log tail (which coalesces its updates).
func (d *Deployer) logger(ctx context.Context, dep *store.Deployment, stage pipeline.Stage) func(string) {
	return func(line string) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return
		}
		d.event(ctx, dep, events.Log{Stage: stage, Line: line})
		if !stageDone(dep, stage) { // a redone stage's check run is concluded already
			d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(stage), line))
		}
	}
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// imageTags are the commit SHA (what a retry pushes again, idempotently) and
// {owner}-{repo}-{branch}-{timestamp} from the deployment's creation time, so
// a retry makes the same tag.
func imageTags(dep *store.Deployment) []string {
	ref := dep.Branch
	if ref == "" {
		ref = dep.Environment
	}
	human := tagUnsafe.ReplaceAllString(strings.ReplaceAll(dep.Repo, "/", "-")+"-"+ref, "-")
	human = strings.Trim(human, "-.")
	stamp := dep.CreatedAt.UTC().Format("20060102150405")
	if max := 128 - len(stamp) - 1; len(human) > max {
		human = human[:max]
	}
	return []string{dep.SHA, human + "-" + stamp}
}

func localTag(dep *store.Deployment) string {
	return "panda-build/" + ecrRepository(dep) + ":" + dep.SHA
}

func ecrRepository(dep *store.Deployment) string {
	if dep.Target.ECRRepository != "" {
		return dep.Target.ECRRepository
	}
	owner, name, _ := strings.Cut(dep.Repo, "/")
	return image.RepositoryName(owner, name)
}

// labels are the image's OCI annotations. "created" is the commit's date, not
// the build's: the same commit then builds the same image, and a rebuild after
// a retry or for another environment is served from the engine's cache.
func labels(gitURL string, dep *store.Deployment, created time.Time) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   strings.TrimRight(gitURL, "/") + "/" + dep.Repo,
		"org.opencontainers.image.revision": dep.SHA,
		"org.opencontainers.image.created":  created.UTC().Format(time.RFC3339),
	}
}

// reuseImage stands for the clone, build and push stages of a rollback, whose
// image exists already: they are recorded as taking no time and their check
// runs say what is deployed instead, as neutral (GitHub counts it as passing).
func (d *Deployer) reuseImage(ctx context.Context, dep *store.Deployment) (*store.Deployment, error) {
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		if x.StageDurations == nil {
			x.StageDurations = map[string]time.Duration{}
		}
		for _, s := range []pipeline.Stage{pipeline.StageClone, pipeline.StageBuild, pipeline.StagePush} {
			if _, ok := x.StageDurations[string(s)]; !ok {
				x.StageDurations[string(s)] = 0
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("Rolled back to %s: no rebuild needed", names.ShortSHA(dep.SHA))
	summary := fmt.Sprintf("This deployment rolls **%s** back to the image built earlier from %s, so nothing was cloned, built or pushed:\n\n`%s`",
		dep.Environment, names.ShortSHA(dep.SHA), dep.ImageURI)
	d.event(ctx, updated, events.RollingBack{ImageURI: dep.ImageURI})
	for _, s := range []pipeline.Stage{pipeline.StageClone, pipeline.StageBuild, pipeline.StagePush} {
		d.checkErr(updated, "finish", d.Checks.Finish(ctx, updated, string(s),
			checks.Result{Conclusion: checks.ConclusionNeutral, Title: title, Summary: summary}))
	}
	return updated, nil
}
