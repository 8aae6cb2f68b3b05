package awstest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Outcome scripts how executions walk their state machine. The zero Outcome
// succeeds: every Task succeeds, Choice states take their Default.
type Outcome struct {
	// Evaluate runs executions as Step Functions would instead of scripting
	// them: JSONata evaluated by the reference implementation, AWS SDK tasks
	// answered by the server's ECS and ELB models (see AddBlueGreenService),
	// Choice, Wait, Retry and Catch as specified. The other fields are
	// ignored. It needs node and internal/awstest/jsonata's npm modules.
	Evaluate bool
	// FailAt names a Task state that fails with Error and Cause. If the state
	// has a matching Catch the execution follows it (so a rollback path is
	// walked); otherwise the execution fails there.
	FailAt string
	// Error and Cause describe the failure. If empty, "States.TaskFailed" and
	// a sentence naming the state.
	Error, Cause string
	// HangAt names a Task state that is started and never finishes: the
	// execution stays RUNNING until StopExecution.
	HangAt string
	// TimeOutAt names a Task state during which the execution times out.
	TimeOutAt string
	// Choices maps a Choice state to the state it goes to instead of its Default.
	Choices map[string]string
	// ChoicesInTurn maps a Choice state to the states it goes to on its
	// successive visits, so a Wait/Choice polling loop can go round a few
	// times; once the list is used up, Choices or Default apply.
	ChoicesInTurn map[string][]string
	// Results maps a Task state to its result, placed into the state's output
	// by its ResultPath. A Task without a result passes its input through.
	Results map[string]json.RawMessage
	// Output, when set, is the output of a succeeding execution. Otherwise the
	// output is the data that flowed through the states, to which a path that
	// caught no error adds blueServiceUrl, greenServiceUrl and taskDefinitionArn.
	Output json.RawMessage
}

// definition is the part of the Amazon States Language the server walks.
type definition struct {
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
}

type aslState struct {
	Type       string          `json:"Type"`
	Next       string          `json:"Next"`
	End        bool            `json:"End"`
	Default    string          `json:"Default"`
	Resource   string          `json:"Resource"`
	Parameters json.RawMessage `json:"Parameters"`
	Arguments  json.RawMessage `json:"Arguments"` // JSONata's Parameters
	Result     json.RawMessage `json:"Result"`
	ResultPath json.RawMessage `json:"ResultPath"`
	Catch      []aslCatcher    `json:"Catch"`
	Error      string          `json:"Error"`
	Cause      string          `json:"Cause"`
}

type aslCatcher struct {
	ErrorEquals []string        `json:"ErrorEquals"`
	Next        string          `json:"Next"`
	ResultPath  json.RawMessage `json:"ResultPath"`
}

func parseDefinition(b []byte) (definition, error) {
	var d definition
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("parse definition: %w", err)
	}
	if _, ok := d.States[d.StartAt]; !ok {
		return d, fmt.Errorf("StartAt %q names no state", d.StartAt)
	}
	return d, nil
}

// jsonata reports whether a field holds a JSONata expression, which the
// server does not evaluate.
func jsonata(field string) bool {
	return strings.HasPrefix(field, "{%") && strings.HasSuffix(field, "%}")
}

// catcher returns the Catch of st that handles errName, if any.
func (st aslState) catcher(errName string) (aslCatcher, bool) {
	for _, c := range st.Catch {
		for _, e := range c.ErrorEquals {
			if e == errName || e == "States.ALL" || (e == "States.TaskFailed" && errName != "States.Timeout") {
				return c, true
			}
		}
	}
	return aslCatcher{}, false
}

// resource splits a Task's Resource into the resourceType and resource that
// history events report: arn:aws:states:::ecs:runTask.sync → ("ecs",
// "runTask.sync"), arn:aws:states:::aws-sdk:ecs:updateService → ("aws-sdk:ecs",
// "updateService").
func resource(arn string) (typ, res string) {
	if rest, ok := strings.CutPrefix(arn, "arn:aws:states:::aws-sdk:"); ok {
		service, action, _ := strings.Cut(rest, ":")
		return "aws-sdk:" + service, action
	}
	if rest, ok := strings.CutPrefix(arn, "arn:aws:states:::"); ok {
		typ, res, _ = strings.Cut(rest, ":")
		return typ, res
	}
	if strings.Contains(arn, ":lambda:") {
		return "lambda", arn
	}
	return "activity", arn
}

// applyPath places result into data at a ResultPath: "$" (or absent) replaces
// data, null keeps data, "$.a.b" sets that field.
func applyPath(data, result, path json.RawMessage) json.RawMessage {
	var p *string
	if len(path) > 0 {
		if err := json.Unmarshal(path, &p); err != nil {
			return data
		}
		if p == nil {
			return data
		}
	}
	if p == nil || *p == "$" {
		return result
	}
	fields := strings.Split(strings.TrimPrefix(*p, "$."), ".")
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil || root == nil {
		root = map[string]any{}
	}
	m := root
	for _, f := range fields[:len(fields)-1] {
		next, ok := m[f].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[f] = next
		}
		m = next
	}
	m[fields[len(fields)-1]] = json.RawMessage(result)
	out, err := json.Marshal(root)
	if err != nil {
		return data
	}
	return out
}

// mergeObject adds fields to a JSON object (not overwriting what it has).
func mergeObject(data json.RawMessage, fields map[string]any) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		m = map[string]any{}
	}
	for k, v := range fields {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

// stateTypePrefix is the event type prefix of a state type: Task → "Task", etc.
func stateTypePrefix(typ string) string {
	if slices.Contains([]string{"Task", "Pass", "Wait", "Choice", "Parallel", "Map", "Succeed", "Fail"}, typ) {
		return typ
	}
	return "Pass"
}
