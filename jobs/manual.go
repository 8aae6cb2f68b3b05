package jobs

import (
	"context"
	"errors"
	"strings"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/source"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
)

// ManualRequest is a deployment asked for by hand (POST /api/v1/deploy). Empty
// settings come from the environment of the commit's .panda.yml; set ones
// override it.
type ManualRequest struct {
	Repo           string
	InstallationID int64
	Branch, SHA    string // SHA wins; a branch alone is resolved to its head
	Environment    string // empty: the .panda.yml default environment
	AWSConnection  string
	Cluster        string
	Service        string
	TaskFamily     string
	ContainerPort  int
	DesiredCount   *int
	Trigger, Actor string
}

// DeployManual resolves a manual request to a commit and a target and accepts
// it as a new deployment. Errors that are the caller's (unknown branch, no
// such environment, missing settings) are pipeline.UserError.
func (d *Deployer) DeployManual(ctx context.Context, req ManualRequest) (*store.Deployment, error) {
	if req.InstallationID == 0 {
		return nil, pipeline.UserError(nil, "%s has no GitHub App installation: connect the repository through the App to deploy it", req.Repo)
	}
	if err := source.CheckRepo(req.Repo); err != nil {
		return nil, err
	}
	gh, err := d.GitHub.Client(ctx, req.InstallationID)
	if err != nil {
		return nil, pipeline.TransientError(err, "could not reach GitHub")
	}
	owner, name, _ := strings.Cut(req.Repo, "/")
	sha := req.SHA
	if sha == "" {
		if err := source.CheckBranch(req.Branch); err != nil {
			return nil, err
		}
		if sha, _, err = gh.Repositories.GetCommitSHA1(ctx, owner, name, req.Branch, ""); err != nil {
			return nil, pipeline.UserError(err, "branch %q of %s was not found", req.Branch, req.Repo)
		}
	}
	if err := source.CheckSHA(sha); err != nil {
		return nil, err
	}
	env, err := d.manualTarget(ctx, req, sha)
	if err != nil {
		return nil, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = "api"
	}
	dep := &store.Deployment{
		Repo: req.Repo, InstallationID: req.InstallationID, SHA: sha, Branch: req.Branch,
		Environment: env.Name, Trigger: trigger, Actor: req.Actor, Target: TargetOf(env),
	}
	override(&dep.Target, req)
	if dep.Target.StateMachineARN == "" || dep.Target.Cluster == "" || dep.Target.Service == "" {
		return nil, pipeline.UserError(nil, "environment %q has no state machine, cluster or service: add it to .panda.yml", env.Name)
	}
	// Each request is a new deployment: the claim is as fresh as the id.
	dep.ID = store.NewID()
	return d.Accept(ctx, "api:"+dep.ID, dep)
}

// manualTarget finds the environment of the request in the commit's .panda.yml.
func (d *Deployer) manualTarget(ctx context.Context, req ManualRequest, sha string) (repoconfig.Env, error) {
	gh, err := d.GitHub.Client(ctx, req.InstallationID)
	if err != nil {
		return repoconfig.Env{}, pipeline.TransientError(err, "could not reach GitHub")
	}
	cfg, found, err := ReadConfig(ctx, gh, req.Repo, sha)
	if err != nil {
		if errors.As(err, new(*repoconfig.FieldError)) {
			return repoconfig.Env{}, err
		}
		return repoconfig.Env{}, pipeline.TransientError(err, "could not read .panda.yml")
	}
	if !found {
		return repoconfig.Env{}, pipeline.UserError(nil, "%s has no .panda.yml at %s", req.Repo, short(sha))
	}
	if req.Environment == "" {
		env, ok := cfg.Default()
		if !ok {
			return repoconfig.Env{}, pipeline.UserError(nil, "name an environment: %s", strings.Join(cfg.Names(), ", "))
		}
		return env, nil
	}
	env, ok := cfg.Env(req.Environment)
	if !ok {
		return repoconfig.Env{}, pipeline.UserError(nil, "environment %q is not in .panda.yml (%s)", req.Environment, strings.Join(cfg.Names(), ", "))
	}
	return env, nil
}

func override(t *store.Target, req ManualRequest) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&t.AWSConnection, req.AWSConnection)
	set(&t.Cluster, req.Cluster)
	set(&t.Service, req.Service)
	set(&t.TaskFamily, req.TaskFamily)
	if req.ContainerPort != 0 {
		t.ContainerPort = req.ContainerPort
	}
	if req.DesiredCount != nil {
		t.DesiredCount = *req.DesiredCount
	}
}
