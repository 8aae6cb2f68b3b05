package repoconfig_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/repoconfig"
)

// valid is the design's example; the line numbers in the tests below refer to it.
const valid = `environments:
  production:
    branch: main
    region: ap-northeast-2
    aws: prod
    ecr_repository: mycompany-backend
    state_machine_arn: arn:aws:states:ap-northeast-2:123456789012:stateMachine:panda-bluegreen
    cluster: production-cluster
    service: myapp-service
    task_family: myapp-task
    container_port: 8080
    desired_count: 3
    dockerfile: Dockerfile
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	cfg, err := repoconfig.Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	want := repoconfig.Env{
		Name: "production", Branch: "main", Region: "ap-northeast-2", AWS: "prod",
		ECRRepository:   "mycompany-backend",
		StateMachineARN: "arn:aws:states:ap-northeast-2:123456789012:stateMachine:panda-bluegreen",
		Cluster:         "production-cluster", Service: "myapp-service", TaskFamily: "myapp-task",
		ContainerPort: 8080, DesiredCount: 3, Dockerfile: "Dockerfile",
		Trigger: repoconfig.TriggerStepFunctions, Default: true,
	}
	if !reflect.DeepEqual(cfg.Environments, []repoconfig.Env{want}) {
		t.Fatalf("Environments = %+v\nwant %+v", cfg.Environments, want)
	}
}

const two = `environments:
  staging:
    branch: develop
    region: us-gov-west-1
    state_machine_arn: arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:sm
    cluster: c
    service: s
    task_family: f
    container_port: 80
    desired_count: 0
    trigger: eventbridge
    events_role_arn: arn:aws-us-gov:iam::123456789012:role/panda-events
    submodules: true
    dockerfile: ./docker//Dockerfile
    build_args:
      NODE_ENV: production
      _X: "1"
      N: 2
    target: app
    platform: linux/arm64
    build_secrets: [npm_token, GH.TOKEN]
  production:
    branch: main
    default: true
    region: ap-northeast-2
    state_machine_arn: arn:aws:states:ap-northeast-2:123456789012:stateMachine:sm
    cluster: c
    service: s
    task_family: f
    container_port: 443
  also-main:
    branch: main
    region: eu-west-1
    state_machine_arn: arn:aws:states:eu-west-1:123456789012:stateMachine:sm
    cluster: c
    service: s
    task_family: f
    container_port: 8080
`

func TestParseSeveralEnvironments(t *testing.T) {
	t.Parallel()
	cfg, err := repoconfig.Parse([]byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Names(), []string{"also-main", "production", "staging"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	var names []string
	for _, e := range cfg.ForBranch("main") {
		names = append(names, e.Name)
	}
	if want := []string{"also-main", "production"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ForBranch(main) = %v, want %v", names, want)
	}
	if got := cfg.ForBranch("nope"); len(got) != 0 {
		t.Errorf("ForBranch(nope) = %v", got)
	}
	if def, ok := cfg.Default(); !ok || def.Name != "production" {
		t.Errorf("Default = %v, %v; want production", def.Name, ok)
	}
	st, ok := cfg.Env("staging")
	if !ok {
		t.Fatal("Env(staging) not found")
	}
	if st.DesiredCount != 0 || st.Trigger != repoconfig.TriggerEventBridge || !st.Submodules ||
		st.Dockerfile != "docker/Dockerfile" || st.Default {
		t.Errorf("staging = %+v", st)
	}
	if st.Target != "app" || st.Platform != "linux/arm64" || !reflect.DeepEqual(st.BuildSecrets, []string{"npm_token", "GH.TOKEN"}) {
		t.Errorf("target, platform, secrets = %q, %q, %q", st.Target, st.Platform, st.BuildSecrets)
	}
	if want := map[string]string{"NODE_ENV": "production", "_X": "1", "N": "2"}; !reflect.DeepEqual(st.BuildArgs, want) {
		t.Errorf("BuildArgs = %v, want %v", st.BuildArgs, want)
	}
	// No desired_count: 0, which the state machine reads as "keep the
	// service's count" (it used to be 1, which scaled services down).
	if am, _ := cfg.Env("also-main"); am.DesiredCount != 0 || am.Trigger != repoconfig.TriggerStepFunctions {
		t.Errorf("defaults not applied: %+v", am)
	}
	if _, ok := cfg.Env("nope"); ok {
		t.Error("Env(nope) found")
	}
}

func TestParseNoDefaultAmongSeveral(t *testing.T) {
	t.Parallel()
	cfg, err := repoconfig.Parse([]byte(strings.Replace(two, "    default: true\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if def, ok := cfg.Default(); ok {
		t.Errorf("Default = %v, want none", def.Name)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		old  string // replaced in valid by new; "" means the whole file is new
		new  string
		want string
	}{
		{name: "port_zero", old: "container_port: 8080", new: "container_port: 0",
			want: ".panda.yml line 11: environments.production.container_port: must be a whole number from 1 to 65535"},
		{name: "port_too_big", old: "container_port: 8080", new: "container_port: 65536",
			want: ".panda.yml line 11: environments.production.container_port: must be a whole number from 1 to 65535"},
		{name: "port_string", old: "container_port: 8080", new: `container_port: "8080"`,
			want: ".panda.yml line 11: environments.production.container_port: must be a whole number from 1 to 65535"},
		{name: "port_float", old: "container_port: 8080", new: "container_port: 80.5",
			want: ".panda.yml line 11: environments.production.container_port: must be a whole number from 1 to 65535"},
		{name: "port_huge", old: "container_port: 8080", new: "container_port: 99999999999999999999999",
			want: ".panda.yml line 11: environments.production.container_port: must be a whole number from 1 to 65535"},
		{name: "desired_count_negative", old: "desired_count: 3", new: "desired_count: -1",
			want: ".panda.yml line 12: environments.production.desired_count: must be a whole number from 0 to 100"},
		{name: "desired_count_too_big", old: "desired_count: 3", new: "desired_count: 101",
			want: ".panda.yml line 12: environments.production.desired_count: must be a whole number from 0 to 100"},
		{name: "unknown_field_typo", old: "container_port: 8080", new: "container_port: 8080\n    contianer_port: 80",
			want: ".panda.yml line 12: environments.production.contianer_port: is not a known field (did you mean container_port?)"},
		{name: "unknown_field", old: "aws: prod", new: "aws: prod\n    replicas: 3",
			want: ".panda.yml line 6: environments.production.replicas: is not a known field (known: approval, aws, branch, build_args, build_secrets, cluster, container_port, default, desired_count, dockerfile, ecr_repository, events_role_arn, freeze, freeze_policy, health_check, platform, region, scan, service, state_machine_arn, submodules, target, task_family, trigger)"},
		{name: "unknown_top_level", old: "environments:", new: "enviroments:",
			want: ".panda.yml line 1: enviroments: is not a known field (did you mean environments?)"},
		{name: "duplicate_field", old: "aws: prod", new: "aws: prod\n    aws: dev",
			want: ".panda.yml line 6: environments.production.aws: is set twice"},
		{name: "bad_env_name", old: "  production:", new: "  Production:",
			want: ".panda.yml line 2: environments.Production: is not an environment name: use 1 to 63 lower-case letters, digits, - and _, starting with a letter or digit"},
		{name: "branch_option", old: "branch: main", new: "branch: --upload-pack=touch",
			want: `.panda.yml line 3: environments.production.branch: is not a branch name: it starts with "-"`},
		{name: "branch_dotdot", old: "branch: main", new: "branch: a..b",
			want: `.panda.yml line 3: environments.production.branch: is not a branch name: it contains ".."`},
		{name: "branch_list", old: "branch: main", new: "branch: [main, dev]",
			want: ".panda.yml line 3: environments.production.branch: must be a string, not a list"},
		{name: "branch_empty", old: "branch: main", new: "branch:",
			want: ".panda.yml line 3: environments.production.branch: must be a string, not empty"},
		{name: "region", old: "region: ap-northeast-2", new: "region: Seoul",
			want: ".panda.yml line 4: environments.production.region: is not an AWS region: it is not a region of any AWS partition (like eu-west-1, cn-north-1, us-gov-west-1)"},
		{name: "aws_connection", old: "aws: prod", new: "aws: prod connection",
			want: ".panda.yml line 5: environments.production.aws: is not a connection name: it contains ' '"},
		{name: "ecr_upper", old: "ecr_repository: mycompany-backend", new: "ecr_repository: MyCompany",
			want: ".panda.yml line 6: environments.production.ecr_repository: is not an ECR repository name: it must start with a lower-case letter"},
		{name: "ecr_double_slash", old: "ecr_repository: mycompany-backend", new: "ecr_repository: a//b",
			want: ".panda.yml line 6: environments.production.ecr_repository: is not an ECR repository name: it must be lower-case letters and digits, joined by single . _ - or /"},
		{name: "arn_not_states", old: "arn:aws:states:", new: "arn:aws:lambda:",
			want: `.panda.yml line 7: environments.production.state_machine_arn: is not a state machine ARN: it is an ARN of "lambda", not of states`},
		{name: "arn_short_account", old: ":123456789012:", new: ":12345:",
			want: ".panda.yml line 7: environments.production.state_machine_arn: is not a state machine ARN: the account must be 12 digits"},
		{name: "arn_made_up_partition", old: "arn:aws:states:", new: "arn:aws-foo:states:",
			want: `.panda.yml line 7: environments.production.state_machine_arn: is not a state machine ARN: "aws-foo" is not an AWS partition`},
		{name: "arn_partition_of_other_region", old: "arn:aws:states:", new: "arn:aws-cn:states:",
			want: ".panda.yml line 7: environments.production.state_machine_arn: is not a state machine ARN: region ap-northeast-2 is in partition aws, not aws-cn"},
		{name: "aws_connection_too_long_to_store", old: "aws: prod", new: "aws: " + strings.Repeat("p", 41),
			want: ".panda.yml line 5: environments.production.aws: is not a connection name: use at most 40 characters"},
		{name: "ecr_digit_first", old: "ecr_repository: mycompany-backend", new: "ecr_repository: 1company",
			want: ".panda.yml line 6: environments.production.ecr_repository: is not an ECR repository name: it must start with a lower-case letter"},
		{name: "events_role_other_partition", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    trigger: eventbridge\n    events_role_arn: arn:aws-cn:iam::123456789012:role/events",
			want: ".panda.yml line 15: environments.production.events_role_arn: is in partition aws-cn, but region ap-northeast-2 is in aws"},
		{name: "arn_other_region", old: "states:ap-northeast-2", new: "states:us-east-1",
			want: ".panda.yml line 7: environments.production.state_machine_arn: is in region us-east-1, but region is ap-northeast-2"},
		{name: "cluster_slash", old: "cluster: production-cluster", new: "cluster: prod/cluster",
			want: ".panda.yml line 8: environments.production.cluster: is not an ECS name: it must be 1 to 255 letters, digits, - and _"},
		{name: "service_long", old: "service: myapp-service", new: "service: " + strings.Repeat("s", 256),
			want: ".panda.yml line 9: environments.production.service: is not an ECS name: it must be 1 to 255 letters, digits, - and _"},
		{name: "task_family_space", old: "task_family: myapp-task", new: "task_family: 'my task'",
			want: ".panda.yml line 10: environments.production.task_family: is not an ECS name: it must be 1 to 255 letters, digits, - and _"},
		{name: "dockerfile_dotdot", old: "dockerfile: Dockerfile", new: "dockerfile: ../Dockerfile",
			want: `.panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must be a file inside the repository (no "..")`},
		{name: "dockerfile_dotdot_inside", old: "dockerfile: Dockerfile", new: "dockerfile: a/../Dockerfile",
			want: `.panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must be a file inside the repository (no "..")`},
		{name: "dockerfile_absolute", old: "dockerfile: Dockerfile", new: "dockerfile: /etc/passwd",
			want: ".panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must be relative to the repository root, not absolute"},
		{name: "dockerfile_dash", old: "dockerfile: Dockerfile", new: "dockerfile: -f",
			want: `.panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must not start with "-"`},
		{name: "dockerfile_nul", old: "dockerfile: Dockerfile", new: `dockerfile: "Docker\0file"`,
			want: ".panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must not contain NUL, line breaks or other control characters"},
		{name: "dockerfile_dot", old: "dockerfile: Dockerfile", new: "dockerfile: .",
			want: ".panda.yml line 13: environments.production.dockerfile: is not a Dockerfile path: it must name a file, not the repository root"},
		{name: "trigger", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    trigger: lambda",
			want: ".panda.yml line 14: environments.production.trigger: must be stepfunctions or eventbridge"},
		{name: "default_string", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    default: yes",
			want: `.panda.yml line 14: environments.production.default: must be true or false, not "yes"`},
		{name: "submodules_int", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    submodules: 1",
			want: `.panda.yml line 14: environments.production.submodules: must be true or false, not "1"`},
		{name: "platform", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    platform: linux/s390x",
			want: ".panda.yml line 14: environments.production.platform: must be linux/amd64 or linux/arm64"},
		{name: "target", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    target: 1-app",
			want: ".panda.yml line 14: environments.production.target: is not a stage name: letters, digits, ., - and _, starting with a letter"},
		{name: "build_secret_value", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_secrets:\n      - NPM: hunter2",
			want: ".panda.yml line 15: environments.production.build_secrets[0]: must be a secret name, not a mapping (values are never written in .panda.yml)"},
		{name: "build_secret_twice", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_secrets: [A, A]",
			want: ".panda.yml line 14: environments.production.build_secrets[1]: names A twice"},
		{name: "build_arg_key", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_args:\n      1BAD: x",
			want: ".panda.yml line 15: environments.production.build_args.1BAD: is not a valid build argument name (letters, digits and _, not starting with a digit)"},
		{name: "build_arg_key_dash", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_args:\n      A-B: x",
			want: ".panda.yml line 15: environments.production.build_args.A-B: is not a valid build argument name (letters, digits and _, not starting with a digit)"},
		{name: "build_arg_value_list", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_args:\n      A: [1]",
			want: ".panda.yml line 15: environments.production.build_args.A: must be a string, not a list"},
		{name: "build_args_list", old: "dockerfile: Dockerfile", new: "dockerfile: Dockerfile\n    build_args: [A]",
			want: ".panda.yml line 14: environments.production.build_args: must be a mapping of NAME: value, not a list"},
		{name: "missing_required", old: "    region: ap-northeast-2\n", new: "",
			want: ".panda.yml line 2: environments.production: is missing required settings: region"},
		{name: "missing_several", old: "    cluster: production-cluster\n    service: myapp-service\n", new: "",
			want: ".panda.yml line 2: environments.production: is missing required settings: cluster, service"},
		{name: "env_not_mapping", new: "environments:\n  production: yes\n",
			want: `.panda.yml line 2: environments.production: must be a mapping of settings, not "yes"`},
		{name: "environments_empty", new: "environments: {}\n",
			want: ".panda.yml line 1: environments: must map environment names to their settings"},
		{name: "environments_missing", new: "{}\n",
			want: ".panda.yml line 1: environments: is missing: name at least one environment"},
		{name: "not_a_mapping", new: "- a\n- b\n",
			want: ".panda.yml line 1: must be a mapping with an environments key"},
		{name: "empty_file", new: "",
			want: ".panda.yml: is empty: it must name at least one environment under environments"},
		{name: "comment_only", new: "# nothing\n",
			want: ".panda.yml: is empty: it must name at least one environment under environments"},
		{name: "syntax", new: "environments:\n  production:\n    cluster: a\n   service: b\n",
			// yaml.v3 reports the line where the enclosing mapping starts.
			want: ".panda.yml line 1: is not valid YAML: did not find expected key"},
		{name: "tab_indent", new: "environments:\n\tproduction: {}\n",
			want: ".panda.yml line 2: is not valid YAML: found character that cannot start any token"},
		{name: "two_documents", new: valid + "---\nenvironments: {}\n",
			want: ".panda.yml line 14: holds more than one YAML document (---); only one is allowed"},
		{name: "anchor", new: "environments:\n  a: &base\n    cluster: c\n",
			want: ".panda.yml line 2: uses YAML anchors or aliases (& * <<), which are not supported: write each value out"},
		{name: "merge", new: "environments:\n  a:\n    <<: {cluster: c}\n",
			want: ".panda.yml line 3: uses YAML anchors or aliases (& * <<), which are not supported: write each value out"},
		{name: "two_defaults", old: "", new: strings.Replace(two, "    branch: develop\n", "    branch: develop\n    default: true\n", 1),
			want: ".panda.yml line 23: environments.production.default: only one environment may be the default"},
		{name: "non_string_key", new: "environments:\n  production:\n    1: x\n",
			want: ".panda.yml line 3: environments.production: keys must be plain names"},
		{name: "too_big", new: "# " + strings.Repeat("x", repoconfig.MaxSize),
			want: ".panda.yml: is larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := tt.new
			if tt.old != "" {
				if !strings.Contains(valid, tt.old) {
					t.Fatalf("test bug: %q not in the valid file", tt.old)
				}
				data = strings.Replace(valid, tt.old, tt.new, 1)
			}
			_, err := repoconfig.Parse([]byte(data))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if got := pipeline.UserMessage(err, ""); got != tt.want {
				t.Errorf("message:\n got %s\nwant %s", got, tt.want)
			}
			if !pipeline.IsPermanent(err) {
				t.Error("error is not permanent")
			}
			var fe *repoconfig.FieldError
			if !errors.As(err, &fe) || !strings.Contains(tt.want, fe.Problem) {
				t.Errorf("FieldError = %+v", fe)
			}
		})
	}
}

// TestParseRefusesAliasBombQuickly feeds a "billion laughs" file: 10^9 nodes
// if aliases were expanded.
func TestParseRefusesAliasBombQuickly(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+", ", 10), ", "))
	}
	b.WriteString("environments: *a9\n")
	start := time.Now()
	_, err := repoconfig.Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "anchors or aliases") {
		t.Fatalf("Parse = %v, want anchors refused", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Parse took %v", d)
	}
}
