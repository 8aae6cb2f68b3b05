package repoconfig_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/pandadeploy/panda/repoconfig"
)

func TestParseApproval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yml  string // appended to valid's production environment
		want *repoconfig.Approval
	}{
		{name: "required_only", yml: "    approval:\n      required: true\n",
			want: &repoconfig.Approval{Required: true, Timeout: time.Hour}},
		{name: "everything", yml: "    approval:\n      required: true\n      approvers: [alice, '@Bob', acme/release-managers]\n      timeout: 90m\n",
			want: &repoconfig.Approval{Required: true, Users: []string{"alice", "Bob"}, Teams: []string{"acme/release-managers"}, Timeout: 90 * time.Minute}},
		{name: "minutes", yml: "    approval:\n      required: true\n      timeout: 30\n",
			want: &repoconfig.Approval{Required: true, Timeout: 30 * time.Minute}},
		{name: "not_required", yml: "    approval:\n      required: false\n      approvers: [alice]\n", want: nil},
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
			if !reflect.DeepEqual(env.Approval, tt.want) {
				t.Errorf("Approval = %+v, want %+v", env.Approval, tt.want)
			}
		})
	}
}

func TestParseApprovalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yml, want string
	}{
		{name: "not_a_mapping", yml: "    approval: true\n",
			want: ".panda.yml line 14: environments.production.approval: must be a mapping of required, approvers and timeout, not true/false"},
		{name: "no_required", yml: "    approval:\n      approvers: [alice]\n",
			want: ".panda.yml line 15: environments.production.approval: is missing required: true (approval is never implied)"},
		{name: "required_string", yml: "    approval:\n      required: yes please\n",
			want: ".panda.yml line 15: environments.production.approval.required: must be true or false"},
		{name: "approvers_not_a_list", yml: "    approval:\n      required: true\n      approvers: alice\n",
			want: ".panda.yml line 16: environments.production.approval.approvers: must be a list of GitHub users and org/team slugs, not \"alice\""},
		{name: "bad_user", yml: "    approval:\n      required: true\n      approvers:\n        - -alice\n",
			want: ".panda.yml line 17: environments.production.approval.approvers: \"-alice\" is not a GitHub user name"},
		{name: "bad_team", yml: "    approval:\n      required: true\n      approvers: [acme/Release Managers]\n",
			want: ".panda.yml line 16: environments.production.approval.approvers: \"acme/Release Managers\" is not an org/team-slug (the team's slug, in lowercase, as in its URL)"},
		{name: "timeout_too_long", yml: "    approval:\n      required: true\n      timeout: 13h\n",
			want: ".panda.yml line 16: environments.production.approval.timeout: must be whole minutes from 1m to 12h, like 60m (or a number of minutes)"},
		{name: "timeout_seconds", yml: "    approval:\n      required: true\n      timeout: 90s\n",
			want: ".panda.yml line 16: environments.production.approval.timeout: must be whole minutes from 1m to 12h, like 60m (or a number of minutes)"},
		{name: "typo", yml: "    approval:\n      required: true\n      aprovers: [alice]\n",
			want: ".panda.yml line 16: environments.production.approval.aprovers: is not a known field (did you mean approvers?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := repoconfig.Parse([]byte(valid + tt.yml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}
