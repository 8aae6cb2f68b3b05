package command_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pandadeploy/panda/command"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		line        string
		wantOK      bool
		wantEnv     string
		wantCancel  bool
		wantProblem string // a substring of the problem; "" means no problem
		wantForce   bool
		wantApprove bool
		wantReject  bool
	}{
		{name: "approve", line: "/deploy approve", wantOK: true, wantApprove: true},
		{name: "approve-environment", line: "/Deploy APPROVE production", wantOK: true, wantApprove: true, wantEnv: "production"},
		{name: "reject", line: "/deploy reject", wantOK: true, wantReject: true},
		{name: "reject-environment", line: "/deploy reject qa", wantOK: true, wantReject: true, wantEnv: "qa"},
		{name: "approve-force", line: "/deploy approve --force", wantOK: true, wantProblem: "not with `/deploy approve`"},
		{name: "approve-extra-words", line: "/deploy approve qa now", wantOK: true, wantProblem: "/deploy approve|reject [<environment>]"},
		{name: "approved-is-an-environment", line: "/deploy approved", wantOK: true, wantEnv: "approved"},
		{name: "cancel", line: "/deploy cancel", wantOK: true, wantCancel: true},
		{name: "cancel-any-case", line: "/Deploy Cancel ", wantOK: true, wantCancel: true},
		{name: "cancel-environment", line: "/deploy cancel qa", wantOK: true, wantCancel: true, wantEnv: "qa"},
		{name: "cancel-extra-words", line: "/deploy cancel qa now", wantOK: true, wantProblem: "/deploy cancel [<environment>]"},
		{name: "cancel-bad-environment", line: "/deploy cancel Qa!", wantOK: true, wantProblem: "not an environment name"},
		{name: "cancelled-is-an-environment", line: "/deploy cancelled", wantOK: true, wantEnv: "cancelled"},
		{name: "bare", line: "/deploy", wantOK: true},
		{name: "bare-trailing-space", line: "/deploy  \t\r", wantOK: true},
		{name: "upper-case-command", line: "/DEPLOY staging", wantOK: true, wantEnv: "staging"},
		{name: "mixed-case-command", line: "/Deploy production", wantOK: true, wantEnv: "production"},
		{name: "tab-separated", line: "/deploy\tqa-1", wantOK: true, wantEnv: "qa-1"},
		{name: "many-spaces", line: "/deploy    prod_eu  ", wantOK: true, wantEnv: "prod_eu"},
		{name: "digit-first", line: "/deploy 2nd", wantOK: true, wantEnv: "2nd"},
		{name: "longest-name", line: "/deploy " + strings.Repeat("a", 63), wantOK: true, wantEnv: strings.Repeat("a", 63)},
		{name: "too-long-name", line: "/deploy " + strings.Repeat("a", 64), wantOK: true, wantProblem: "not an environment name"},
		{name: "extra-words", line: "/deploy prod please", wantOK: true, wantProblem: "/deploy <environment>"},
		{name: "upper-case-env", line: "/deploy Production", wantOK: true, wantProblem: "Did you mean `/deploy production`?"},
		{name: "punctuation", line: "/deploy prod!", wantOK: true, wantProblem: "not an environment name"},
		{name: "leading-dash", line: "/deploy -prod", wantOK: true, wantProblem: "not an environment name"},
		{name: "force", line: "/deploy --force", wantOK: true, wantForce: true},
		{name: "force-after-env", line: "/deploy prod --force", wantOK: true, wantEnv: "prod", wantForce: true},
		{name: "force-before-env", line: "/deploy --force prod", wantOK: true, wantEnv: "prod", wantForce: true},
		{name: "force-twice", line: "/deploy --force --force", wantOK: true, wantProblem: "not an environment name"},
		{name: "force-misspelt", line: "/deploy --FORCE", wantOK: true, wantProblem: "not an environment name"},
		{name: "option-like", line: "/deploy --now", wantOK: true, wantProblem: "not an environment name"},
		{name: "path", line: "/deploy ../prod", wantOK: true, wantProblem: "not an environment name"},
		{name: "backtick-is-not-echoed-raw", line: "/deploy a`b", wantOK: true, wantProblem: "`a'b`"},
		{name: "longer-word", line: "/deployment", wantOK: false},
		{name: "word-before", line: "please /deploy", wantOK: false},
		{name: "leading-space", line: " /deploy", wantOK: false},
		{name: "no-slash", line: "deploy prod", wantOK: false},
		{name: "other-command", line: "/rollback", wantOK: false},
		{name: "nbsp-after-command", line: "/deploy\u00a0prod", wantOK: false},
		{name: "empty", line: "", wantOK: false},
		{name: "prefix-only", line: "/dep", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := command.Parse(tt.line)
			if ok != tt.wantOK {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.line, ok, tt.wantOK)
			}
			if got.Force != tt.wantForce {
				t.Errorf("Parse(%q).Force = %v, want %v", tt.line, got.Force, tt.wantForce)
			}
			if got.Approve != tt.wantApprove || got.Reject != tt.wantReject {
				t.Errorf("Parse(%q) Approve, Reject = %v, %v, want %v, %v", tt.line, got.Approve, got.Reject, tt.wantApprove, tt.wantReject)
			}
			if got.Cancel != tt.wantCancel {
				t.Errorf("Parse(%q).Cancel = %v, want %v", tt.line, got.Cancel, tt.wantCancel)
			}
			if got.Environment != tt.wantEnv {
				t.Errorf("Parse(%q).Environment = %q, want %q", tt.line, got.Environment, tt.wantEnv)
			}
			switch {
			case tt.wantProblem == "" && got.Problem != "":
				t.Errorf("Parse(%q).Problem = %q, want none", tt.line, got.Problem)
			case !strings.Contains(got.Problem, tt.wantProblem):
				t.Errorf("Parse(%q).Problem = %q, want it to contain %q", tt.line, got.Problem, tt.wantProblem)
			}
		})
	}
}

func TestProblemQuotesAreBounded(t *testing.T) {
	t.Parallel()
	c, ok := command.Parse("/deploy a " + strings.Repeat("x", 5000))
	if !ok || c.Problem == "" {
		t.Fatalf("Parse = %+v, %v; want a problem", c, ok)
	}
	if n := utf8.RuneCountInString(c.Problem); n > 400 {
		t.Errorf("problem is %d characters long; replies must quote a bounded part of the line", n)
	}
}

// FuzzParse checks the parser's invariants on any line; the seeds in
// testdata/fuzz/FuzzParse run with every go test.
func TestIsDeploy(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		"/deploy": true, "/DEPLOY": true, "/deploy prod": true, "/deploy\tprod": true, "/deploy  ": true,
		"/deployment": false, "please /deploy": false, " /deploy": false, "/deplo": false, "": false, "/deploy\u00a0prod": false,
	} {
		if got := command.IsDeploy(line); got != want {
			t.Errorf("IsDeploy(%q) = %v, want %v", line, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/deploy", "/deploy prod", "/deploy cancel", "/deploy CANCEL qa", "/DePloY staging  ", "/deploy prod please", "/deployx", "/deploy\t\tqa", "/deploy approve prod", "/deploy REJECT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, ok := command.Parse(line)
		// The webhook queues a comment when IsDeploy says so; Parse must then
		// answer it, and must not answer any other.
		if ok != command.IsDeploy(line) {
			t.Fatalf("Parse(%q) ok = %v, IsDeploy = %v", line, ok, !ok)
		}
		if !ok {
			if c != (command.Command{}) {
				t.Fatalf("Parse(%q) = %+v with ok false; want the zero Command", line, c)
			}
			return
		}
		if !strings.HasPrefix(strings.ToLower(line), "/deploy") {
			t.Fatalf("Parse(%q) accepted a line that does not start with /deploy", line)
		}
		if c.Problem != "" {
			if c.Environment != "" || c.Cancel || c.Approve || c.Reject {
				t.Fatalf("Parse(%q) = %+v: a command with a problem names no environment and cancels nothing", line, c)
			}
			if strings.ContainsAny(c.Problem, "\n\r") || utf8.RuneCountInString(c.Problem) > 400 {
				t.Fatalf("Parse(%q).Problem = %q: want one bounded line", line, c.Problem)
			}
			return
		}
		// A valid command reads back as itself from its canonical form.
		again, ok := command.Parse(c.String())
		if !ok || again != c {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", line, c, c.String(), again, ok)
		}
		for _, r := range c.Environment {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				t.Fatalf("Parse(%q) accepted environment %q", line, c.Environment)
			}
		}
	})
}
