package awstest

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// histEvent is one Step Functions history event, due at its timestamp: the
// server computes an execution's whole history when it starts and shows each
// event once the wall clock passes its time, which makes executions progress
// without goroutines.
type histEvent struct {
	id      int64
	typ     string
	at      time.Time
	key     string // the details member, e.g. "taskFailedEventDetails"
	details map[string]any
}

func (e histEvent) MarshalJSON() ([]byte, error) {
	m := map[string]any{"id": e.id, "previousEventId": e.id - 1, "timestamp": epoch(e.at), "type": e.typ}
	if e.key != "" {
		m[e.key] = e.details
	}
	return json.Marshal(m)
}

// terminalStatus maps the events that end an execution to its final status.
func terminalStatus(typ string) string {
	switch typ {
	case "ExecutionSucceeded":
		return "SUCCEEDED"
	case "ExecutionFailed":
		return "FAILED"
	case "ExecutionAborted":
		return "ABORTED"
	case "ExecutionTimedOut":
		return "TIMED_OUT"
	}
	return ""
}

// walker computes the history of one execution by walking its definition.
type walker struct {
	def      definition
	out      Outcome
	region   string
	account  string
	start    time.Time
	step     time.Duration
	events   []histEvent
	data     json.RawMessage
	original map[string]any
	caught   bool
	visits   map[string]int // Choice state → visits so far
	// lastErr and lastCause are the error a Catch caught last.
	lastErr, lastCause string
}

// maxTransitions bounds the walk of a definition that loops forever.
const maxTransitions = 500

func (w *walker) emit(typ, key string, details map[string]any) {
	id := int64(len(w.events) + 1)
	at := w.start.Add(time.Duration(id-1) * w.step)
	w.events = append(w.events, histEvent{id: id, typ: typ, at: at, key: key, details: details})
}

func (w *walker) run(input json.RawMessage, roleARN string) []histEvent {
	w.data = input
	_ = json.Unmarshal(input, &w.original)
	w.emit("ExecutionStarted", "executionStartedEventDetails", map[string]any{
		"input": string(input), "inputDetails": map[string]bool{"truncated": false}, "roleArn": roleARN,
	})
	name := w.def.StartAt
	for range maxTransitions {
		st, ok := w.def.States[name]
		if !ok {
			w.fail("States.Runtime", fmt.Sprintf("The state %q does not exist", name))
			return w.events
		}
		next, done := w.state(name, st)
		if done {
			return w.events
		}
		name = next
	}
	w.fail("States.Runtime", "The execution exceeded the number of state transitions")
	return w.events
}

// state walks one state and returns the next one, or done when the
// execution ended (or hangs) there.
func (w *walker) state(name string, st aslState) (next string, done bool) {
	prefix := stateTypePrefix(st.Type)
	w.emit(prefix+"StateEntered", "stateEnteredEventDetails", map[string]any{
		"name": name, "input": string(w.data), "inputDetails": map[string]bool{"truncated": false},
	})
	switch st.Type {
	case "Task":
		if next, done, jumped := w.task(name, st); done || jumped {
			return next, done
		}
	case "Pass":
		if len(st.Result) > 0 {
			w.data = applyPath(w.data, st.Result, st.ResultPath)
		}
	case "Choice":
		w.exit(prefix, name)
		return w.choose(name, st), false
	case "Fail":
		w.fail(w.failure(name, st))
		return "", true
	case "Succeed":
		w.exit(prefix, name)
		w.succeed()
		return "", true
	}
	w.exit(prefix, name)
	if st.End {
		w.succeed()
		return "", true
	}
	return st.Next, false
}

// choose returns the state a Choice goes to: the next of ChoicesInTurn, else
// Choices, else its Default. Conditions are not evaluated.
func (w *walker) choose(name string, st aslState) string {
	if w.visits == nil {
		w.visits = map[string]int{}
	}
	n := w.visits[name]
	w.visits[name]++
	if turns := w.out.ChoicesInTurn[name]; n < len(turns) {
		return turns[n]
	}
	if c, ok := w.out.Choices[name]; ok {
		return c
	}
	return st.Default
}

// failure returns the error and cause a Fail state ends the execution with.
// The server does not evaluate JSONata, so an Error or Cause written as an
// expression is replaced by the error caught last, which is what such
// expressions report, or by a sentence naming the state.
func (w *walker) failure(name string, st aslState) (errName, cause string) {
	errName, cause = st.Error, st.Cause
	if jsonata(errName) {
		errName = w.lastErr
		if errName == "" {
			errName = "States.Failed"
		}
	}
	if jsonata(cause) {
		cause = w.lastCause
		if cause == "" {
			cause = "The execution failed at " + name + "."
		}
	}
	return errName, cause
}

func (w *walker) exit(prefix, name string) {
	w.emit(prefix+"StateExited", "stateExitedEventDetails", map[string]any{
		"name": name, "output": string(w.data), "outputDetails": map[string]bool{"truncated": false},
	})
}

// task walks a Task state after it was entered. jumped reports that a Catch
// sent the execution to next.
func (w *walker) task(name string, st aslState) (next string, done, jumped bool) {
	typ, res := resource(st.Resource)
	params := "{}"
	if len(st.Parameters) > 0 {
		params = string(st.Parameters)
	} else if len(st.Arguments) > 0 {
		params = string(st.Arguments)
	}
	w.emit("TaskScheduled", "taskScheduledEventDetails", map[string]any{"resourceType": typ, "resource": res, "region": w.region, "parameters": params})
	w.emit("TaskStarted", "taskStartedEventDetails", map[string]any{"resourceType": typ, "resource": res})
	switch name {
	case w.out.HangAt:
		return "", true, false
	case w.out.TimeOutAt:
		w.emit("ExecutionTimedOut", "executionTimedOutEventDetails", map[string]any{"error": "States.Timeout", "cause": "The execution timed out."})
		return "", true, false
	case w.out.FailAt:
		errName, cause := w.out.Error, w.out.Cause
		if errName == "" {
			errName = "States.TaskFailed"
		}
		if cause == "" {
			cause = "The task " + name + " failed."
		}
		w.emit("TaskFailed", "taskFailedEventDetails", map[string]any{"resourceType": typ, "resource": res, "error": errName, "cause": cause})
		c, ok := st.catcher(errName)
		if !ok {
			w.fail(errName, cause)
			return "", true, false
		}
		w.caught = true
		w.lastErr, w.lastCause = errName, cause
		errJSON, _ := json.Marshal(map[string]string{"Error": errName, "Cause": cause})
		w.data = applyPath(w.data, errJSON, c.ResultPath)
		w.exit("Task", name)
		return c.Next, false, true
	}
	result, ok := w.out.Results[name]
	if !ok {
		result = w.data
	} else {
		w.data = applyPath(w.data, result, st.ResultPath)
	}
	w.emit("TaskSucceeded", "taskSucceededEventDetails", map[string]any{
		"resourceType": typ, "resource": res, "output": string(result), "outputDetails": map[string]bool{"truncated": false},
	})
	return "", false, false
}

func (w *walker) fail(errName, cause string) {
	w.emit("ExecutionFailed", "executionFailedEventDetails", map[string]any{"error": errName, "cause": cause})
}

func (w *walker) succeed() {
	out := w.out.Output
	if out == nil {
		out = w.data
		if !w.caught {
			out = mergeObject(out, w.defaultOutput())
		}
	}
	w.emit("ExecutionSucceeded", "executionSucceededEventDetails", map[string]any{
		"output": string(out), "outputDetails": map[string]bool{"truncated": false},
	})
}

// defaultOutput is what a blue/green deployment answers: the service URLs and
// the registered task definition.
func (w *walker) defaultOutput() map[string]any {
	service, _ := w.original["service"].(string)
	family, _ := w.original["taskFamily"].(string)
	if service == "" {
		service = "service"
	}
	if family == "" {
		family = "task"
	}
	return map[string]any{
		"blueServiceUrl":    "http://" + service + "-blue.awstest.invalid",
		"greenServiceUrl":   "http://" + service + "-green.awstest.invalid",
		"taskDefinitionArn": "arn:aws:ecs:" + w.region + ":" + w.account + ":task-definition/" + family + ":1",
	}
}

// execution is one Step Functions execution.
type execution struct {
	arn, name, machineARN string
	input                 string
	start                 time.Time
	events                []histEvent
	live                  *liveRun // set for evaluated executions
}

// visible returns the events that happened by now.
func (e *execution) visible(now time.Time) []histEvent {
	n := sort.Search(len(e.events), func(i int) bool { return e.events[i].at.After(now) })
	return e.events[:n]
}

// state returns the status by now and, when ended, the terminal event.
func (e *execution) state(now time.Time) (string, *histEvent) {
	vis := e.visible(now)
	if len(vis) > 0 {
		last := vis[len(vis)-1]
		if st := terminalStatus(last.typ); st != "" {
			return st, &last
		}
	}
	return "RUNNING", nil
}

// abort ends a running execution now, dropping the events it would have had.
func (e *execution) abort(now time.Time, errName, cause string) {
	e.events = append([]histEvent(nil), e.visible(now)...)
	id := int64(len(e.events) + 1)
	e.events = append(e.events, histEvent{id: id, typ: "ExecutionAborted", at: now, key: "executionAbortedEventDetails",
		details: map[string]any{"error": errName, "cause": cause}})
}
