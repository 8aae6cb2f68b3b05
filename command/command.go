// Package command parses the first line of a pull-request comment as a Panda
// command: "/deploy" or "/deploy <environment>" to deploy, "/deploy cancel" or
// "/deploy cancel <environment>" to stop what is running, "/deploy approve"
// or "/deploy reject" (each with an optional environment) to answer a
// rollout waiting for approval.
//
// Parse is a pure function. The webhook intake queues every comment whose
// first line starts with /deploy followed by nothing, a space or a tab; the
// worker then parses it strictly here, so a line that was clearly meant for
// Panda but does not fit the grammar gets an answer saying how to write it,
// instead of a guess at what was meant.
package command

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pandadeploy/panda/names"
)

// Usage is the grammar, as a reply quotes it.
const Usage = "`/deploy` (to the default environment), `/deploy <environment>` (with `--force` to deploy through a freeze: repository admins only), `/deploy cancel [<environment>]`, or `/deploy approve|reject [<environment>]`"

// CancelWord after /deploy asks to cancel instead of deploying. It is
// reserved: an environment named "cancel" can be deployed by a push or the
// API, not by comment.
const CancelWord = "cancel"

// ApproveWord and RejectWord after /deploy answer a rollout waiting for
// approval (.panda.yml approval); reserved like CancelWord.
const (
	ApproveWord = "approve"
	RejectWord  = "reject"
)

// Command is a /deploy line.
type Command struct {
	// Cancel asks to cancel the pull request's running deployments (to
	// Environment only, when it is set) instead of deploying.
	Cancel bool
	// Approve and Reject answer the pull request's deployments waiting for
	// approval (to Environment only, when it is set); at most one of
	// Cancel, Approve and Reject is set.
	Approve bool
	Reject  bool
	// Environment is the environment named, or "" for the default one (for
	// Cancel: every environment).
	Environment string
	// Force asks to deploy through the environment's freeze windows
	// ("--force", before or after the environment). Only a repository admin
	// may; the caller checks.
	Force bool
	// Problem, when not empty, says for a person why the line is not a valid
	// command (it was meant for Panda but does not fit the grammar). Nothing
	// may be deployed for a Command with a Problem.
	Problem string
}

// String returns the canonical form of a valid command.
func (c Command) String() string {
	s := "/deploy"
	switch {
	case c.Cancel:
		s += " " + CancelWord
	case c.Approve:
		s += " " + ApproveWord
	case c.Reject:
		s += " " + RejectWord
	}
	if c.Environment != "" {
		s += " " + c.Environment
	}
	if c.Force {
		s += " --force"
	}
	return s
}

// Parse reads line, the first line of a comment. It returns false when the
// line is not addressed to Panda: it does not start with "/deploy" (in any
// case) followed by its end, a space or a tab ("/deployment", "please
// /deploy"). Otherwise it returns true and a Command, which carries a Problem
// when anything but one well-formed environment name follows the command
// ("/deploy prod please", "/deploy Prod", "/deploy prod!").
func Parse(line string) (Command, bool) {
	line = strings.TrimRight(line, " \t\r\n")
	if !IsDeploy(line) {
		return Command{}, false
	}
	rest := line[len(cmd):]
	args := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' })
	var c Command
	if i := slices.Index(args, forceFlag); i >= 0 {
		c.Force = true
		args = slices.Delete(args, i, i+1)
	}
	verb := ""
	if len(args) > 0 {
		switch w := strings.ToLower(args[0]); w {
		case CancelWord, ApproveWord, RejectWord:
			verb, args = w, args[1:]
		}
	}
	c.Cancel, c.Approve, c.Reject = verb == CancelWord, verb == ApproveWord, verb == RejectWord
	if verb != "" && c.Force {
		return Command{Problem: fmt.Sprintf("`--force` goes with a deployment, not with `/deploy %s`: it needs no force.", verb)}, true
	}
	switch {
	case len(args) == 0:
		return c, true
	case len(args) > 1:
		return Command{Problem: fmt.Sprintf("Panda did not understand `%s`: write %s and nothing else on the first line.", quote(line), Usage)}, true
	}
	env := args[0]
	if names.Environment(env) == nil {
		c.Environment = env
		return c, true
	}
	msg := fmt.Sprintf("`%s` is not an environment name: names are lower-case letters, digits, `-` and `_` (at most 63).", quote(env))
	if lower := strings.ToLower(env); names.Environment(lower) == nil {
		msg += fmt.Sprintf(" Did you mean `/deploy %s`?", lower)
	}
	return Command{Problem: msg}, true
}

// forceFlag breaks a freeze; exactly this spelling, once.
const forceFlag = "--force"

// cmd is the command word; any case is accepted ("/Deploy").
const cmd = "/deploy"

// IsDeploy reports whether line, the first line of a comment, is addressed to
// Panda: it starts with /deploy (in any case) followed by its end, a space or
// a tab, after trailing white space is removed. This is the one place that
// decides it: the webhook intake queues exactly the comments for which it is
// true, and Parse answers every one of them.
func IsDeploy(line string) bool {
	line = strings.TrimRight(line, " \t\r\n")
	if len(line) < len(cmd) || !strings.EqualFold(line[:len(cmd)], cmd) {
		return false
	}
	return len(line) == len(cmd) || line[len(cmd)] == ' ' || line[len(cmd)] == '\t'
}

// maxQuote bounds what a reply quotes of a user's line.
const maxQuote = 100

// quote makes s safe inside a markdown code span of a reply: no backticks
// (which would end the span), no control characters, bounded length.
func quote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '`' || r < 0x20 || r == 0x7f {
			return '\''
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxQuote {
		s = string(r[:maxQuote]) + "…"
	}
	return s
}
