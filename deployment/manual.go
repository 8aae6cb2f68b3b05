package deployment

import (
	"context"
	"errors"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/pandadeploy/panda/names"

	"github.com/pandadeploy/panda/connections"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Request is a deployment asked for by hand (POST /api/v1/deploy), validated by
// the caller and with its connections resolved. Empty settings come from the
// environment of the commit's .panda.yml; set ones override it.
type Request struct {
	Repo           string // owner/name, from the GitHub connection
	InstallationID int64  // 0 when the GitHub connection uses a token
	// AWSConnection names a stored AWS connection; empty means the
	// environment's `aws:`, or the worker's default credentials.
	AWSConnection string
	Branch        string // set, or SHA, or both; SHA wins, a branch alone is resolved to its head
	SHA           string
	Environment   string // empty: the .panda.yml default environment
	Cluster       string
	Service       string
	TaskFamily    string
	ContainerPort int  // 0 means from .panda.yml
	DesiredCount  *int // nil means from .panda.yml
	Trigger       string
	Actor         string
}

// Deploy resolves a request made by hand (POST /api/v1/deploy) to a commit
// and a target and accepts it as a new deployment; it is the API's Deployer.
// Errors that are the caller's (unknown branch, no such environment, missing
// settings) are pipeline.UserError.
func (d *Service) Deploy(ctx context.Context, req Request) (*store.Deployment, error) {
	if err := names.Repo(req.Repo); err != nil {
		return nil, pipeline.UserError(err, "%s", err.Error())
	}
	gh, err := d.client(ctx, req)
	if err != nil {
		return nil, err
	}
	owner, name, _ := strings.Cut(req.Repo, "/")
	sha := req.SHA
	if sha == "" {
		if err := names.Branch(req.Branch); err != nil {
			return nil, pipeline.UserError(err, "%s", err.Error())
		}
		if sha, _, err = gh.Repositories.GetCommitSHA1(ctx, owner, name, req.Branch, ""); err != nil {
			return nil, pipeline.UserError(err, "branch %q of %s was not found", req.Branch, req.Repo)
		}
	}
	if err := names.SHA(sha); err != nil {
		return nil, pipeline.UserError(err, "%s", err.Error())
	}
	cfg, err := configFor(ctx, gh, req.Repo, sha)
	if err != nil {
		return nil, err
	}
	env, err := Resolve(cfg, req.Environment)
	if err != nil {
		return nil, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerAPI
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

// client is the GitHub client a request is resolved with: the App's
// installation client, or without an installation (InstallationID 0) the
// client of the repository's token connection.
func (d *Service) client(ctx context.Context, req Request) (*github.Client, error) {
	if req.InstallationID != 0 {
		gh, err := d.GitHub.Client(ctx, req.InstallationID)
		if err != nil {
			return nil, pipeline.TransientError(err, "could not reach GitHub")
		}
		return gh, nil
	}
	if d.Tokens == nil {
		return nil, pipeline.UserError(nil, "%s has no GitHub App installation: connect the repository through the App to deploy it", req.Repo)
	}
	gh, err := d.Tokens.Client(ctx, req.Repo)
	if errors.Is(err, connections.ErrNotFound) {
		return nil, pipeline.UserError(err, "%s has neither a GitHub App installation nor a token connection: connect it first (POST /api/v1/connect/github)", req.Repo)
	}
	if err != nil {
		return nil, pipeline.TransientError(err, "could not load the GitHub connection of %s", req.Repo)
	}
	return gh, nil
}

func override(t *store.Target, req Request) {
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
