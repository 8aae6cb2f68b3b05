package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Clients gives the GitHub client of an installation; *githubapp.Factory has it.
type Clients interface {
	Client(ctx context.Context, installationID int64) (*github.Client, error)
}

// GitHubHandler handles the tasks the webhook intake queues.
type GitHubHandler struct {
	Store    *store.Store
	GitHub   Clients
	Deployer *Deployer
	Logger   *slog.Logger
	// AllowForks lets writers deploy pull requests from forks with /deploy.
	// Off by default: a fork's head commit is code nobody with write access
	// pushed, and deploying it runs its Dockerfile with Panda's credentials.
	AllowForks bool
}

// register adds the webhook task handlers to mux.
func (h *GitHubHandler) register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypePush, h.HandlePush)
	mux.HandleFunc(tasks.TypeInstallation, h.HandleInstallation)
	mux.HandleFunc(tasks.TypeComment, h.HandleComment)
	mux.HandleFunc(tasks.TypeCheckRun, h.HandleCheckRun)
}

// SkipDeployMarker in a head commit's message skips the push's deployment.
const SkipDeployMarker = "[skip deploy]"

// HandlePush deploys a branch push to every environment of the commit's
// .panda.yml whose branch it is. No .panda.yml means nothing to deploy.
func (h *GitHubHandler) HandlePush(ctx context.Context, t *asynq.Task) error {
	var p tasks.PushPayload
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	log := h.Logger.With("delivery_id", p.Delivery.ID, "installation_id", p.InstallationID, "repo", p.Repo, "sha", p.SHA)
	if err := validPush(p); err != nil {
		// Hostile or broken input from a payload: refused before anything runs.
		log.Warn("push refused", "err", err)
		return fmt.Errorf("push refused: %v: %w", err, asynq.SkipRetry)
	}
	gh, err := h.GitHub.Client(ctx, p.InstallationID)
	if err != nil {
		return fmt.Errorf("github client for installation %d: %w", p.InstallationID, err)
	}
	cfg, found, err := deployment.ReadConfig(ctx, gh, p.Repo, p.SHA)
	switch {
	case !found && err == nil:
		log.Info("no .panda.yml at the commit; nothing to deploy")
		return nil
	case err != nil && errors.As(err, new(*repoconfig.FieldError)):
		log.Info("malformed .panda.yml", "err", err)
		return h.reportBadConfig(ctx, gh, p, err)
	case err != nil:
		return err
	}
	envs := cfg.ForBranch(p.Branch)
	if len(envs) == 0 {
		log.Info("no environment deploys this branch", "branch", p.Branch)
		return nil
	}
	if strings.Contains(strings.ToLower(p.Message), SkipDeployMarker) {
		log.Info("push skipped by [skip deploy]")
		return h.reportSkipped(ctx, gh, p, envs)
	}
	for _, env := range envs {
		dep := &store.Deployment{
			Repo: p.Repo, InstallationID: p.InstallationID, SHA: p.SHA, Branch: p.Branch,
			Environment: env.Name, Trigger: deployment.TriggerPush, Actor: p.Sender, DeliveryID: p.Delivery.ID,
			Target: deployment.TargetOf(env),
		}
		if _, err := h.Deployer.Life.Accept(ctx, "push:"+p.Delivery.TaskID()+":"+env.Name, dep); err != nil {
			return err
		}
	}
	return nil
}

func validPush(p tasks.PushPayload) error {
	if err := names.Repo(p.Repo); err != nil {
		return err
	}
	if err := names.SHA(p.SHA); err != nil {
		return err
	}
	return names.Branch(p.Branch)
}

// reportBadConfig shows a malformed .panda.yml as a failed check run with an
// annotation on the line that is wrong; nothing is deployed.
func (h *GitHubHandler) reportBadConfig(ctx context.Context, gh *github.Client, p tasks.PushPayload, err error) error {
	var fe *repoconfig.FieldError
	errors.As(err, &fe)
	line := max(fe.Line, 1)
	owner, name, _ := strings.Cut(p.Repo, "/")
	_, _, cerr := gh.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{
		Name:       "panda/deploy",
		HeadSHA:    p.SHA,
		ExternalID: github.String("config:" + p.Delivery.ID),
		Status:     github.String("completed"),
		Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{
			Title:   github.String("Not deployed: .panda.yml is invalid"),
			Summary: github.String(fmt.Sprintf("Panda could not read `.panda.yml` at %s:\n\n> %s\n\nFix the file and push again.", names.ShortSHA(p.SHA), err.Error())),
			Annotations: []*github.CheckRunAnnotation{{
				Path: github.String(repoconfig.FileName), StartLine: github.Int(line), EndLine: github.Int(line),
				AnnotationLevel: github.String("failure"), Message: github.String(err.Error()),
			}},
		},
	})
	if cerr != nil {
		return fmt.Errorf("report invalid config: %w", cerr)
	}
	return nil
}

// reportSkipped says on the commit that its deployment was skipped on purpose.
func (h *GitHubHandler) reportSkipped(ctx context.Context, gh *github.Client, p tasks.PushPayload, envs []repoconfig.Env) error {
	owner, name, _ := strings.Cut(p.Repo, "/")
	envNames := make([]string, 0, len(envs))
	for _, e := range envs {
		envNames = append(envNames, e.Name)
	}
	_, _, err := gh.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{
		Name:       "panda/deploy",
		HeadSHA:    p.SHA,
		ExternalID: github.String("skip:" + p.Delivery.ID),
		Status:     github.String("completed"),
		Conclusion: github.String("skipped"),
		Output: &github.CheckRunOutput{
			Title:   github.String("Skipped: [skip deploy] in the commit message"),
			Summary: github.String(fmt.Sprintf("The head commit asks not to deploy, so %s was not deployed to %s.", names.ShortSHA(p.SHA), strings.Join(envNames, ", "))),
		},
	})
	if err != nil {
		return fmt.Errorf("report skipped deployment: %w", err)
	}
	return nil
}

// HandleInstallation keeps the record of installations and their repositories
// current, so the intake can ignore deliveries for what Panda does not serve.
func (h *GitHubHandler) HandleInstallation(ctx context.Context, t *asynq.Task) error {
	var p tasks.InstallationPayload
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	inst := store.Installation{ID: p.InstallationID, Account: p.Account, AllRepos: p.AllRepos}
	h.Logger.Info("installation changed", "installation_id", p.InstallationID, "event", p.Event, "action", p.Action, "selection", p.Selection)
	switch {
	case p.Event == "installation_repositories":
		return h.Store.ApplyRepoChange(ctx, p.InstallationID, store.RepoChange{
			Added: repoRefs(p.AddedRepos, p.Added), Removed: repoRefs(p.RemovedRepos, p.Removed), Selection: p.Selection,
		})
	case p.Action == "deleted":
		return h.Store.DeleteInstallation(ctx, p.InstallationID)
	case p.Action == "suspend":
		inst.Suspended = true
		return h.Store.PutInstallationRepos(ctx, inst, nil)
	case p.Action == "created":
		return h.Store.PutInstallationRepos(ctx, inst, repoRefs(p.Granted, p.Repos))
	}
	return h.Store.PutInstallationRepos(ctx, inst, nil)
}

// repoRefs are a payload's repositories by id, or by name alone from an app
// that predates the ids. It is never nil, so "created" with no repositories
// still replaces the recorded set.
func repoRefs(withIDs []tasks.Repository, names []string) []store.RepoRef {
	out := []store.RepoRef{}
	if len(withIDs) > 0 {
		for _, r := range withIDs {
			out = append(out, store.RepoRef{ID: r.ID, FullName: r.FullName})
		}
		return out
	}
	for _, n := range names {
		out = append(out, store.RepoRef{FullName: n})
	}
	return out
}
