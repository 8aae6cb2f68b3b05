package repoconfig_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/freeze"
	"github.com/pandadeploy/panda/repoconfig"
)

func withGates(extra string) string { return valid + extra }

func TestParseGates(t *testing.T) {
	t.Parallel()
	cfg, err := repoconfig.Parse([]byte(withGates(`    scan:
      fail_on: HIGH
      ignore: [CVE-2024-0001, GHSA-abcd-efgh-ijkl]
    freeze_policy: refuse
    freeze:
      - {start: "2024-12-24T00:00", end: "2024-12-27T00:00", timezone: Europe/Berlin, reason: Christmas}
      - cron: "0 18 * * FRI"
        duration: 62h
        timezone: Europe/Berlin
        reason: weekend
`)))
	if err != nil {
		t.Fatal(err)
	}
	env := cfg.Environments[0]
	if !reflect.DeepEqual(env.Scan, &repoconfig.Scan{FailOn: "HIGH", Ignore: []string{"CVE-2024-0001", "GHSA-abcd-efgh-ijkl"}}) {
		t.Errorf("Scan = %+v", env.Scan)
	}
	want := []freeze.Window{
		{Start: "2024-12-24T00:00", End: "2024-12-27T00:00", Timezone: "Europe/Berlin", Reason: "Christmas"},
		{Cron: "0 18 * * FRI", Duration: 62 * time.Hour, Timezone: "Europe/Berlin", Reason: "weekend"},
	}
	if !reflect.DeepEqual(env.Freeze, want) || env.FreezePolicy != repoconfig.FreezeRefuse {
		t.Errorf("Freeze = %+v, policy %q", env.Freeze, env.FreezePolicy)
	}
}

func TestParseGatesRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{name: "severity", extra: "    scan: {fail_on: LOW}\n", want: "line 14: environments.production.scan.fail_on: must be CRITICAL, HIGH or MEDIUM"},
		{name: "no_fail_on", extra: "    scan: {ignore: [CVE-2024-1]}\n", want: "line 14: environments.production.scan.fail_on: is missing"},
		{name: "bad_ignore", extra: "    scan:\n      fail_on: HIGH\n      ignore: [\"not an id\"]\n", want: "line 16: environments.production.scan.ignore: entries must be vulnerability ids"},
		{name: "scan_typo", extra: "    scan: {fail_on: HIGH, ignroe: []}\n", want: "line 14: environments.production.scan.ignroe: is not a known field (did you mean ignore?)"},
		{name: "window_end_before_start", extra: "    freeze:\n      - {start: \"2024-12-27T00:00:00Z\", end: \"2024-12-24T00:00:00Z\"}\n", want: "line 15: environments.production.freeze: end must be after start"},
		{name: "window_zone", extra: "    freeze:\n      - {cron: \"0 18 * * FRI\", duration: 62h, timezone: Berlin}\n", want: "line 15: environments.production.freeze: timezone \"Berlin\" is not an IANA time zone"},
		{name: "window_duration", extra: "    freeze:\n      - cron: \"0 18 * * FRI\"\n        duration: a weekend\n", want: "line 16: environments.production.freeze.duration: must be a duration"},
		{name: "window_field", extra: "    freeze:\n      - {from: x}\n", want: "line 15: environments.production.freeze.from: is not a known field"},
		{name: "policy", extra: "    freeze: [{start: \"2024-12-24T00:00:00Z\", end: \"2024-12-27T00:00:00Z\"}]\n    freeze_policy: block\n", want: "line 15: environments.production.freeze_policy: must be wait or refuse"},
		{name: "policy_alone", extra: "    freeze_policy: refuse\n", want: "line 14: environments.production.freeze_policy: needs freeze windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := repoconfig.Parse([]byte(withGates(tt.extra)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant %q", err, tt.want)
			}
		})
	}
}
