package names_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/names"
)

// check adapts every validator to one shape for the table.
type check func(string) error

func dockerfile(s string) error { _, err := names.Dockerfile(s); return err }
func stateMachine(s string) error {
	_, err := names.StateMachineARN(s)
	return err
}
func execution(s string) error { _, err := names.ExecutionARN(s); return err }
func role(s string) error      { _, err := names.RoleARN(s); return err }

const sha1 = "0123456789abcdef0123456789abcdef01234567"

func TestNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check check
		value string
		// problem is a part of the error's text, or "" for a valid value.
		problem string
	}{
		// Environment.
		{name: "env_plain", check: names.Environment, value: "production"},
		{name: "env_digits_dash_underscore", check: names.Environment, value: "eu-1_blue"},
		{name: "env_63", check: names.Environment, value: strings.Repeat("a", 63)},
		{name: "env_64", check: names.Environment, value: strings.Repeat("a", 64), problem: "at most 63"},
		{name: "env_upper", check: names.Environment, value: "Prod", problem: "lower-case"},
		{name: "env_leading_dash", check: names.Environment, value: "-prod", problem: "starting with"},
		{name: "env_cyrillic_lookalike", check: names.Environment, value: "prоd", problem: "lower-case letters"},
		{name: "env_newline", check: names.Environment, value: "prod\nx", problem: "lower-case letters"},
		{name: "env_empty", check: names.Environment, value: "", problem: "empty"},
		{name: "env_dotdot", check: names.Environment, value: "..", problem: "starting with"},

		// Branch.
		{name: "branch_main", check: names.Branch, value: "main"},
		{name: "branch_nested", check: names.Branch, value: "feature/login-v2.1"},
		{name: "branch_cyrillic_is_a_real_branch", check: names.Branch, value: "mаin"},
		{name: "branch_at_inside", check: names.Branch, value: "a@b"},
		{name: "branch_japanese", check: names.Branch, value: "日本語"},
		{name: "branch_bracket", check: names.Branch, value: "a[b", problem: "contains"},
		{name: "branch_tilde", check: names.Branch, value: "a~1", problem: "contains"},
		{name: "branch_caret", check: names.Branch, value: "a^", problem: "contains"},
		{name: "branch_question", check: names.Branch, value: "a?", problem: "contains"},
		{name: "branch_hidden", check: names.Branch, value: ".hidden", problem: `starts with "."`},
		{name: "branch_lock_middle", check: names.Branch, value: "a/b.lock/c", problem: ".lock"},
		{name: "branch_upload_pack", check: names.Branch, value: "--upload-pack=touch /tmp/x", problem: `starts with "-"`},
		{name: "branch_dash", check: names.Branch, value: "-x", problem: `starts with "-"`},
		{name: "branch_dotdot", check: names.Branch, value: "a..b", problem: `".."`},
		{name: "branch_at_brace", check: names.Branch, value: "a@{1}", problem: `"@{"`},
		{name: "branch_at", check: names.Branch, value: "@", problem: "reserved"},
		{name: "branch_head", check: names.Branch, value: "HEAD", problem: "reserved"},
		{name: "branch_lock", check: names.Branch, value: "a/b.lock", problem: ".lock"},
		{name: "branch_dot_part", check: names.Branch, value: "a/.b", problem: `starts with "."`},
		{name: "branch_trailing_dot", check: names.Branch, value: "a.", problem: `ends with "."`},
		{name: "branch_double_slash", check: names.Branch, value: "a//b", problem: `"//"`},
		{name: "branch_trailing_slash", check: names.Branch, value: "a/", problem: `"/"`},
		{name: "branch_space", check: names.Branch, value: "a b", problem: "contains"},
		{name: "branch_colon", check: names.Branch, value: "a:b", problem: "contains"},
		{name: "branch_glob", check: names.Branch, value: "a*", problem: "contains"},
		{name: "branch_backslash", check: names.Branch, value: `a\b`, problem: "contains"},
		{name: "branch_nul", check: names.Branch, value: "a\x00b", problem: `\x00`},
		{name: "branch_newline", check: names.Branch, value: "a\nb", problem: `\n`},
		{name: "branch_del", check: names.Branch, value: "a\x7fb", problem: "contains"},
		{name: "branch_bidi_override", check: names.Branch, value: "main\u202e", problem: `\u202e`},
		{name: "branch_zero_width", check: names.Branch, value: "ma\u200bin", problem: `\u200b`},
		{name: "branch_invalid_utf8", check: names.Branch, value: "a\xffb", problem: "UTF-8"},
		{name: "branch_255", check: names.Branch, value: strings.Repeat("a", 255)},
		{name: "branch_256", check: names.Branch, value: strings.Repeat("a", 256), problem: "longer than 255"},
		{name: "branch_empty", check: names.Branch, value: "", problem: "empty"},

		// Ref.
		{name: "ref_heads", check: names.Ref, value: "refs/heads/main"},
		{name: "ref_tags", check: names.Ref, value: "refs/tags/v1.2.3"},
		{name: "ref_short", check: names.Ref, value: "main", problem: "refs/"},
		{name: "ref_bare", check: names.Ref, value: "refs/", problem: "refs/"},
		{name: "ref_dotdot", check: names.Ref, value: "refs/heads/../x", problem: `".."`},
		{name: "ref_option", check: names.Ref, value: "--upload-pack=x", problem: "refs/"},

		// SHA.
		{name: "sha_full", check: names.SHA, value: sha1},
		{name: "sha_upper", check: names.SHA, value: strings.ToUpper(sha1), problem: "contains"},
		{name: "sha_short", check: names.SHA, value: "0123456", problem: "has 7 characters"},
		{name: "sha_sha256_not_on_github", check: names.SHA, value: sha1 + "0123456789abcdef01234567", problem: "has 64 characters"},
		{name: "sha_revision_expression", check: names.SHA, value: "HEAD~1" + strings.Repeat("0", 34), problem: "contains"},
		{name: "sha_option", check: names.SHA, value: "--" + sha1[2:], problem: "contains"},

		// Owner, Repository, Repo.
		{name: "owner_plain", check: names.Owner, value: "octo-cat"},
		{name: "owner_39", check: names.Owner, value: strings.Repeat("a", 39)},
		{name: "owner_40", check: names.Owner, value: strings.Repeat("a", 40), problem: "longer than 39"},
		{name: "owner_legacy_trailing_dash", check: names.Owner, value: "legacy-"},
		{name: "owner_emu", check: names.Owner, value: "mona_acme"},
		{name: "owner_leading_dash", check: names.Owner, value: "-octo", problem: `starts with "-"`},
		{name: "owner_double_dash", check: names.Owner, value: "octo--cat", problem: `"--"`},
		{name: "owner_dot", check: names.Owner, value: "octo.cat", problem: "contains"},
		{name: "owner_cyrillic", check: names.Owner, value: "оcto", problem: "contains"},
		{name: "owner_two_underscores", check: names.Owner, value: "a_b_c", problem: "contains"},
		{name: "repo_name_dotgithub", check: names.Repository, value: ".github"},
		{name: "repo_name_dots_inside", check: names.Repository, value: "a..b"},
		{name: "repo_name_100", check: names.Repository, value: strings.Repeat("r", 100)},
		{name: "repo_name_101", check: names.Repository, value: strings.Repeat("r", 101), problem: "longer than 100"},
		{name: "repo_name_dot", check: names.Repository, value: ".", problem: "reserved"},
		{name: "repo_name_dotdot", check: names.Repository, value: "..", problem: "reserved"},
		{name: "repo_name_dash", check: names.Repository, value: "--upload-pack=x", problem: `starts with "-"`},
		{name: "repo_name_slash", check: names.Repository, value: "a/b", problem: "contains"},
		{name: "repo_name_space", check: names.Repository, value: "a b", problem: "contains"},
		{name: "repo_full", check: names.Repo, value: "octo-cat/hello.world"},
		{name: "repo_full_no_slash", check: names.Repo, value: "octocat", problem: `no "/"`},
		{name: "repo_full_extra_slash", check: names.Repo, value: "a/b/c", problem: "contains"},
		{name: "repo_full_traversal", check: names.Repo, value: "octo/..", problem: "reserved"},
		{name: "repo_full_encoded_slash", check: names.Repo, value: "octo/a%2fb", problem: "contains"},
		{name: "repo_full_empty_name", check: names.Repo, value: "octo/", problem: "empty"},
		{name: "repo_full_empty_owner", check: names.Repo, value: "/app", problem: "empty"},
		{name: "repo_full_dot_owner", check: names.Repo, value: ".x/app", problem: "contains"},
		{name: "repo_full_nul", check: names.Repo, value: "octo/a\x00", problem: `\x00`},

		// Delivery id.
		{name: "delivery_guid", check: names.DeliveryID, value: "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{name: "delivery_redis_glob", check: names.DeliveryID, value: "a*", problem: "contains"},
		{name: "delivery_key_separator", check: names.DeliveryID, value: "a:b", problem: "contains"},
		{name: "delivery_65", check: names.DeliveryID, value: strings.Repeat("d", 65), problem: "1 to 64"},

		// Region.
		{name: "region_commercial", check: names.Region, value: "ap-northeast-2"},
		{name: "region_newest", check: names.Region, value: "ap-southeast-7"},
		{name: "region_mexico", check: names.Region, value: "mx-central-1"},
		{name: "region_gov", check: names.Region, value: "us-gov-west-1"},
		{name: "region_china", check: names.Region, value: "cn-north-1"},
		{name: "region_china_northwest", check: names.Region, value: "cn-northwest-1"},
		{name: "region_iso", check: names.Region, value: "us-iso-east-1"},
		{name: "region_isob", check: names.Region, value: "us-isob-east-1"},
		{name: "region_isoe", check: names.Region, value: "eu-isoe-west-1"},
		{name: "region_isof", check: names.Region, value: "us-isof-south-1"},
		{name: "region_eusc", check: names.Region, value: "eusc-de-east-1"},
		{name: "region_upper", check: names.Region, value: "US-EAST-1", problem: "any AWS partition"},
		{name: "region_made_up_prefix", check: names.Region, value: "zz-east-1", problem: "any AWS partition"},
		{name: "region_no_number", check: names.Region, value: "us-east", problem: "any AWS partition"},
		{name: "region_global", check: names.Region, value: "aws-global", problem: "any AWS partition"},
		{name: "region_cyrillic", check: names.Region, value: "us-еast-1", problem: "any AWS partition"},
		{name: "region_newline", check: names.Region, value: "us-east-1\n", problem: "any AWS partition"},

		// Connection.
		{name: "conn_plain", check: names.Connection, value: "prod"},
		{name: "conn_dots", check: names.Connection, value: "Prod.eu_1-a"},
		{name: "conn_40", check: names.Connection, value: strings.Repeat("c", 40)},
		{name: "conn_41", check: names.Connection, value: strings.Repeat("c", 41), problem: "at most 40"},
		{name: "conn_leading_dot", check: names.Connection, value: ".prod", problem: "start with"},
		{name: "conn_slash", check: names.Connection, value: "a/b", problem: "contains"},
		{name: "conn_redis_glob", check: names.Connection, value: "a*", problem: "contains"},

		// ECR repository.
		{name: "ecr_plain", check: names.ECRRepository, value: "mycompany-backend"},
		{name: "ecr_namespace", check: names.ECRRepository, value: "project-a/nginx.web_app"},
		{name: "ecr_digit_first", check: names.ECRRepository, value: "1password-app", problem: "start with a lower-case letter"},
		{name: "ecr_upper", check: names.ECRRepository, value: "MyApp", problem: "start with a lower-case letter"},
		{name: "ecr_double_separator", check: names.ECRRepository, value: "a--b", problem: "single"},
		{name: "ecr_trailing_slash", check: names.ECRRepository, value: "ab/", problem: "single"},
		{name: "ecr_one_char", check: names.ECRRepository, value: "a", problem: "2 to 256"},
		{name: "ecr_257", check: names.ECRRepository, value: strings.Repeat("a", 257), problem: "2 to 256"},
		{name: "ecr_dotdot", check: names.ECRRepository, value: "a/../b", problem: "single"},

		// Image tag.
		{name: "tag_sha", check: names.ImageTag, value: sha1},
		{name: "tag_human", check: names.ImageTag, value: "octo-hello-main-20260101120000"},
		{name: "tag_leading_dot", check: names.ImageTag, value: ".x", problem: "start with"},
		{name: "tag_129", check: names.ImageTag, value: strings.Repeat("t", 129), problem: "1 to 128"},
		{name: "tag_colon", check: names.ImageTag, value: "a:b", problem: "contains"},

		// ECS.
		{name: "ecs_name", check: names.ECSName, value: "myapp-service_2"},
		{name: "ecs_name_dot", check: names.ECSName, value: "my.app", problem: "1 to 255"},
		{name: "ecs_name_256", check: names.ECSName, value: strings.Repeat("e", 256), problem: "1 to 255"},
		{name: "ecs_cluster_name", check: names.ECSCluster, value: "production"},
		{name: "ecs_cluster_arn", check: names.ECSCluster, value: "arn:aws:ecs:eu-west-1:123456789012:cluster/production"},
		{name: "ecs_cluster_arn_cn", check: names.ECSCluster, value: "arn:aws-cn:ecs:cn-north-1:123456789012:cluster/p"},
		{name: "ecs_cluster_arn_service", check: names.ECSCluster, value: "arn:aws:ecs:eu-west-1:123456789012:service/p/s", problem: "cluster/NAME"},
		{name: "ecs_cluster_made_up_partition", check: names.ECSCluster, value: "arn:aws-foo:ecs:eu-west-1:123456789012:cluster/p", problem: "not an AWS partition"},
		{name: "ecs_service_arn_new", check: names.ECSService, value: "arn:aws:ecs:eu-west-1:123456789012:service/prod/web"},
		{name: "ecs_service_arn_old", check: names.ECSService, value: "arn:aws:ecs:eu-west-1:123456789012:service/web"},
		{name: "ecs_service_arn_deep", check: names.ECSService, value: "arn:aws:ecs:eu-west-1:123456789012:service/a/b/c", problem: "CLUSTER/NAME"},
		{name: "ecs_service_slash_name", check: names.ECSService, value: "a/b", problem: "1 to 255"},

		// State machine ARN.
		{name: "sm_plain", check: stateMachine, value: "arn:aws:states:ap-northeast-2:123456789012:stateMachine:panda-bluegreen"},
		{name: "sm_version", check: stateMachine, value: "arn:aws:states:eu-west-1:123456789012:stateMachine:m:10"},
		{name: "sm_alias", check: stateMachine, value: "arn:aws:states:eu-west-1:123456789012:stateMachine:m:prod"},
		{name: "sm_gov", check: stateMachine, value: "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m"},
		{name: "sm_china", check: stateMachine, value: "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m"},
		{name: "sm_iso_b", check: stateMachine, value: "arn:aws-iso-b:states:us-isob-east-1:123456789012:stateMachine:m"},
		{name: "sm_eusc", check: stateMachine, value: "arn:aws-eusc:states:eusc-de-east-1:123456789012:stateMachine:m"},
		{name: "sm_made_up_partition", check: stateMachine, value: "arn:aws-foo:states:us-east-1:123456789012:stateMachine:m", problem: `"aws-foo" is not an AWS partition`},
		{name: "sm_partition_region_mismatch", check: stateMachine, value: "arn:aws-cn:states:us-east-1:123456789012:stateMachine:m", problem: "in partition aws, not aws-cn"},
		{name: "sm_gov_region_in_commercial", check: stateMachine, value: "arn:aws:states:us-gov-west-1:123456789012:stateMachine:m", problem: "in partition aws-us-gov, not aws"},
		{name: "sm_short_account", check: stateMachine, value: "arn:aws:states:us-east-1:123:stateMachine:x", problem: "12 digits"},
		{name: "sm_no_region", check: stateMachine, value: "arn:aws:states::123456789012:stateMachine:x", problem: "not an AWS region"},
		{name: "sm_wrong_service", check: stateMachine, value: "arn:aws:lambda:us-east-1:123456789012:function:x", problem: `"lambda"`},
		{name: "sm_execution", check: stateMachine, value: "arn:aws:states:us-east-1:123456789012:execution:m:e", problem: "stateMachine:NAME"},
		{name: "sm_81", check: stateMachine, value: "arn:aws:states:us-east-1:123456789012:stateMachine:" + strings.Repeat("m", 81), problem: "longer than 80"},
		{name: "sm_markdown", check: stateMachine, value: "arn:aws:states:us-east-1:123456789012:stateMachine:m)[x](y", problem: "contains"},
		{name: "sm_qualifier_empty", check: stateMachine, value: "arn:aws:states:us-east-1:123456789012:stateMachine:m:", problem: "empty"},
		{name: "sm_too_many_parts", check: stateMachine, value: "arn:aws:states:us-east-1:123456789012:stateMachine:m:1:2", problem: "contains"},
		{name: "sm_not_arn", check: stateMachine, value: "panda-bluegreen", problem: "arn:PARTITION"},

		// Execution ARN.
		{name: "exec_plain", check: execution, value: "arn:aws:states:eu-west-1:123456789012:execution:m:dep_abc123XYZ0"},
		{name: "exec_no_name", check: execution, value: "arn:aws:states:eu-west-1:123456789012:execution:m", problem: "execution:STATEMACHINE:NAME"},
		{name: "exec_fragment_breakout", check: execution, value: "arn:aws:states:eu-west-1:123456789012:execution:m:a#<script>", problem: "contains"},

		// Role ARN.
		{name: "role_plain", check: role, value: "arn:aws:iam::123456789012:role/panda"},
		{name: "role_path", check: role, value: "arn:aws:iam::123456789012:role/service-role/panda+deploy@x"},
		{name: "role_gov", check: role, value: "arn:aws-us-gov:iam::123456789012:role/panda"},
		{name: "role_made_up_partition", check: role, value: "arn:aws-foo:iam::123456789012:role/panda", problem: "not an AWS partition"},
		{name: "role_with_region", check: role, value: "arn:aws:iam:us-east-1:123456789012:role/panda", problem: "no region"},
		{name: "role_user", check: role, value: "arn:aws:iam::123456789012:user/panda", problem: "role/NAME"},
		{name: "role_name_65", check: role, value: "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65), problem: "1 to 64"},
		{name: "role_glob", check: role, value: "arn:aws:iam::123456789012:role/*", problem: "contains"},
		{name: "role_short_account", check: role, value: "arn:aws:iam::12345:role/panda", problem: "12 digits"},

		// Dockerfile path.
		{name: "df_root", check: dockerfile, value: "Dockerfile"},
		{name: "df_dot_slash", check: dockerfile, value: "./docker/Dockerfile"},
		{name: "df_dotdot", check: dockerfile, value: "../Dockerfile", problem: `no ".."`},
		{name: "df_dotdot_inside", check: dockerfile, value: "a/../../etc/passwd", problem: `no ".."`},
		{name: "df_dotdot_that_cleans_inside", check: dockerfile, value: "a/../Dockerfile", problem: `no ".."`},
		{name: "df_absolute", check: dockerfile, value: "/etc/passwd", problem: "absolute"},
		{name: "df_option", check: dockerfile, value: "--output=/tmp", problem: `start with "-"`},
		{name: "df_option_after_clean", check: dockerfile, value: "./-f", problem: `start with "-"`},
		{name: "df_nul", check: dockerfile, value: "Docker\x00file", problem: "NUL"},
		{name: "df_newline", check: dockerfile, value: "Dockerfile\n", problem: "NUL"},
		{name: "df_dir_itself", check: dockerfile, value: "./", problem: "not the repository root"},
		{name: "df_overlong", check: dockerfile, value: strings.Repeat("a/", 2049), problem: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.check(tt.value)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("refused a valid value: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q", tt.value)
			}
			var ne *names.Error
			if !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *names.Error", err)
			}
			if !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %q does not say %q", err, tt.problem)
			}
			if strings.ContainsAny(err.Error(), "\x00\n\r\u202e\u200b") {
				t.Errorf("error %q repeats a control character raw", err)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long; it must stay short", len(err.Error()))
			}
		})
	}
}

func TestDockerfileCleans(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"./docker/Dockerfile": "docker/Dockerfile",
		"docker//Dockerfile":  "docker/Dockerfile",
		"a/./b/":              "a/b",
	} {
		got, err := names.Dockerfile(in)
		if err != nil || got != want {
			t.Errorf("Dockerfile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestStateMachineARNParts(t *testing.T) {
	t.Parallel()
	const s = "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m:prod"
	a, err := names.StateMachineARN(s)
	if err != nil {
		t.Fatal(err)
	}
	want := names.ARN{Partition: "aws-us-gov", Service: "states", Region: "us-gov-west-1", Account: "123456789012", Resource: "stateMachine:m:prod"}
	if a != want || a.String() != s {
		t.Errorf("StateMachineARN = %+v (%s), want %+v", a, a, want)
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"eu-west-1": "aws", "cn-northwest-1": "aws-cn", "us-gov-east-1": "aws-us-gov",
		"us-iso-west-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "eu-isoe-west-1": "aws-iso-e",
		"us-isof-east-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc",
	} {
		if got, ok := names.Partition(region); !ok || got != want {
			t.Errorf("Partition(%s) = %s, %v; want %s", region, got, ok, want)
		}
	}
}

func TestErrorQuotesBoundedValue(t *testing.T) {
	t.Parallel()
	err := names.Branch(strings.Repeat("é", 300))
	var ne *names.Error
	if !errors.As(err, &ne) {
		t.Fatalf("Branch = %v, want a *names.Error", err)
	}
	if !strings.HasPrefix(err.Error(), `"\u00e9`) || !strings.Contains(err.Error(), "…") || len(err.Error()) > 400 {
		t.Errorf("error %q does not quote a short, escaped prefix", err)
	}
	if ne.Short() != "is not a branch name: it is longer than 255 bytes" {
		t.Errorf("Short() = %q", ne.Short())
	}
}
