package deployment

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/repoconfig"
)

// ReadConfig reads and parses .panda.yml at sha through the contents API.
// found is false when the commit has no such file. A malformed file is a
// *repoconfig.FieldError (permanent, with the line); anything else is GitHub
// failing and worth a retry.
func ReadConfig(ctx context.Context, gh *github.Client, repo, sha string) (cfg repoconfig.Config, found bool, err error) {
	owner, name, _ := strings.Cut(repo, "/")
	file, _, resp, err := gh.Repositories.GetContents(ctx, owner, name, repoconfig.FileName, &github.RepositoryContentGetOptions{Ref: sha})
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return repoconfig.Config{}, false, nil
	}
	// GitHub refuses to serve a file over 1 MB through the contents API: the
	// user's to fix, not an outage to retry.
	if githubapp.TooLarge(file, err) {
		return repoconfig.Config{}, true, repoconfig.TooLarge()
	}
	if err != nil {
		return repoconfig.Config{}, false, fmt.Errorf("read %s of %s at %s: %w", repoconfig.FileName, repo, names.ShortSHA(sha), err)
	}
	if file == nil {
		return repoconfig.Config{}, true, pipeline.UserError(nil, "%s at %s is a directory, not a file", repoconfig.FileName, names.ShortSHA(sha))
	}
	content, err := file.GetContent()
	if err != nil {
		return repoconfig.Config{}, false, fmt.Errorf("decode %s: %w", repoconfig.FileName, err)
	}
	cfg, err = repoconfig.Parse([]byte(content))
	return cfg, true, err
}

// EnvProblem says why Resolve found no environment.
type EnvProblem int

// The reasons Resolve refuses.
const (
	// NoDefault: no name was given and the file marks no default environment.
	NoDefault EnvProblem = iota + 1
	// UnknownEnv: the name given is not an environment of the file.
	UnknownEnv
)

// EnvError is the cause of Resolve's refusals, for callers that phrase them
// in their own medium (a pull-request reply quotes names as code).
type EnvError struct {
	Problem EnvProblem
	Name    string   // the name asked for ("" with NoDefault)
	Valid   []string // the file's environments, sorted
}

func (e *EnvError) Error() string {
	if e.Problem == NoDefault {
		return "name an environment: " + strings.Join(e.Valid, ", ")
	}
	return fmt.Sprintf("environment %q is not in .panda.yml (%s)", e.Name, strings.Join(e.Valid, ", "))
}

// Resolve picks the environment a deployment by hand goes to: the one named,
// or with no name the file's default (the one marked default, or the only
// one). Every trigger that names an environment (a /deploy comment, the API)
// resolves it here; a push picks by branch (Config.ForBranch) and a button
// reuses its deployment's target. A refusal is a pipeline.UserError whose
// cause is an *EnvError.
func Resolve(cfg repoconfig.Config, name string) (repoconfig.Env, error) {
	if name == "" {
		if env, ok := cfg.Default(); ok {
			return env, nil
		}
		e := &EnvError{Problem: NoDefault, Valid: cfg.Names()}
		return repoconfig.Env{}, pipeline.UserError(e, "%s", e.Error())
	}
	if env, ok := cfg.Env(name); ok {
		return env, nil
	}
	e := &EnvError{Problem: UnknownEnv, Name: name, Valid: cfg.Names()}
	return repoconfig.Env{}, pipeline.UserError(e, "%s", e.Error())
}

// configFor reads the .panda.yml a deployment by hand needs: its absence is
// the caller's error, and so is a malformed file (with its line).
func configFor(ctx context.Context, gh *github.Client, repo, sha string) (repoconfig.Config, error) {
	cfg, found, err := ReadConfig(ctx, gh, repo, sha)
	switch {
	case err != nil && pipeline.IsPermanent(err):
		return repoconfig.Config{}, err
	case err != nil:
		return repoconfig.Config{}, pipeline.TransientError(err, "could not read .panda.yml")
	case !found:
		return repoconfig.Config{}, pipeline.UserError(nil, "%s has no .panda.yml at %s", repo, names.ShortSHA(sha))
	}
	return cfg, nil
}
