package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/store"
)

// DefaultMinInterval is how often a check run's log may be updated when
// Reporter.MinInterval is zero. GitHub's secondary rate limits punish bursts
// of writes; a few seconds between updates is what a reader can follow anyway.
const DefaultMinInterval = 3 * time.Second

// stateRetention is how long an idle stage's in-memory state is kept. It
// outlives the deployment timeout (30 minutes), so a stage quiet for long is
// not forgotten, and it lets a retried Finish skip annotations already sent.
const stateRetention = time.Hour

// Reporter drives the check runs of deployments. Every method is safe for
// concurrent use and safe to call again after a crash or a retried task: it
// updates the check runs whose ids the record holds and creates only the
// missing ones. A Reporter must not be copied after first use.
//
// Errors wrap GitHub's answer; IsPermanent tells those worth retrying (5xx,
// rate limits the transport gave up on) from those that will recur.
// Every text is scrubbed of anything that looks like a credential before it
// is sent.
type Reporter struct {
	// Clients returns the checks API of an installation. Required.
	Clients Clients
	// PublicURL is the app's public root; a check run's details_url is
	// PublicURL + "/deployments/" + the deployment id. If empty, check runs
	// have no details_url.
	PublicURL string
	// MinInterval is the least time between two log updates of one check run.
	// If zero, DefaultMinInterval.
	MinInterval time.Duration
	// StartDelay holds a stage's in_progress update back this long, so a
	// stage that ends sooner goes from queued to completed in one write
	// (GitHub accepts that move) and one that runs longer shows in_progress
	// when the delay ends or with its first log update, whichever comes
	// first. GitHub's secondary rate limits count writes: this keeps an
	// uneventful deployment within its budget. If zero, Start sends at once.
	StartDelay time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives warnings about dropped output. If nil, nothing is logged.
	Logger *slog.Logger
	// Redactor removes the secrets Panda holds, and anything shaped like a
	// credential, from every text before it is sent. If nil, only what is
	// shaped like a credential is removed.
	Redactor *redact.Redactor

	mu   sync.Mutex
	runs map[runKey]*runState
}

// runKey names one check run: a deployment's stage.
type runKey struct{ deployment, stage string }

// runState is what the Reporter remembers of one check run in this process.
type runState struct {
	// send serializes requests for the check run, so updates land in the
	// order they were made. It is taken before mu, never while holding mu.
	send sync.Mutex

	mu              sync.Mutex
	tail            tail
	lastSent        time.Time
	sending         bool   // a log update is in flight
	finished        bool   // later log lines must not overwrite the final output
	startPending    bool   // Start was called; in_progress not sent yet (StartDelay)
	waiting         string // the "Queued behind" headline last shown, if any
	annotationsSent int
	touched         time.Time
}

// Queue creates the check runs of d's stages as queued, skipping stages whose
// id is already in d.CheckRuns, and returns d.CheckRuns with the new ids
// added. The caller stores the map in the record, even when Queue fails: it
// then holds the check runs created before the failure, so a retry does not
// create them twice. Queue does not modify d.
//
// A create can take effect without its answer arriving (GitHub answers 502
// after creating; the process dies before the record is stored). So before
// creating, Queue looks for d's runs on the commit (name and external_id =
// d.ID), and after a create that failed transiently it looks again before
// returning the error: a run is created at most once.
func (r *Reporter) Queue(ctx context.Context, d *store.Deployment) (map[string]int64, error) {
	ids := maps.Clone(d.CheckRuns)
	if ids == nil {
		ids = map[string]int64{}
	}
	if AllQueued(ids) {
		return ids, nil
	}
	api, owner, repo, err := r.client(ctx, d)
	if err != nil {
		return ids, fmt.Errorf("queue check runs of %s: %w", d.ID, err)
	}
	if err := r.findRuns(ctx, api, owner, repo, d, "", ids); err != nil {
		return ids, fmt.Errorf("queue check runs of %s: %w", d.ID, err)
	}
	// The controls run first: a caller that stores ids only while stages
	// lack theirs (deployment.Service.Accept) then never strands it.
	if ids[ControlsKey] == 0 {
		if err := r.createControls(ctx, api, owner, repo, d, ids); err != nil {
			return ids, err
		}
	}
	for _, s := range pipeline.Stages {
		stage := string(s)
		if _, ok := ids[stage]; ok {
			continue
		}
		opts := github.CreateCheckRunOptions{
			Name:       CheckRunName(stage),
			HeadSHA:    d.SHA,
			DetailsURL: r.detailsURL(d),
			ExternalID: github.String(d.ID),
			Status:     github.String("queued"),
			Output:     output(title(d, stage, phaseQueued, ""), summary(d, stage, phaseQueued, ""), ""),
		}
		r.fitOutput(opts.Output)
		cr, _, err := api.CreateCheckRun(ctx, owner, repo, opts)
		if err != nil && !IsPermanent(err) && r.findRuns(ctx, api, owner, repo, d, opts.Name, ids) == nil && ids[stage] != 0 {
			continue // created behind the error
		}
		if err != nil {
			return ids, fmt.Errorf("create check run %s of %s: %w", opts.Name, d.ID, err)
		}
		ids[stage] = cr.GetID()
	}
	return ids, nil
}

// maxFindPages bounds the search for a deployment's runs on its commit; a
// commit with more than 1,000 check runs is not one Panda can help.
const maxFindPages = 10

// findRuns adds to ids the check runs of d on its commit (named name, or all
// when name is empty) whose external_id is d.ID, for the stages ids lacks.
func (r *Reporter) findRuns(ctx context.Context, api API, owner, repo string, d *store.Deployment, name string, ids map[string]int64) error {
	opts := &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	if name != "" {
		opts.CheckName = github.String(name)
	}
	for range maxFindPages {
		list, resp, err := api.ListCheckRunsForRef(ctx, owner, repo, d.SHA, opts)
		if err != nil {
			return fmt.Errorf("list check runs of %s: %w", d.SHA, err)
		}
		for _, cr := range list.CheckRuns {
			stage, ok := StageFromName(cr.GetName())
			if cr.GetName() == ControlsName {
				stage, ok = ControlsKey, true
			}
			if _, known := ids[stage]; ok && !known && cr.GetExternalID() == d.ID {
				ids[stage] = cr.GetID()
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
	return nil
}

// Waiting says on each check run of d that is not completed that it waits
// for its environment: "Queued behind dep_… (position N)", where behind is
// the deployment running there and position is d's place in line (1 = next).
//
// A completed run is never touched: GitHub does not let a completed run go
// back to queued. A run counts as completed when d's record holds its stage's
// duration (the record is written before the run is finished, so this holds
// across processes and retries) or when this Reporter finished it. Waiting is
// called on every poll of the line, so it sends only when behind or position
// changed since this process last showed them; another process shows them
// once more, which is harmless.
func (r *Reporter) Waiting(ctx context.Context, d *store.Deployment, behind string, position int) error {
	t := fmt.Sprintf("Queued behind %s (position %d)", behind, position)
	return r.Hold(ctx, d, t, waitingSummary(d, behind, position))
}

// Hold shows every check run of d whose stage is not done as queued with
// title and summary: why the deployment is held and until when (Waiting's
// queue position, a freeze window). Like Waiting it writes a run only when
// its title changes, and never one this process finished.
func (r *Reporter) Hold(ctx context.Context, d *store.Deployment, title, summary string) error {
	t, sum := title, summary
	for _, s := range pipeline.Stages {
		stage := string(s)
		if _, done := d.StageDurations[stage]; done {
			continue
		}
		err := r.locked(d, stage, func(st *runState) error {
			st.mu.Lock()
			skip := st.finished || st.waiting == t
			st.mu.Unlock()
			if skip {
				return nil
			}
			err := r.update(ctx, d, stage, github.UpdateCheckRunOptions{
				Status: github.String("queued"),
				Output: output(t, sum, ""),
			})
			if err == nil {
				st.mu.Lock()
				st.waiting = t
				st.mu.Unlock()
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Start marks stage's check run in_progress. It carries no button: GitHub
// would not show it on a run in progress; Cancel is on the controls run.
// GitHub keeps the run's started_at from its creation: go-github's
// UpdateCheckRunOptions cannot carry started_at.
func (r *Reporter) Start(ctx context.Context, d *store.Deployment, stage string) error {
	if !knownStage(stage) {
		return fmt.Errorf("start check run of %s: stage %q: %w", d.ID, stage, errInvalid)
	}
	now := r.now()
	if r.StartDelay > 0 {
		st := r.state(d.ID, stage)
		st.mu.Lock()
		st.lastSent, st.finished, st.startPending = now, false, true
		st.mu.Unlock()
		// The task that called Start may end first (the deploy stage's
		// start task does): the update needs none of its deadline.
		bg := context.WithoutCancel(ctx)
		time.AfterFunc(r.StartDelay, func() { r.sendStart(bg, d, stage) })
		return nil
	}
	return r.locked(d, stage, func(st *runState) error {
		st.mu.Lock()
		st.lastSent, st.finished = now, false
		st.mu.Unlock()
		return r.update(ctx, d, stage, github.UpdateCheckRunOptions{
			Status: github.String("in_progress"),
			Output: output(title(d, stage, phaseRunning, ""), summary(d, stage, phaseRunning, ""), ""),
		})
	})
}

// sendStart sends a held-back in_progress update, unless a log update
// carried it or the stage ended meanwhile. A failure is logged: it is
// progress, which may be lost.
func (r *Reporter) sendStart(ctx context.Context, d *store.Deployment, stage string) {
	err := r.locked(d, stage, func(st *runState) error {
		st.mu.Lock()
		pending := st.startPending && !st.finished
		st.startPending = false
		text := st.tail.text()
		st.mu.Unlock()
		if !pending {
			return nil
		}
		return r.update(ctx, d, stage, github.UpdateCheckRunOptions{
			Status: github.String("in_progress"),
			Output: output(title(d, stage, phaseRunning, ""), summary(d, stage, phaseRunning, ""), text),
		})
	})
	if err != nil {
		r.logger().Warn("check run start update failed", "deployment_id", d.ID, "stage", stage, "err", err)
	}
}

// Log adds line to stage's log tail and shows the tail in the check run's
// output text, at most once per MinInterval: a flood of lines makes few
// requests, and Finish sends the lines held back. The tail lives in this
// process only. A failed update is returned; the line is kept either way, so
// callers usually log the error and go on. Log does not wait for an update
// already in flight: the next one carries the line.
func (r *Reporter) Log(ctx context.Context, d *store.Deployment, stage, line string) error {
	if !knownStage(stage) {
		return fmt.Errorf("log to check run of %s: stage %q: %w", d.ID, stage, errInvalid)
	}
	st := r.state(d.ID, stage)
	now := r.now()
	st.mu.Lock()
	st.tail.add(line, r.scrub)
	due := !st.finished && !st.sending && (st.lastSent.IsZero() || now.Sub(st.lastSent) >= r.minInterval())
	if due {
		st.sending, st.lastSent = true, now
	}
	st.mu.Unlock()
	if !due {
		return nil
	}
	defer func() {
		st.mu.Lock()
		st.sending = false
		st.mu.Unlock()
	}()
	st.send.Lock()
	defer st.send.Unlock()
	st.mu.Lock()
	finished, text, starting := st.finished, st.tail.text(), st.startPending
	st.startPending = false
	st.mu.Unlock()
	if finished {
		return nil // Finish or Skip came first; their output stands
	}
	opts := github.UpdateCheckRunOptions{
		Output: output(title(d, stage, phaseRunning, ""), summary(d, stage, phaseRunning, ""), text),
	}
	if starting {
		opts.Status = github.String("in_progress") // the held-back Start rides along
	}
	return r.update(ctx, d, stage, opts)
}

// Finish completes stage's check run with res: its conclusion, its title and
// summary (derived from d when empty), the log tail, and its annotations in
// batches of at most 50 per request, as GitHub allows. The deploy check run
// gets Roll back after a success and Deploy again otherwise, and so does the
// controls run in place of its Cancel, with the deployment's end in its
// output.
// Called again for the same stage by this process, Finish does not send
// annotations that already landed.
func (r *Reporter) Finish(ctx context.Context, d *store.Deployment, stage string, res Result) error {
	if !knownStage(stage) || !validConclusion(res.Conclusion) {
		return fmt.Errorf("finish check run of %s: stage %q, conclusion %q: %w", d.ID, stage, res.Conclusion, errInvalid)
	}
	res = r.complete(d, stage, res)
	anns := r.annotations(d, res.Annotations)
	now := r.now()
	err := r.locked(d, stage, func(st *runState) error {
		st.mu.Lock()
		st.finished = true
		text, sent := st.tail.text(), min(st.annotationsSent, len(anns))
		st.mu.Unlock()
		opts := github.UpdateCheckRunOptions{
			Status:      github.String("completed"),
			Conclusion:  github.String(res.Conclusion),
			CompletedAt: &github.Timestamp{Time: now},
			Actions:     finalActions(stage, res.Conclusion),
		}
		for first := true; first || sent < len(anns); first = false {
			batch := anns[sent:min(sent+maxAnnotationsPerRequest, len(anns))]
			opts.Output = output(res.Title, res.Summary, text)
			opts.Output.Annotations = batch
			if err := r.update(ctx, d, stage, opts); err != nil {
				return err
			}
			sent += len(batch)
			st.mu.Lock()
			st.annotationsSent = sent
			st.mu.Unlock()
			// Later batches only add annotations; the state is already final.
			opts = github.UpdateCheckRunOptions{}
		}
		return nil
	})
	if err != nil || stage != string(pipeline.StageDeploy) {
		return err
	}
	return r.controlsEnded(ctx, d, res.Conclusion)
}

// Skip completes the check runs of stages as skipped, saying why from d
// ("Skipped: build failed"). Stages are check-run stages after a failure, or
// every stage of a deployment that never ran.
func (r *Reporter) Skip(ctx context.Context, d *store.Deployment, stages ...string) error {
	now := r.now()
	for _, stage := range stages {
		if !knownStage(stage) {
			return fmt.Errorf("skip check run of %s: stage %q: %w", d.ID, stage, errInvalid)
		}
		err := r.locked(d, stage, func(st *runState) error {
			st.mu.Lock()
			st.finished = true
			st.mu.Unlock()
			return r.update(ctx, d, stage, github.UpdateCheckRunOptions{
				Status:      github.String("completed"),
				Conclusion:  github.String(ConclusionSkipped),
				CompletedAt: &github.Timestamp{Time: now},
				Output:      output(title(d, stage, phaseSkipped, ""), summary(d, stage, phaseSkipped, ""), ""),
			})
		})
		if err != nil {
			return err
		}
		if stage == string(pipeline.StageDeploy) {
			if err := r.controlsEnded(ctx, d, ConclusionSkipped); err != nil {
				return err
			}
		}
	}
	return nil
}

// AllQueued reports whether ids (a record's CheckRuns) holds the controls
// run and every stage's run, so Queue has nothing left to create.
func AllQueued(ids map[string]int64) bool {
	for _, s := range pipeline.Stages {
		if ids[string(s)] == 0 {
			return false
		}
	}
	return ids[ControlsKey] != 0
}

// complete fills an empty title or summary of res from d.
func (r *Reporter) complete(d *store.Deployment, stage string, res Result) Result {
	p := phaseFailed
	switch res.Conclusion {
	case ConclusionSuccess, ConclusionNeutral:
		p = phaseDone
	case ConclusionSkipped:
		p = phaseSkipped
	}
	if res.Title == "" {
		res.Title = title(d, stage, p, res.Conclusion)
	}
	if res.Summary == "" {
		res.Summary = summary(d, stage, p, res.Conclusion)
	}
	return res
}

func validConclusion(c string) bool {
	switch c {
	case ConclusionSuccess, ConclusionFailure, ConclusionCancelled, ConclusionTimedOut, ConclusionSkipped, ConclusionNeutral:
		return true
	}
	return false
}

// locked runs fn with stage's requests serialized.
func (r *Reporter) locked(d *store.Deployment, stage string, fn func(*runState) error) error {
	st := r.state(d.ID, stage)
	st.send.Lock()
	defer st.send.Unlock()
	return fn(st)
}

// state returns the in-memory state of a check run, forgetting states idle
// for longer than stateRetention so memory stays bounded by recent activity.
func (r *Reporter) state(deployment, stage string) *runState {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	key := runKey{deployment: deployment, stage: stage}
	st := r.runs[key]
	if st == nil {
		if r.runs == nil {
			r.runs = map[runKey]*runState{}
		}
		for k, old := range r.runs {
			old.mu.Lock()
			idle := now.Sub(old.touched) > stateRetention
			old.mu.Unlock()
			if idle {
				delete(r.runs, k)
			}
		}
		st = &runState{}
		r.runs[key] = st
	}
	st.mu.Lock()
	st.touched = now
	st.mu.Unlock()
	return st
}

// client returns the checks API for d's installation and d's repository.
func (r *Reporter) client(ctx context.Context, d *store.Deployment) (API, string, string, error) {
	owner, repo, ok := strings.Cut(d.Repo, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, "", "", fmt.Errorf("repository %q: %w", d.Repo, errInvalid)
	}
	if r.Clients == nil {
		return nil, "", "", errors.New("checks reporter has no Clients")
	}
	api, err := r.Clients(ctx, d.InstallationID)
	if err != nil {
		return nil, "", "", fmt.Errorf("github client for installation %d: %w", d.InstallationID, err)
	}
	return api, owner, repo, nil
}

// update sends opts to stage's check run, redacted.
func (r *Reporter) update(ctx context.Context, d *store.Deployment, stage string, opts github.UpdateCheckRunOptions) error {
	return r.updateRun(ctx, d, stage, CheckRunName(stage), opts)
}

// updateRun sends opts to the check run d.CheckRuns[key], named name, redacted.
func (r *Reporter) updateRun(ctx context.Context, d *store.Deployment, key, name string, opts github.UpdateCheckRunOptions) error {
	id, ok := d.CheckRuns[key]
	if !ok {
		return fmt.Errorf("update check run %s of %s: %w", name, d.ID, ErrNoCheckRun)
	}
	api, owner, repo, err := r.client(ctx, d)
	if err != nil {
		return fmt.Errorf("update check run %s of %s: %w", name, d.ID, err)
	}
	opts.Name = name // go-github always sends name; an empty one would rename the run
	r.fitOutput(opts.Output)
	if _, _, err := api.UpdateCheckRun(ctx, owner, repo, id, opts); err != nil {
		return fmt.Errorf("update check run %s (%d) of %s: %w", name, id, d.ID, err)
	}
	return nil
}

func (r *Reporter) detailsURL(d *store.Deployment) *string {
	if r.PublicURL == "" {
		return nil
	}
	return github.String(strings.TrimRight(r.PublicURL, "/") + "/deployments/" + d.ID)
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reporter) minInterval() time.Duration {
	if r.MinInterval > 0 {
		return r.MinInterval
	}
	return DefaultMinInterval
}

func (r *Reporter) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// output builds a check-run output; text is left out when empty, so GitHub
// keeps the text an earlier update sent.
func output(title, summary, text string) *github.CheckRunOutput {
	o := &github.CheckRunOutput{Title: github.String(title), Summary: github.String(summary)}
	if text != "" {
		o.Text = github.String(text)
	}
	return o
}
