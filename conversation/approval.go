package conversation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/store"
)

// MayAnswer says whether user may answer dep's approval (approve when
// approve is true, else reject), and when not, why, in words for user.
//
// When .panda.yml names approvers, only they answer Approve: the users named
// (logins compared without regard to case, as GitHub compares them) and the
// active members of the teams named (the team membership API; a pending
// invitation is not membership). The person who started the deployment
// never approves it alone: their push or /deploy is not a second pair of
// eyes, even when .panda.yml names them. Without named approvers, anyone
// with write access approves, as anyone with write access could deploy.
// Reject is the safe answer: whoever may approve, and anyone who may deploy
// (who could Cancel the deployment to the same effect), may reject.
func MayAnswer(ctx context.Context, gh *github.Client, dep *store.Deployment, user string, approve bool) (bool, string, error) {
	a := dep.Target.Approval
	if user == "" || a == nil {
		return false, "this deployment does not wait for an approval", nil
	}
	named := len(a.Users)+len(a.Teams) > 0
	if !named || !approve {
		ok, err := MayDeploy(ctx, gh, dep.Repo, user)
		if err != nil || ok || !named {
			return ok, fmt.Sprintf("only people with write access to %s can answer its approvals", dep.Repo), err
		}
	}
	if approve && strings.EqualFold(user, dep.Actor) {
		return false, fmt.Sprintf("@%s started this deployment, and .panda.yml names the approvers of %s: one of them must approve it", user, dep.Environment), nil
	}
	ok, unreadable, err := isApprover(ctx, gh, a, user)
	if err != nil || ok {
		return ok, "", err
	}
	why := fmt.Sprintf("only %s can approve deployments to %s", approvers(a), dep.Environment)
	if !approve {
		why = fmt.Sprintf("only %s, or people with write access to %s, can reject deployments to %s", approvers(a), dep.Repo, dep.Environment)
	}
	if len(unreadable) > 0 {
		why += fmt.Sprintf(" (Panda may not read the members of %s: an owner must grant the App the organization permission Members: read)", strings.Join(unreadable, ", "))
	}
	return false, why, nil
}

// isApprover reports whether user is one of a's named users or an active
// member of one of its teams. Team members include the members of child
// teams (REST reference, "Get team membership for a user"). A team whose
// members the App may not read (403: an installation that has not accepted
// the Members permission yet) counts as not naming user, and is listed in
// unreadable so the refusal can say why: failing closed, and telling.
func isApprover(ctx context.Context, gh *github.Client, a *store.Approval, user string) (ok bool, unreadable []string, err error) {
	for _, u := range a.Users {
		if strings.EqualFold(u, user) {
			return true, nil, nil
		}
	}
	for _, t := range a.Teams {
		org, slug, _ := strings.Cut(t, "/")
		m, resp, err := gh.Teams.GetTeamMembershipBySlug(ctx, org, slug, user)
		switch {
		case resp != nil && resp.StatusCode == http.StatusNotFound:
			continue // "if user has no team membership" (or the team is not visible)
		case resp != nil && resp.StatusCode == http.StatusForbidden && !rateLimited(err):
			unreadable = append(unreadable, t)
			continue
		case err != nil:
			return false, nil, Err(fmt.Sprintf("read membership of %s in %s", user, t), err)
		case m.GetState() == "active":
			return true, nil, nil
		}
	}
	return false, unreadable, nil
}

// Approvers lists who may approve, for people: "@alice, @bob or members of acme/release".
func Approvers(a *store.Approval) []string {
	var out []string
	for _, u := range a.Users {
		out = append(out, "@"+u)
	}
	return append(out, a.Teams...)
}

func approvers(a *store.Approval) string {
	var parts []string
	for _, u := range a.Users {
		parts = append(parts, "@"+u)
	}
	for _, t := range a.Teams {
		parts = append(parts, "members of "+t)
	}
	switch len(parts) {
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// rateLimited reports whether err is one of GitHub's rate limits, which it
// answers 403 too (go-github's RateLimitError and AbuseRateLimitError):
// those are retried, never read as a missing permission.
func rateLimited(err error) bool {
	var primary *github.RateLimitError
	var secondary *github.AbuseRateLimitError
	return errors.As(err, &primary) || errors.As(err, &secondary)
}
