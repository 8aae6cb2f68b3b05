package repoconfig

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// HealthCheck is an environment's health_check: after ECS shifts test
// traffic to the new revision, and before production traffic moves, the
// test listener must answer GET Path with ExpectStatus within Timeout, in
// at most Attempts tries; otherwise ECS rolls the deployment back.
type HealthCheck struct {
	// Path is the request path, starting with "/".
	Path string
	// ExpectStatus is the status a healthy revision answers. If zero, 200.
	ExpectStatus int
	// Timeout bounds each try. If zero, 5 seconds.
	Timeout time.Duration
	// Attempts is how many tries there are. If zero, 3.
	Attempts int
}

// Limits of a health check: the function that probes runs at most 15
// minutes (Lambda's limit), and waits 2 seconds between tries.
const (
	maxHealthTimeout  = time.Minute
	maxHealthAttempts = 10
)

func parseHealthCheck(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.MappingNode {
		return newFieldError(n.Line, p, "must be a mapping of path, expect_status, timeout and attempts, not %s", describe(n))
	}
	hc := &HealthCheck{}
	set := map[string]bool{}
	err := eachField(n, p, func(k, v *yaml.Node, kp string) error {
		set[k.Value] = true
		switch k.Value {
		case "path":
			return healthPath(hc, v, kp)
		case "expect_status":
			return healthInt(&hc.ExpectStatus, v, kp, 100, 599)
		case "attempts":
			return healthInt(&hc.Attempts, v, kp, 1, maxHealthAttempts)
		case "timeout":
			return healthTimeout(hc, v, kp)
		}
		return unknownField(k, kp, []string{"attempts", "expect_status", "path", "timeout"})
	})
	if err != nil {
		return err
	}
	if !set["path"] {
		return newFieldError(n.Line, p, "is missing path, the path to GET on the test listener (for example /healthz)")
	}
	env.HealthCheck = hc
	return nil
}

func healthPath(hc *HealthCheck, v *yaml.Node, p string) error {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		return newFieldError(v.Line, p, "must be a string, not %s", describe(v))
	}
	s := v.Value
	if !strings.HasPrefix(s, "/") || len(s) > 1024 {
		return newFieldError(v.Line, p, "must be a path starting with / (at most 1024 characters)")
	}
	for _, r := range s {
		// The path is appended to the listener's URL: printable ASCII only,
		// no space, and no # (a fragment is never sent).
		if r <= ' ' || r > '~' || r == '#' {
			return newFieldError(v.Line, p, "must be printable ASCII without spaces or #")
		}
	}
	hc.Path = s
	return nil
}

func healthInt(dst *int, v *yaml.Node, p string, lo, hi int) error {
	var n int64
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&n) != nil || n < int64(lo) || n > int64(hi) {
		return newFieldError(v.Line, p, "must be a whole number from %d to %d", lo, hi)
	}
	*dst = int(n)
	return nil
}

// healthTimeout accepts a duration ("5s", "500ms") or whole seconds (5).
func healthTimeout(hc *HealthCheck, v *yaml.Node, p string) error {
	var d time.Duration
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!int":
		var n int64
		if v.Decode(&n) == nil {
			d = time.Duration(n) * time.Second
		}
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
		d, _ = time.ParseDuration(v.Value)
	}
	if d < 100*time.Millisecond || d > maxHealthTimeout {
		return newFieldError(v.Line, p, "must be a duration from 100ms to 1m, like 5s (or whole seconds)")
	}
	hc.Timeout = d
	return nil
}
