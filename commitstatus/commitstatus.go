// Package commitstatus reports a deployment to GitHub as commit statuses, for
// repositories connected with a token rather than through the App: GitHub
// lets only Apps write check runs, but anyone with "Commit statuses" write
// access may set a commit's status ("Create a commit status", GitHub REST API
// docs). A deployment is one status context, panda/deploy, that goes
// pending → success, failure or error, with target_url = its page.
//
// Reporter has the same methods as checks.Reporter, and ByAuth sends each
// deployment to the one that can report it, so the rest of Panda needs to
// know nothing of the difference.
package commitstatus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Context is the status context every deployment reports under.
const Context = "panda/deploy"

// maxDescription is the longest description GitHub accepts on a status.
const maxDescription = 140

// API is what the reporter needs of a repository's client;
// *github.RepositoriesService has it.
type API interface {
	CreateStatus(ctx context.Context, owner, repo, ref string, status *github.RepoStatus) (*github.RepoStatus, *github.Response, error)
}

var _ API = (*github.RepositoriesService)(nil)

// Reporter writes a deployment's progress as statuses of its commit. Its
// methods are safe for concurrent use; a failed request is returned to be
// logged, never retried here (the next stage writes a newer status anyway).
type Reporter struct {
	// Clients gives the client of a repository's token connection.
	Clients func(ctx context.Context, repo string) (API, error)
	// PublicURL is PANDA_PUBLIC_URL: statuses link to PublicURL +
	// "/deployments/" + the id. If empty, they link nowhere.
	PublicURL string
	Logger    *slog.Logger
}

func (r *Reporter) post(ctx context.Context, d *store.Deployment, state, description string) error {
	api, err := r.Clients(ctx, d.Repo)
	if err != nil {
		return fmt.Errorf("commit status of %s: %w", d.ID, err)
	}
	st := &github.RepoStatus{
		State:       github.String(state),
		Context:     github.String(Context),
		Description: github.String(ghtext.Head(description, maxDescription)), // GitHub counts the 140 in bytes
	}
	if r.PublicURL != "" {
		st.TargetURL = github.String(strings.TrimRight(r.PublicURL, "/") + "/deployments/" + d.ID)
	}
	owner, name, _ := strings.Cut(d.Repo, "/")
	if _, _, err := api.CreateStatus(ctx, owner, name, d.SHA, st); err != nil {
		return fmt.Errorf("commit status %s of %s: %w", state, d.ID, err)
	}
	return nil
}

// Queue sets the commit pending. It makes no check runs, so no ids.
func (r *Reporter) Queue(ctx context.Context, d *store.Deployment) (map[string]int64, error) {
	return nil, r.post(ctx, d, "pending", fmt.Sprintf("Queued: %s to %s", d.ID, d.Environment))
}

// Waiting says the deployment waits for its environment.
func (r *Reporter) Waiting(ctx context.Context, d *store.Deployment, behind string, position int) error {
	return r.post(ctx, d, "pending", fmt.Sprintf("Queued behind %s (position %d)", behind, position))
}

// Hold says why the deployment is held (a freeze); a status has room for
// the title only.
func (r *Reporter) Hold(ctx context.Context, d *store.Deployment, title, _ string) error {
	return r.post(ctx, d, "pending", title)
}

// Start says a stage started.
func (r *Reporter) Start(ctx context.Context, d *store.Deployment, stage string) error {
	return r.post(ctx, d, "pending", fmt.Sprintf("%s: %s started", d.ID, stage))
}

// Log does nothing: a status has no log, and one status per line would soon
// reach GitHub's 1000 statuses per commit and context. The log is on the
// deployment's page (target_url) and its event stream.
func (r *Reporter) Log(context.Context, *store.Deployment, string, string) error { return nil }

// Finish says how a stage ended: the deployment's success only when the
// deploy stage succeeded, else still pending; a failure is failure; a
// cancellation, timeout or superseded deployment is error (the status enum
// has nothing closer).
func (r *Reporter) Finish(ctx context.Context, d *store.Deployment, stage string, res checks.Result) error {
	st := state(stage, res.Conclusion)
	desc := res.Title
	// A failed deployment's own message (which names, say, the unknown AWS
	// connection) says more than a title could; it was written for users.
	if (st == "failure" || st == "error") && d.Error != "" {
		desc = d.Error
	}
	if desc == "" {
		desc = stage + " " + res.Conclusion
	}
	return r.post(ctx, d, st, desc)
}

func state(stage, conclusion string) string {
	switch conclusion {
	case checks.ConclusionSuccess:
		if stage == string(pipeline.StageDeploy) {
			return "success"
		}
		return "pending"
	case checks.ConclusionNeutral:
		return "pending"
	case checks.ConclusionFailure:
		return "failure"
	}
	return "error"
}

// Skip does nothing: the stage that ended the deployment set its status.
func (r *Reporter) Skip(context.Context, *store.Deployment, ...string) error { return nil }

// Refuse has nothing to write: a token deployment has no check runs, so no
// button anyone could press (a refused /deploy cancel is answered by reply).
func (r *Reporter) Refuse(context.Context, *store.Deployment, string) error { return nil }

// Approval has nothing to write: a token deployment has no controls run to
// carry Approve and Reject, and one commit status per change would only
// repeat the deploy status; /deploy approve and /deploy reject answer it.
func (r *Reporter) Approval(context.Context, *store.Deployment, checks.Approval) error { return nil }

// TokenClients gives the client of a repository's token connection;
// *connections.GitHubTokens has it.
type TokenClients interface {
	Client(ctx context.Context, repo string) (*github.Client, error)
}

// ForTokens returns a Reporter that writes through the token connections of
// tokens: the one wiring cmd/app and the worker share.
func ForTokens(tokens TokenClients, publicURL string, logger *slog.Logger) *Reporter {
	return &Reporter{
		Clients: func(ctx context.Context, repo string) (API, error) {
			c, err := tokens.Client(ctx, repo)
			if err != nil {
				return nil, err
			}
			return c.Repositories, nil
		},
		PublicURL: publicURL,
		Logger:    logger,
	}
}
