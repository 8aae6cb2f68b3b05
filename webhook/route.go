package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/command"
	"github.com/pandadeploy/panda/tasks"
)

// Decision is what one delivery becomes: a task, or a reason to ignore it.
type Decision struct {
	// Task is nil when the delivery is ignored.
	Task *asynq.Task
	// Reason says why the delivery was ignored, or what was queued.
	Reason string
	// InstallationID and Repo say whom the delivery is for (zero when unknown),
	// so the handler can ignore installations and repositories Panda does not serve.
	InstallationID int64
	Repo           string
	// RepoID is the repository's id (0 when unknown): the installation serves
	// a repository by id, which survives renames and transfers.
	RepoID int64
}

// ErrMalformed is returned by Route for a payload that is not the JSON its event
// promises. The handler answers 400.
var ErrMalformed = errors.New("malformed payload")

// Route turns a verified delivery into a Decision. It is a pure function of its
// arguments: it reads nothing and writes nothing. Events Panda does not handle
// are ignored without being decoded.
func Route(event string, payload []byte, d tasks.Delivery) (Decision, error) {
	// Handled events are validated by decoding them; others only need to be JSON.
	switch event {
	case "push":
		return decodeThen(payload, routePush, d)
	case "issue_comment":
		return decodeThen(payload, routeComment, d)
	case "check_run":
		return decodeThen(payload, routeCheckRun, d)
	case "check_suite":
		return decodeThen(payload, routeCheckSuite, d)
	case "installation":
		return decodeThen(payload, routeInstallation, d)
	case "installation_repositories":
		return decodeThen(payload, routeInstallationRepos, d)
	}
	if !json.Valid(payload) {
		return Decision{}, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	return Decision{Reason: "event " + event + " is not handled"}, nil
}

func decodeThen[E any, PE interface {
	*E
	decodeJSON(*scanner) error
}](payload []byte, route func(*E, tasks.Delivery) (Decision, error), d tasks.Delivery) (Decision, error) {
	e := new(E)
	if err := decodeObject(payload, PE(e).decodeJSON); err != nil {
		return Decision{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return route(e, d)
}

func ignore(reason string, inst int64, repo string) (Decision, error) {
	return Decision{Reason: reason, InstallationID: inst, Repo: repo}, nil
}

func queued(t *asynq.Task, err error, inst int64, repo repository) (Decision, error) {
	if err != nil {
		return Decision{}, err
	}
	return Decision{Task: t, Reason: "queued " + t.Type(), InstallationID: inst, Repo: repo.FullName, RepoID: repo.ID}, nil
}

func routePush(e *pushEvent, d tasks.Delivery) (Decision, error) {
	repo, inst := e.Repo.FullName, e.Installation.ID
	branch, isBranch := strings.CutPrefix(e.Ref, "refs/heads/")
	switch {
	case !isBranch:
		return ignore("not a branch push", inst, repo)
	case e.Deleted:
		return ignore("branch deleted", inst, repo)
	case e.HeadCommit == nil || e.After == "":
		return ignore("push without a head commit", inst, repo)
	case inst == 0:
		return ignore("not a delivery of the App (no installation)", inst, repo)
	}
	t, err := tasks.NewPushTask(tasks.PushPayload{
		Delivery:       d,
		InstallationID: inst,
		Repo:           repo,
		RepoID:         e.Repo.ID,
		Branch:         branch,
		SHA:            e.After,
		Message:        e.HeadCommit.Message,
		Sender:         e.Sender.Login,
	})
	return queued(t, err, inst, e.Repo)
}

func routeComment(e *issueCommentEvent, d tasks.Delivery) (Decision, error) {
	repo, inst := e.Repo.FullName, e.Installation.ID
	first, code := firstLine(e.Comment.Body)
	switch {
	case e.Action != "created":
		return ignore("comment "+e.Action, inst, repo)
	case code || !command.IsDeploy(first):
		return ignore("not a /deploy comment", inst, repo)
	case e.Sender.Type == "Bot" || e.Comment.User.Type == "Bot":
		// A bot (Panda itself included) never triggers a deployment: it could loop.
		return ignore("comment by a bot", inst, repo)
	case inst == 0:
		return ignore("not a delivery of the App (no installation)", inst, repo)
	}
	t, err := tasks.NewCommentTask(tasks.CommentPayload{
		Delivery:       d,
		InstallationID: inst,
		Repo:           repo,
		RepoID:         e.Repo.ID,
		Issue:          e.Issue.Number,
		PullRequest:    e.Issue.PullRequest != nil,
		CommentID:      e.Comment.ID,
		Command:        first,
		Author:         e.Comment.User.Login,
	})
	return queued(t, err, inst, e.Repo)
}

// firstLine returns the first line of a comment that is not blank, trimmed,
// and whether Markdown shows it as code: indented by a tab or four spaces, it
// is an indented code block, and a command quoted as code is not a command.
func firstLine(body string) (line string, code bool) {
	body = strings.TrimLeft(body, "\r\n")
	for {
		line, rest, more := strings.Cut(body, "\n")
		if strings.TrimSpace(line) != "" || !more {
			indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			return strings.TrimSpace(line), strings.Contains(indent, "\t") || len(indent) >= 4
		}
		body = rest
	}
}

func routeCheckRun(e *checkRunEvent, d tasks.Delivery) (Decision, error) {
	repo, inst := e.Repo.FullName, e.Installation.ID
	if e.Action != "rerequested" && e.Action != "requested_action" {
		return ignore("check_run "+e.Action, inst, repo)
	}
	if inst == 0 {
		return ignore("not a delivery of the App (no installation)", inst, repo)
	}
	p := tasks.CheckRunPayload{
		Delivery:       d,
		InstallationID: inst,
		Repo:           repo,
		RepoID:         e.Repo.ID,
		Action:         e.Action,
		CheckRunID:     e.CheckRun.ID,
		ExternalID:     e.CheckRun.ExternalID,
		HeadSHA:        e.CheckRun.HeadSHA,
		Sender:         e.Sender.Login,
	}
	if e.RequestedAction != nil {
		p.Identifier = e.RequestedAction.Identifier
	}
	t, err := tasks.NewCheckRunTask(p)
	return queued(t, err, inst, e.Repo)
}

func routeCheckSuite(e *checkSuiteEvent, d tasks.Delivery) (Decision, error) {
	repo, inst := e.Repo.FullName, e.Installation.ID
	if e.Action != "rerequested" {
		return ignore("check_suite "+e.Action, inst, repo)
	}
	if inst == 0 {
		return ignore("not a delivery of the App (no installation)", inst, repo)
	}
	t, err := tasks.NewCheckRunTask(tasks.CheckRunPayload{
		Delivery:       d,
		InstallationID: inst,
		Repo:           repo,
		RepoID:         e.Repo.ID,
		Action:         "rerequested",
		CheckSuiteID:   e.CheckSuite.ID,
		HeadSHA:        e.CheckSuite.HeadSHA,
		Sender:         e.Sender.Login,
	})
	return queued(t, err, inst, e.Repo)
}

func routeInstallation(e *installationEvent, d tasks.Delivery) (Decision, error) {
	if e.Installation.ID == 0 {
		return Decision{}, fmt.Errorf("%w: installation event without installation id", ErrMalformed)
	}
	t, err := tasks.NewInstallationTask(tasks.InstallationPayload{
		Delivery:       d,
		Event:          "installation",
		Action:         e.Action,
		InstallationID: e.Installation.ID,
		Account:        e.Installation.Account.Login,
		AllRepos:       e.Installation.RepositorySelection == "all",
		Repos:          fullNames(e.Repositories),
		Granted:        repos(e.Repositories),
	})
	// Installation events are always taken, even for an installation not yet known.
	return queued(t, err, 0, repository{})
}

func routeInstallationRepos(e *installationRepositoriesEvent, d tasks.Delivery) (Decision, error) {
	if e.Installation.ID == 0 {
		return Decision{}, fmt.Errorf("%w: installation_repositories event without installation id", ErrMalformed)
	}
	t, err := tasks.NewInstallationTask(tasks.InstallationPayload{
		Delivery:       d,
		Event:          "installation_repositories",
		Action:         e.Action,
		InstallationID: e.Installation.ID,
		Account:        e.Installation.Account.Login,
		AllRepos:       e.RepositorySelection == "all",
		Added:          fullNames(e.Added),
		Removed:        fullNames(e.Removed),
		AddedRepos:     repos(e.Added),
		RemovedRepos:   repos(e.Removed),
		Selection:      e.RepositorySelection,
	})
	return queued(t, err, 0, repository{})
}
