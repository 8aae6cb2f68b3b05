package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// The evaluated walk: an execution whose Outcome has Evaluate runs its
// definition as Step Functions does (Amazon States Language specification;
// Step Functions developer guide, "Transforming data with JSONata", "Passing
// data between states with variables", "Handling errors in Step Functions"),
// in a goroutine, appending history events as they happen:
//   - JSONata in Arguments, Output, Assign, Condition, Seconds, Error and Cause
//     is evaluated by the reference implementation with $states (input,
//     result, errorOutput, context) and the assigned variables bound;
//   - aws-sdk:ecs and aws-sdk:elasticloadbalancingv2 tasks call the server's
//     ECS and ELB models;
//   - Choice takes the first rule whose Condition is true, else Default;
//   - Wait, Retry intervals and TimeoutSeconds run on the server's time scale;
//   - Retry (ErrorEquals, IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0,
//     MaxDelaySeconds, JitterStrategy) and Catch as specified, States.Runtime
//     neither retried nor caught.

type liveDefinition struct {
	StartAt        string               `json:"StartAt"`
	TimeoutSeconds float64              `json:"TimeoutSeconds"`
	States         map[string]liveState `json:"States"`
}

type liveState struct {
	Type      string          `json:"Type"`
	Next      string          `json:"Next"`
	End       bool            `json:"End"`
	Default   string          `json:"Default"`
	Resource  string          `json:"Resource"`
	Arguments json.RawMessage `json:"Arguments"`
	Output    json.RawMessage `json:"Output"`
	Assign    json.RawMessage `json:"Assign"`
	Seconds   json.RawMessage `json:"Seconds"`
	Choices   []liveRule      `json:"Choices"`
	Retry     []liveRetrier   `json:"Retry"`
	Catch     []liveCatcher   `json:"Catch"`
	Error     json.RawMessage `json:"Error"`
	Cause     json.RawMessage `json:"Cause"`
}

type liveRule struct {
	Condition json.RawMessage `json:"Condition"`
	Next      string          `json:"Next"`
	Assign    json.RawMessage `json:"Assign"`
	Output    json.RawMessage `json:"Output"`
}

type liveRetrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds *float64 `json:"IntervalSeconds"`
	MaxAttempts     *int     `json:"MaxAttempts"`
	BackoffRate     *float64 `json:"BackoffRate"`
	MaxDelaySeconds *float64 `json:"MaxDelaySeconds"`
	JitterStrategy  string   `json:"JitterStrategy"`
}

type liveCatcher struct {
	ErrorEquals []string        `json:"ErrorEquals"`
	Next        string          `json:"Next"`
	Assign      json.RawMessage `json:"Assign"`
	Output      json.RawMessage `json:"Output"`
}

// matchesError applies ErrorEquals: States.ALL matches every error but
// States.Runtime; States.TaskFailed every error but States.Timeout and
// States.Runtime; otherwise names match exactly. Step Functions developer
// guide, "Handling errors in Step Functions", Error names: States.TaskFailed
// "matches any known error name except for States.Timeout"; States.Runtime
// "isn't retriable, and will always cause the execution to fail. A retry or
// catch on States.ALL won't catch States.Runtime errors."
func matchesError(list []string, name string) bool {
	if name == "States.Runtime" {
		return false
	}
	for _, e := range list {
		if e == name || e == "States.ALL" || (e == "States.TaskFailed" && name != "States.Timeout") {
			return true
		}
	}
	return false
}

// liveRun is one evaluated execution.
type liveRun struct {
	s     *Server
	e     *execution
	def   liveDefinition
	eval  *evaluator
	vars  map[string]any
	input any
	start time.Time
	ctx   context.Context
}

// errAborted ends a walk whose execution was stopped.
var errAborted = errors.New("execution aborted")

// startLive starts walking an evaluated execution in a goroutine.
func (s *Server) startLive(m *stateMachine, e *execution) error {
	if s.eval == nil {
		return errJSONataMissing
	}
	var def liveDefinition
	if err := json.Unmarshal([]byte(m.definition), &def); err != nil {
		return fmt.Errorf("parse definition: %w", err)
	}
	var input any
	_ = json.Unmarshal([]byte(e.input), &input)
	r := &liveRun{s: s, e: e, def: def, eval: s.eval, vars: map[string]any{}, input: input, start: e.start, ctx: s.runCtx}
	e.live = r
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		r.run(m.roleARN)
	}()
	return nil
}

// emit appends a history event now; errAborted once the execution was stopped.
func (r *liveRun) emit(typ, key string, details map[string]any) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if st, _ := r.e.state(time.Now()); st != "RUNNING" && len(r.e.events) > 0 {
		return errAborted
	}
	id := int64(len(r.e.events) + 1)
	r.e.events = append(r.e.events, histEvent{id: id, typ: typ, at: time.Now(), key: key, details: details})
	return nil
}

// virtual is the execution's virtual age.
func (r *liveRun) virtual() float64 { return time.Since(r.start).Seconds() * r.s.timeScale }

// sleep waits virtual seconds; false if the execution timed out meanwhile
// or the server is closing.
func (r *liveRun) sleep(secs float64) bool {
	timedOut := false
	if r.def.TimeoutSeconds > 0 && r.virtual()+secs > r.def.TimeoutSeconds {
		secs, timedOut = math.Max(0, r.def.TimeoutSeconds-r.virtual()), true
	}
	t := time.NewTimer(time.Duration(secs / r.s.timeScale * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return !timedOut
	case <-r.ctx.Done():
		return false
	}
}

func (r *liveRun) run(roleARN string) {
	if r.emit("ExecutionStarted", "executionStartedEventDetails", map[string]any{
		"input": r.e.input, "inputDetails": map[string]bool{"truncated": false}, "roleArn": roleARN,
	}) != nil {
		return
	}
	name := r.def.StartAt
	for range maxTransitions * 10 {
		if r.def.TimeoutSeconds > 0 && r.virtual() > r.def.TimeoutSeconds {
			_ = r.emit("ExecutionTimedOut", "executionTimedOutEventDetails", map[string]any{"error": "States.Timeout", "cause": "The execution timed out."})
			return
		}
		st, ok := r.def.States[name]
		if !ok {
			r.failExecution("States.Runtime", fmt.Sprintf("The state %q does not exist", name))
			return
		}
		next, done, err := r.state(name, st)
		if err != nil || done {
			return
		}
		name = next
	}
	r.failExecution("States.Runtime", "The execution exceeded the number of state transitions")
}

func (r *liveRun) failExecution(errName, cause string) {
	_ = r.emit("ExecutionFailed", "executionFailedEventDetails", map[string]any{"error": errName, "cause": cause})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// bindings are the variables a JSONata expression sees.
func (r *liveRun) bindings(name string, states map[string]any) map[string]any {
	b := make(map[string]any, len(r.vars)+1)
	for k, v := range r.vars {
		b[k] = v
	}
	states["context"] = map[string]any{
		"Execution":    map[string]any{"Id": r.e.arn, "Name": r.e.name, "StartTime": r.start.UTC().Format(time.RFC3339Nano), "Input": r.input},
		"StateMachine": map[string]any{"Id": r.e.machineARN},
		"State":        map[string]any{"Name": name},
	}
	b["states"] = states
	return b
}

// evalField evaluates a field written as JSON with "{% … %}" strings at any
// depth. A result that is undefined is a States.QueryEvaluationError: the
// stricter reading of the developer guide, which lists undefined results
// among the causes of that error.
func (r *liveRun) evalField(raw json.RawMessage, b map[string]any) (any, *taskError) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &taskError{"States.Runtime", "invalid field: " + err.Error()}
	}
	return r.evalValue(v, b)
}

func (r *liveRun) evalValue(v any, b map[string]any) (any, *taskError) {
	switch x := v.(type) {
	case string:
		expr, ok := strings.CutPrefix(strings.TrimSpace(x), "{%")
		if !ok || !strings.HasSuffix(expr, "%}") {
			return x, nil
		}
		expr = strings.TrimSuffix(expr, "%}")
		out, defined, err := r.eval.eval(expr, b)
		if err != nil {
			return nil, &taskError{"States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' failed: %v", strings.TrimSpace(expr), err)}
		}
		if !defined {
			return nil, &taskError{"States.QueryEvaluationError", fmt.Sprintf("The JSONata expression '%s' returned nothing (undefined).", strings.TrimSpace(expr))}
		}
		var val any
		_ = json.Unmarshal(out, &val)
		return val, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, terr := r.evalValue(e, b)
			if terr != nil {
				return nil, terr
			}
			out[k] = ev
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, terr := r.evalValue(e, b)
			if terr != nil {
				return nil, terr
			}
			out[i] = ev
		}
		return out, nil
	}
	return v, nil
}

// assignAndOutput evaluates Assign and Output against the same variables
// (assignments are visible only from the next state on) and applies Assign.
// Without Output the state's output is def.
func (r *liveRun) assignAndOutput(assign, output json.RawMessage, b map[string]any, def any) (any, *taskError) {
	var assigned map[string]any
	if len(assign) > 0 {
		v, terr := r.evalField(assign, b)
		if terr != nil {
			return nil, terr
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &taskError{"States.Runtime", "Assign is not an object"}
		}
		assigned = m
	}
	out := def
	if len(output) > 0 {
		v, terr := r.evalField(output, b)
		if terr != nil {
			return nil, terr
		}
		out = v
	}
	for k, v := range assigned {
		r.vars[k] = v
	}
	return out, nil
}

// state runs one state; it returns the next state, or done when the execution ended.
func (r *liveRun) state(name string, st liveState) (next string, done bool, err error) {
	prefix := stateTypePrefix(st.Type)
	if err := r.emit(prefix+"StateEntered", "stateEnteredEventDetails", map[string]any{
		"name": name, "input": mustJSON(r.input), "inputDetails": map[string]bool{"truncated": false},
	}); err != nil {
		return "", true, err
	}
	var out any
	var terr *taskError
	switch st.Type {
	case "Task":
		return r.task(name, st)
	case "Choice":
		next, out, terr = r.choose(name, st)
	case "Wait":
		next, out, terr = r.wait(name, st)
		if terr != nil && terr.name == "States.Timeout" {
			_ = r.emit("ExecutionTimedOut", "executionTimedOutEventDetails", map[string]any{"error": "States.Timeout", "cause": "The execution timed out."})
			return "", true, nil
		}
	case "Pass":
		next = st.Next
		out, terr = r.assignAndOutput(st.Assign, st.Output, r.bindings(name, map[string]any{"input": r.input}), r.input)
	case "Succeed":
		out, terr = r.assignAndOutput(nil, st.Output, r.bindings(name, map[string]any{"input": r.input}), r.input)
		if terr == nil {
			if r.emit("SucceedStateExited", "stateExitedEventDetails", map[string]any{"name": name, "output": mustJSON(out), "outputDetails": map[string]bool{"truncated": false}}) != nil {
				return "", true, errAborted
			}
			_ = r.emit("ExecutionSucceeded", "executionSucceededEventDetails", map[string]any{"output": mustJSON(out), "outputDetails": map[string]bool{"truncated": false}})
			return "", true, nil
		}
	case "Fail":
		b := r.bindings(name, map[string]any{"input": r.input})
		errName, cause := "States.Failed", ""
		if len(st.Error) > 0 {
			v, terr := r.evalField(st.Error, b)
			if terr != nil {
				r.failExecution(terr.name, terr.cause)
				return "", true, nil
			}
			errName = fmt.Sprint(v)
		}
		if len(st.Cause) > 0 {
			v, terr := r.evalField(st.Cause, b)
			if terr != nil {
				r.failExecution(terr.name, terr.cause)
				return "", true, nil
			}
			cause = fmt.Sprint(v)
		}
		r.failExecution(errName, cause)
		return "", true, nil
	default:
		r.failExecution("States.Runtime", "awstest does not evaluate "+st.Type+" states")
		return "", true, nil
	}
	if terr != nil {
		// Choice, Wait and Pass have no Catch: the execution fails.
		r.failExecution(terr.name, terr.cause)
		return "", true, nil
	}
	r.input = out
	if err := r.emit(prefix+"StateExited", "stateExitedEventDetails", map[string]any{"name": name, "output": mustJSON(out), "outputDetails": map[string]bool{"truncated": false}}); err != nil {
		return "", true, err
	}
	if st.End && next == "" {
		_ = r.emit("ExecutionSucceeded", "executionSucceededEventDetails", map[string]any{"output": mustJSON(out), "outputDetails": map[string]bool{"truncated": false}})
		return "", true, nil
	}
	return next, false, nil
}

func (r *liveRun) choose(name string, st liveState) (string, any, *taskError) {
	b := r.bindings(name, map[string]any{"input": r.input})
	for _, rule := range st.Choices {
		v, terr := r.evalField(rule.Condition, b)
		if terr != nil {
			return "", nil, terr
		}
		ok, isBool := v.(bool)
		if !isBool {
			return "", nil, &taskError{"States.QueryEvaluationError", "The Condition of a Choice rule in " + name + " did not evaluate to a boolean."}
		}
		if ok {
			out, terr := r.assignAndOutput(rule.Assign, rule.Output, b, r.input)
			return rule.Next, out, terr
		}
	}
	if st.Default == "" {
		return "", nil, &taskError{"States.NoChoiceMatched", "No Choice rule matched in " + name + " and it has no Default."}
	}
	out, terr := r.assignAndOutput(st.Assign, st.Output, b, r.input)
	return st.Default, out, terr
}

func (r *liveRun) wait(name string, st liveState) (string, any, *taskError) {
	b := r.bindings(name, map[string]any{"input": r.input})
	v, terr := r.evalField(st.Seconds, b)
	if terr != nil {
		return "", nil, terr
	}
	secs, ok := v.(float64)
	if !ok || secs < 0 {
		return "", nil, &taskError{"States.QueryEvaluationError", "Seconds of " + name + " is not a non-negative number."}
	}
	out, terr := r.assignAndOutput(st.Assign, st.Output, b, r.input)
	if terr != nil {
		return "", nil, terr
	}
	if !r.sleep(secs) {
		return "", nil, &taskError{"States.Timeout", "The execution timed out."}
	}
	return st.Next, out, nil
}

// task runs a Task state: Arguments, the call, Retry, then Catch or Assign/Output.
func (r *liveRun) task(name string, st liveState) (string, bool, error) {
	integration, action, ok := isSDKResource(st.Resource)
	typ, res := resource(st.Resource)
	attempts := make([]int, len(st.Retry))
	for retry := 0; ; retry++ {
		b := r.bindings(name, map[string]any{"input": r.input})
		b["states"].(map[string]any)["context"].(map[string]any)["State"].(map[string]any)["RetryCount"] = retry
		var result json.RawMessage
		var terr *taskError
		args, aerr := any(map[string]any{}), (*taskError)(nil)
		if len(st.Arguments) > 0 {
			args, aerr = r.evalField(st.Arguments, b)
		}
		if aerr != nil {
			terr = aerr
		} else {
			argJSON, _ := json.Marshal(args)
			if r.emit("TaskScheduled", "taskScheduledEventDetails", map[string]any{"resourceType": typ, "resource": res, "region": r.s.region, "parameters": string(argJSON)}) != nil ||
				r.emit("TaskStarted", "taskStartedEventDetails", map[string]any{"resourceType": typ, "resource": res}) != nil {
				return "", true, errAborted
			}
			switch {
			case st.Resource == "arn:aws:states:::lambda:invoke":
				result, terr = r.s.invokeLambda(r.s.runCtx, argJSON)
			case !ok:
				terr = &taskError{"States.Runtime", "awstest evaluates only AWS SDK integration and lambda:invoke tasks, not " + st.Resource}
			default:
				result, terr = r.s.sdkCall(integration, action, argJSON)
			}
		}
		if terr == nil {
			if r.emit("TaskSucceeded", "taskSucceededEventDetails", map[string]any{"resourceType": typ, "resource": res, "output": string(result), "outputDetails": map[string]bool{"truncated": false}}) != nil {
				return "", true, errAborted
			}
			var res any
			_ = json.Unmarshal(result, &res)
			b["states"].(map[string]any)["result"] = res
			out, oerr := r.assignAndOutput(st.Assign, st.Output, b, res)
			if oerr != nil {
				return r.taskFailed(name, st, oerr)
			}
			return r.exitTask(name, st.Next, out)
		}
		if aerr == nil {
			if r.emit("TaskFailed", "taskFailedEventDetails", map[string]any{"resourceType": typ, "resource": res, "error": terr.name, "cause": terr.cause}) != nil {
				return "", true, errAborted
			}
		}
		delay, again := r.retryDelay(st.Retry, attempts, terr.name)
		if !again {
			return r.taskFailed(name, st, terr)
		}
		if !r.sleep(delay) {
			_ = r.emit("ExecutionTimedOut", "executionTimedOutEventDetails", map[string]any{"error": "States.Timeout", "cause": "The execution timed out."})
			return "", true, nil
		}
	}
}

// retryDelay picks the first retrier matching errName ("Retriers are
// evaluated in order; the first whose ErrorEquals matches applies") and
// returns the wait before the next attempt, or false when none is left.
func (r *liveRun) retryDelay(retriers []liveRetrier, attempts []int, errName string) (float64, bool) {
	for i, rt := range retriers {
		if !matchesError(rt.ErrorEquals, errName) {
			continue
		}
		maxAttempts, interval, backoff := 3, 1.0, 2.0
		if rt.MaxAttempts != nil {
			maxAttempts = *rt.MaxAttempts
		}
		if rt.IntervalSeconds != nil {
			interval = *rt.IntervalSeconds
		}
		if rt.BackoffRate != nil {
			backoff = *rt.BackoffRate
		}
		if attempts[i] >= maxAttempts {
			return 0, false
		}
		delay := interval * math.Pow(backoff, float64(attempts[i]))
		if rt.MaxDelaySeconds != nil {
			delay = math.Min(delay, *rt.MaxDelaySeconds)
		}
		if rt.JitterStrategy == "FULL" {
			delay = rand.Float64() * delay // #nosec G404 -- jitter, not a secret
		}
		attempts[i]++
		return delay, true
	}
	return 0, false
}

// taskFailed applies Catch to a task error, or fails the execution.
func (r *liveRun) taskFailed(name string, st liveState, terr *taskError) (string, bool, error) {
	for _, c := range st.Catch {
		if !matchesError(c.ErrorEquals, terr.name) {
			continue
		}
		errOut := map[string]any{"Error": terr.name, "Cause": terr.cause}
		b := r.bindings(name, map[string]any{"input": r.input, "errorOutput": errOut})
		out, oerr := r.assignAndOutput(c.Assign, c.Output, b, errOut)
		if oerr != nil {
			r.failExecution(oerr.name, oerr.cause)
			return "", true, nil
		}
		return r.exitTask(name, c.Next, out)
	}
	r.failExecution(terr.name, terr.cause)
	return "", true, nil
}

func (r *liveRun) exitTask(name, next string, out any) (string, bool, error) {
	r.input = out
	if err := r.emit("TaskStateExited", "stateExitedEventDetails", map[string]any{"name": name, "output": mustJSON(out), "outputDetails": map[string]bool{"truncated": false}}); err != nil {
		return "", true, err
	}
	return next, false, nil
}
