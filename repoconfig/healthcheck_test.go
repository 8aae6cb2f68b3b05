package repoconfig_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/repoconfig"
)

func TestParseHealthCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yml  string // appended to valid's production environment
		want *repoconfig.HealthCheck
	}{
		{name: "path_only", yml: "    health_check:\n      path: /healthz\n", want: &repoconfig.HealthCheck{Path: "/healthz"}},
		{name: "everything", yml: "    health_check:\n      path: /ready?deep=1\n      expect_status: 204\n      timeout: 1500ms\n      attempts: 5\n",
			want: &repoconfig.HealthCheck{Path: "/ready?deep=1", ExpectStatus: 204, Timeout: 1500 * time.Millisecond, Attempts: 5}},
		{name: "timeout_in_seconds", yml: "    health_check:\n      path: /\n      timeout: 10\n", want: &repoconfig.HealthCheck{Path: "/", Timeout: 10 * time.Second}},
		{name: "none", yml: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := repoconfig.Parse([]byte(valid + tt.yml))
			if err != nil {
				t.Fatal(err)
			}
			env, _ := cfg.Env("production")
			if !reflect.DeepEqual(env.HealthCheck, tt.want) {
				t.Errorf("HealthCheck = %+v, want %+v", env.HealthCheck, tt.want)
			}
		})
	}
}

func TestParseHealthCheckErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yml, want string
	}{
		{name: "not_a_mapping", yml: "    health_check: /healthz\n",
			want: ".panda.yml line 14: environments.production.health_check: must be a mapping of path, expect_status, timeout and attempts, not \"/healthz\""},
		{name: "no_path", yml: "    health_check:\n      attempts: 2\n",
			want: ".panda.yml line 15: environments.production.health_check: is missing path, the path to GET on the test listener (for example /healthz)"},
		{name: "relative_path", yml: "    health_check:\n      path: healthz\n",
			want: ".panda.yml line 15: environments.production.health_check.path: must be a path starting with / (at most 1024 characters)"},
		{name: "path_with_space", yml: "    health_check:\n      path: /a b\n",
			want: ".panda.yml line 15: environments.production.health_check.path: must be printable ASCII without spaces or #"},
		{name: "status_out_of_range", yml: "    health_check:\n      path: /\n      expect_status: 700\n",
			want: ".panda.yml line 16: environments.production.health_check.expect_status: must be a whole number from 100 to 599"},
		{name: "too_many_attempts", yml: "    health_check:\n      path: /\n      attempts: 11\n",
			want: ".panda.yml line 16: environments.production.health_check.attempts: must be a whole number from 1 to 10"},
		{name: "timeout_too_long", yml: "    health_check:\n      path: /\n      timeout: 2m\n",
			want: ".panda.yml line 16: environments.production.health_check.timeout: must be a duration from 100ms to 1m, like 5s (or whole seconds)"},
		{name: "typo", yml: "    health_check:\n      path: /\n      atempts: 2\n",
			want: ".panda.yml line 16: environments.production.health_check.atempts: is not a known field (did you mean attempts?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := repoconfig.Parse([]byte(valid + tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v\nwant %s", err, tt.want)
			}
		})
	}
}
