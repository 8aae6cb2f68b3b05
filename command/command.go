// Package command parses the first line of a pull-request comment as a Panda
// command: "/deploy" or "/deploy <environment>" to deploy, "/deploy cancel" or
// "/deploy cancel <environment>" to stop what is running.
//
// Parse is a pure function. The webhook intake queues every comment whose
// first line starts with /deploy followed by nothing, a space or a tab; the
// worker then parses it strictly here, so a line that was clearly meant for
// Panda but does not fit the grammar gets an answer saying how to write it,
// instead of a guess at what was meant.
package command

import (
	"fmt"
	"regexp"
	"strings"
)

// Usage is the grammar, as a reply quotes it.
const Usage = "`/deploy` (to the default environment), `/deploy <environment>`, or `/deploy cancel [<environment>]`"

// CancelWord after /deploy asks to cancel instead of deploying. It is
// reserved: an environment named "cancel" can be deployed by a push or the
// API, not by comment.
const CancelWord = "cancel"

// name is the .panda.yml rule for environment names.
var name = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Command is a /deploy line.
type Command struct {
	// Cancel asks to cancel the pull request's running deployments (to
	// Environment only, when it is set) instead of deploying.
	Cancel bool
	// Environment is the environment named, or "" for the default one (for
	// Cancel: every environment).
	Environment string
	// Problem, when not empty, says for a person why the line is not a valid
	// command (it was meant for Panda but does not fit the grammar). Nothing
	// may be deployed for a Command with a Problem.
	Problem string
}

// String returns the canonical form of a valid command.
func (c Command) String() string {
	out := "/deploy"
	if c.Cancel {
		out += " " + CancelWord
	}
	if c.Environment != "" {
		out += " " + c.Environment
	}
	return out
}

// Parse reads line, the first line of a comment. It returns false when the
// line is not addressed to Panda: it does not start with "/deploy" (in any
// case) followed by its end, a space or a tab ("/deployment", "please
// /deploy"). Otherwise it returns true and a Command, which carries a Problem
// when anything but one well-formed environment name follows the command
// ("/deploy prod please", "/deploy Prod", "/deploy prod!").
func Parse(line string) (Command, bool) {
	line = strings.TrimRight(line, " \t\r\n")
	const cmd = "/deploy"
	if len(line) < len(cmd) || !strings.EqualFold(line[:len(cmd)], cmd) {
		return Command{}, false
	}
	rest := line[len(cmd):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return Command{}, false
	}
	args := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' })
	var c Command
	if len(args) > 0 && strings.EqualFold(args[0], CancelWord) {
		c.Cancel, args = true, args[1:]
	}
	switch {
	case len(args) == 0:
		return c, true
	case len(args) > 1:
		return Command{Problem: fmt.Sprintf("Panda did not understand `%s`: write %s and nothing else on the first line.", quote(line), Usage)}, true
	}
	env := args[0]
	if name.MatchString(env) {
		c.Environment = env
		return c, true
	}
	msg := fmt.Sprintf("`%s` is not an environment name: names are lower-case letters, digits, `-` and `_` (at most 63).", quote(env))
	if lower := strings.ToLower(env); name.MatchString(lower) {
		msg += fmt.Sprintf(" Did you mean `/deploy %s`?", lower)
	}
	return Command{Problem: msg}, true
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
