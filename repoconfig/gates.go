package repoconfig

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/freeze"
)

// Scan is an environment's image-scan gate: the rollout waits for ECR's scan
// of the pushed image and is blocked by findings at or above FailOn that
// Ignore does not list.
type Scan struct {
	// FailOn is CRITICAL, HIGH or MEDIUM.
	FailOn string
	// Ignore lists vulnerability ids, like CVE-2024-12345.
	Ignore []string
}

// Freeze policies: what a deployment that would start inside a freeze does.
const (
	FreezeWait   = "wait"
	FreezeRefuse = "refuse"
)

// vulnID is the shape of the ids ECR reports: CVE-2024-12345, GHSA-…,
// ALAS-2024-1234, and the like.
var vulnID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9.:]+)+$`)

func parseScan(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.MappingNode {
		return newFieldError(n.Line, p, "must be a mapping with fail_on (and optionally ignore), not %s", describe(n))
	}
	s := &Scan{}
	err := eachField(n, p, func(k, v *yaml.Node, kp string) error {
		switch k.Value {
		case "fail_on":
			if v.Kind != yaml.ScalarNode || (v.Value != "CRITICAL" && v.Value != "HIGH" && v.Value != "MEDIUM") {
				return newFieldError(v.Line, kp, "must be CRITICAL, HIGH or MEDIUM")
			}
			s.FailOn = v.Value
		case "ignore":
			if v.Kind != yaml.SequenceNode {
				return newFieldError(v.Line, kp, "must be a list of vulnerability ids, not %s", describe(v))
			}
			for _, id := range v.Content {
				if id.Kind != yaml.ScalarNode || len(id.Value) > 128 || !vulnID.MatchString(id.Value) {
					return newFieldError(id.Line, kp, "entries must be vulnerability ids like CVE-2024-12345")
				}
				s.Ignore = append(s.Ignore, id.Value)
			}
		default:
			return unknownField(k, kp, []string{"fail_on", "ignore"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.FailOn == "" {
		return newFieldError(n.Line, p+".fail_on", "is missing: CRITICAL, HIGH or MEDIUM")
	}
	env.Scan = s
	return nil
}

var windowFields = []string{"cron", "duration", "end", "reason", "start", "timezone"}

func parseFreeze(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return newFieldError(n.Line, p, "must be a list of windows ({start, end} or {cron, duration}), not %s", describe(n))
	}
	if len(n.Content) > 50 {
		return newFieldError(n.Line, p, "has more than 50 windows")
	}
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			return newFieldError(item.Line, p, "entries must be mappings, not %s", describe(item))
		}
		var w freeze.Window
		err := eachField(item, p, func(k, v *yaml.Node, kp string) error {
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return newFieldError(v.Line, kp, "must be a string, not %s", describe(v))
			}
			switch k.Value {
			case "start":
				w.Start = v.Value
			case "end":
				w.End = v.Value
			case "cron":
				w.Cron = v.Value
			case "timezone":
				w.Timezone = v.Value
			case "reason":
				if len(v.Value) > 200 || strings.ContainsAny(v.Value, "\n\r") {
					return newFieldError(v.Line, kp, "must be one line of at most 200 bytes")
				}
				w.Reason = v.Value
			case "duration":
				d, err := time.ParseDuration(v.Value)
				if err != nil {
					return newFieldError(v.Line, kp, "must be a duration like 62h or 90m")
				}
				w.Duration = d
			default:
				return unknownField(k, kp, windowFields)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := freeze.Compile(w); err != nil {
			return newFieldError(item.Line, p, "%s", err.Error())
		}
		env.Freeze = append(env.Freeze, w)
	}
	return nil
}

func checkFreezePolicy(s string) string {
	if s != FreezeWait && s != FreezeRefuse {
		return "must be wait or refuse"
	}
	return ""
}
