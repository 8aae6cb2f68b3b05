package repoconfig

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/names"
)

// Approval is an environment's approval: after ECS shifts test traffic to
// the new revision (and after the health check, if any), production traffic
// moves only once someone allowed answers Approve; Reject, or no answer
// within Timeout, rolls the deployment back.
type Approval struct {
	// Required is true: an approval block that says required: false is
	// parsed as no approval at all (Env.Approval nil).
	Required bool
	// Users are GitHub logins who may answer, as written (compared without
	// regard to case, as GitHub compares logins).
	Users []string
	// Teams are "org/team-slug" entries: members of the team (state active)
	// may answer.
	Teams []string
	// Timeout is how long the rollout waits for an answer. If zero, 60 minutes.
	Timeout time.Duration
}

// Named reports whether the approval names its approvers; if not, anyone
// with write permission on the repository may answer.
func (a *Approval) Named() bool { return len(a.Users)+len(a.Teams) > 0 }

// Limits of an approval's timeout. ECS's PAUSE hook holds the deployment for
// at most timeoutInMinutes, whose default and documented ceiling is 1440
// (aws-sdk-go-v2 ecs types, DeploymentLifecycleHookTimeoutConfiguration); the
// hook's timeout is the approval's plus the health check's plus 15 minutes,
// so 12 hours leaves room for both.
const (
	minApprovalTimeout = time.Minute
	maxApprovalTimeout = 12 * time.Hour
	// DefaultApprovalTimeout is the timeout of an approval that names none.
	DefaultApprovalTimeout = time.Hour
)

// teamSlugRE is a team's slug as GitHub makes it from the team's name:
// lowercase letters, digits, hyphens and underscores.
var teamSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

func parseApproval(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.MappingNode {
		return newFieldError(n.Line, p, "must be a mapping of required, approvers and timeout, not %s", describe(n))
	}
	a := &Approval{Timeout: DefaultApprovalTimeout}
	set := map[string]bool{}
	err := eachField(n, p, func(k, v *yaml.Node, kp string) error {
		set[k.Value] = true
		switch k.Value {
		case "required":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&a.Required) != nil {
				return newFieldError(v.Line, kp, "must be true or false")
			}
			return nil
		case "approvers":
			return approvers(a, v, kp)
		case "timeout":
			return approvalTimeout(a, v, kp)
		}
		return unknownField(k, kp, []string{"approvers", "required", "timeout"})
	})
	if err != nil {
		return err
	}
	if !set["required"] {
		return newFieldError(n.Line, p, "is missing required: true (approval is never implied)")
	}
	if a.Required {
		env.Approval = a
	}
	return nil
}

func approvers(a *Approval, v *yaml.Node, p string) error {
	if v.Kind != yaml.SequenceNode {
		return newFieldError(v.Line, p, "must be a list of GitHub users and org/team slugs, not %s", describe(v))
	}
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return newFieldError(item.Line, p, "must list GitHub users and org/team slugs, not %s", describe(item))
		}
		s := strings.TrimPrefix(item.Value, "@")
		org, team, isTeam := strings.Cut(s, "/")
		switch {
		case isTeam && (names.Owner(org) != nil || !teamSlugRE.MatchString(team)):
			return newFieldError(item.Line, p, "%q is not an org/team-slug (the team's slug, in lowercase, as in its URL)", item.Value)
		case isTeam:
			a.Teams = append(a.Teams, org+"/"+team)
		case names.Owner(s) != nil:
			return newFieldError(item.Line, p, "%q is not a GitHub user name", item.Value)
		default:
			a.Users = append(a.Users, s)
		}
	}
	return nil
}

// approvalTimeout accepts a duration ("60m", "2h") or whole minutes (60).
func approvalTimeout(a *Approval, v *yaml.Node, p string) error {
	var d time.Duration
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!int":
		var n int64
		if v.Decode(&n) == nil && n > 0 && n < 1<<20 {
			d = time.Duration(n) * time.Minute
		}
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
		d, _ = time.ParseDuration(v.Value)
	}
	if d < minApprovalTimeout || d > maxApprovalTimeout || d%time.Minute != 0 {
		return newFieldError(v.Line, p, "must be whole minutes from 1m to 12h, like 60m (or a number of minutes)")
	}
	a.Timeout = d
	return nil
}
