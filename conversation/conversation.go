// Package conversation is Panda's side of a GitHub conversation: reactions on
// a comment, replies posted exactly once across retries, and the permission
// check that decides who may deploy.
package conversation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/store"
)

// Reactions Panda puts on a /deploy comment, as GitHub spells them.
const (
	ReactionSeen    = "eyes"     // 👀 the command was taken
	ReactionSuccess = "rocket"   // 🚀 its deployment succeeded
	ReactionFailure = "confused" // 😕 its deployment did not
)

// React puts a reaction on an issue comment. GitHub answers an existing
// reaction of the same content with 200, so reacting again is harmless.
func React(ctx context.Context, gh *github.Client, repo string, commentID int64, content string) error {
	owner, name, _ := strings.Cut(repo, "/")
	if _, _, err := gh.Reactions.CreateIssueCommentReaction(ctx, owner, name, commentID, content); err != nil {
		return fmt.Errorf("react %s on comment %d of %s: %w", content, commentID, repo, err)
	}
	return nil
}

// replyMarker is hidden in every reply so that a later attempt can recognize
// a reply whose creation GitHub confirmed to nobody (the answer was lost).
func replyMarker(key string) string { return "<!-- panda:reply:" + key + " -->" }

// Replies is what Reply needs of *store.Store: the memory of which replies
// began and which landed.
type Replies interface {
	BeginReply(ctx context.Context, key string) (store.ReplyState, time.Time, error)
	ReplyDone(ctx context.Context, key string) error
}

// Reply posts body on issue once per key, across retries of the task: the
// store records that the reply landed, and when an earlier attempt began
// posting without recording it, the issue's recent comments are searched for
// the reply's marker before posting again.
func Reply(ctx context.Context, st Replies, gh *github.Client, repo string, issue int, key, body string) error {
	state, since, err := st.BeginReply(ctx, key)
	if err != nil {
		return err
	}
	switch state {
	case store.ReplyPosted:
		return nil
	case store.ReplyPending:
		found, err := findReply(ctx, gh, repo, issue, replyMarker(key), since)
		if err != nil {
			return err
		}
		if found {
			return st.ReplyDone(ctx, key)
		}
	}
	owner, name, _ := strings.Cut(repo, "/")
	// The marker goes last and whole; the body gives way to GitHub's limit.
	marker := "\n\n" + replyMarker(key)
	text := ghtext.Head(body, maxCommentBytes-len(marker)) + marker
	if _, _, err := gh.Issues.CreateComment(ctx, owner, name, issue, &github.IssueComment{Body: github.String(text)}); err != nil {
		return Err(fmt.Sprintf("reply on %s#%d", repo, issue), err)
	}
	return st.ReplyDone(ctx, key)
}

// maxCommentBytes is GitHub's limit on a comment body, "65536 characters",
// applied in bytes, the stricter reading.
const maxCommentBytes = 65536

// maxReplyPages bounds the search for an earlier reply: it was written within
// the retries of one task, so it is among the comments updated since then.
const maxReplyPages = 10

func findReply(ctx context.Context, gh *github.Client, repo string, issue int, marker string, since time.Time) (bool, error) {
	owner, name, _ := strings.Cut(repo, "/")
	from := since.Add(-time.Minute)
	opts := &github.IssueListCommentsOptions{
		Since:       &from,
		ListOptions: github.ListOptions{PerPage: 100},
	}
	for range maxReplyPages {
		list, resp, err := gh.Issues.ListComments(ctx, owner, name, issue, opts)
		if err != nil {
			return false, Err(fmt.Sprintf("list comments of %s#%d", repo, issue), err)
		}
		for _, c := range list {
			if strings.Contains(c.GetBody(), marker) {
				return true, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return false, nil
}

// MayDeploy reports whether user may deploy repo. Only GitHub's admin,
// maintain and write roles may: deploying runs the repository's Dockerfile
// with Panda's AWS credentials and changes what serves production, which is
// at least as much as pushing to the repository. A custom role counts as the
// base role GitHub reports for it in the legacy permission field.
func MayDeploy(ctx context.Context, gh *github.Client, repo, user string) (bool, error) {
	if user == "" {
		return false, nil
	}
	owner, name, _ := strings.Cut(repo, "/")
	lvl, resp, err := gh.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return false, nil // not a user GitHub knows
	}
	if err != nil {
		return false, Err(fmt.Sprintf("read permission of %s on %s", user, repo), err)
	}
	switch lvl.GetRoleName() {
	case "admin", "maintain", "write":
		return true, nil
	}
	switch lvl.GetPermission() {
	case "admin", "write":
		return true, nil
	}
	return false, nil
}

// IsAdmin reports whether user is an admin of repo, from the collaborator
// permission API (role_name admin, or the legacy permission admin). Only an
// admin may deploy through a freeze ("/deploy --force"): the freeze is the
// repository's own rule, and admins are who may change its settings.
func IsAdmin(ctx context.Context, gh *github.Client, repo, user string) (bool, error) {
	if user == "" {
		return false, nil
	}
	owner, name, _ := strings.Cut(repo, "/")
	lvl, resp, err := gh.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, Err(fmt.Sprintf("read permission of %s on %s", user, repo), err)
	}
	return lvl.GetRoleName() == "admin" || lvl.GetPermission() == "admin", nil
}

// Err wraps a GitHub API error for the task boundary: an answer that will not
// change on a retry (a 4xx that is not a rate limit) skips retries.
func Err(what string, err error) error {
	if checks.IsPermanent(err) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w: %w", what, err, asynq.SkipRetry)
	}
	return fmt.Errorf("%s: %w", what, err)
}
