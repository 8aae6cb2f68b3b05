package awstest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
)

// BlueGreenDefinition returns the state machine definition Panda ships,
// deploy/aws/bluegreen.asl.json, so executions walk its real states. The zero
// Outcome walks its success path (every Choice takes its Default). A failure
// before UpdateService goes straight to the DeploymentFailed Fail state; a
// failure in BlueGreenDeployment goes through RollbackDeployment first.
func BlueGreenDefinition() []byte { return awsdeploy.BlueGreenDefinition() }

type stateMachine struct {
	arn, name  string
	definition string
	def        definition
	roleARN    string
	created    time.Time
}

var (
	machineARNRE = regexp.MustCompile(`^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$`)
	execARNRE    = regexp.MustCompile(`^arn:aws:states:([a-z0-9-]+):(\d{12}):execution:([A-Za-z0-9_-]{1,80}):(.{1,80})$`)
	// badNameRE matches what Step Functions refuses in names: white space,
	// brackets, wildcards, special and control characters.
	badNameRE = regexp.MustCompile("[\\s<>{}\\[\\]?*\"#%\\\\^|~`$&,;:/\\x00-\\x1f\\x7f-\\x9f]")
)

// StateMachineARN returns the ARN of a state machine called name in the
// server's region and account.
func (s *Server) StateMachineARN(name string) string {
	return "arn:aws:states:" + s.region + ":" + s.account + ":stateMachine:" + name
}

// AddStateMachine registers a STANDARD state machine with an Amazon States
// Language definition; the test fails if the definition cannot be walked.
func (s *Server) AddStateMachine(arn string, definitionJSON []byte) {
	s.t.Helper()
	m := machineARNRE.FindStringSubmatch(arn)
	if m == nil {
		s.t.Fatalf("awstest: %q is not a state machine ARN", arn)
		return
	}
	def, err := parseDefinition(definitionJSON)
	if err != nil {
		s.t.Fatalf("awstest: state machine %s: %v", arn, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.machines[arn] = &stateMachine{
		arn: arn, name: m[3], definition: string(definitionJSON), def: def, created: time.Now(),
		roleARN: "arn:aws:iam::" + s.account + ":role/" + m[3] + "-role",
	}
}

// SetOutcome scripts the executions of state machine arn started from now on
// (unless SetExecutionOutcome names them).
func (s *Server) SetOutcome(arn string, o Outcome) {
	s.t.Helper()
	if o.Evaluate {
		s.needEvaluator()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.machineOut[arn] = o
}

// SetExecutionOutcome scripts the execution that will be started with name.
func (s *Server) SetExecutionOutcome(name string, o Outcome) {
	s.t.Helper()
	if o.Evaluate {
		s.needEvaluator()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execOut[name] = o
}

// needEvaluator starts the JSONata evaluator once. Without node or the npm
// module the test fails under CI=true (the test command installs them) and
// is skipped elsewhere, as internal/testenv does for missing services.
func (s *Server) needEvaluator() {
	s.t.Helper()
	s.mu.Lock()
	have := s.eval != nil
	s.mu.Unlock()
	if have {
		return
	}
	ev, err := startEvaluator(s.runCtx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			s.t.Fatalf("awstest: %v", err)
		}
		s.t.Skipf("awstest: %v", err)
	}
	s.mu.Lock()
	s.eval = ev
	s.mu.Unlock()
}

// EnteredStates returns the states an evaluated execution entered so far, in order.
func (s *Server) EnteredStates(executionARN string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if e, ok := s.executions[executionARN]; ok {
		for _, ev := range e.events {
			if strings.HasSuffix(ev.typ, "StateEntered") {
				out = append(out, ev.details["name"].(string))
			}
		}
	}
	return out
}

// Executions returns the ARNs of the executions of state machine arn, in start order.
func (s *Server) Executions(arn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.execOrder {
		if s.executions[a].machineARN == arn {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) handleSFN(req request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.op {
	case "DescribeStateMachine":
		return s.describeStateMachine(req)
	case "StartExecution":
		return s.startExecution(req)
	case "DescribeExecution":
		return s.describeExecution(req)
	case "GetExecutionHistory":
		return s.getExecutionHistory(req)
	case "ListExecutions":
		return s.listExecutions(req)
	case "StopExecution":
		return s.stopExecution(req)
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation "+req.op)
}

func (s *Server) machine(arn string) (*stateMachine, *apiError) {
	if !machineARNRE.MatchString(arn) {
		return nil, errf(400, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: "+arn+"'")
	}
	m, ok := s.machines[arn]
	if !ok {
		return nil, errf(400, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+arn+"'")
	}
	return m, nil
}

func (s *Server) execution(arn string) (*execution, *apiError) {
	if !execARNRE.MatchString(arn) {
		return nil, errf(400, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: "+arn+"'")
	}
	e, ok := s.executions[arn]
	if !ok {
		return nil, errf(400, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+arn+"'")
	}
	return e, nil
}

func (s *Server) describeStateMachine(req request) (any, *apiError) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	m, aerr := s.machine(in.StateMachineArn)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{
		"stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
		"roleArn": m.roleARN, "type": "STANDARD", "creationDate": epoch(m.created),
	}, nil
}

func (s *Server) startExecution(req request) (any, *apiError) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Name            *string `json:"name"`
		Input           *string `json:"input"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	m, aerr := s.machine(in.StateMachineArn)
	if aerr != nil {
		return nil, aerr
	}
	name := "exec-" + randomHex(8)
	if in.Name != nil {
		name = *in.Name
	}
	if len(name) < 1 || len(name) > 80 || badNameRE.MatchString(name) {
		return nil, errf(400, "InvalidName", "Invalid Name: '"+name+"'")
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if !json.Valid([]byte(input)) {
		return nil, errf(400, "InvalidExecutionInput", "Invalid State Machine Execution Input: 'Unexpected input'")
	}
	return s.startLocked(m, name, input)
}

// startLocked starts an execution of m. Like AWS, it is idempotent only while
// the execution runs: the same name and input answer the running execution;
// another input, or a name whose execution has ended, is ExecutionAlreadyExists.
func (s *Server) startLocked(m *stateMachine, name, input string) (any, *apiError) {
	arn := "arn:aws:states:" + s.region + ":" + s.account + ":execution:" + m.name + ":" + name
	now := time.Now()
	if e, ok := s.executions[arn]; ok {
		if st, _ := e.state(now); st == "RUNNING" && e.input == input {
			return map[string]any{"executionArn": arn, "startDate": epoch(e.start)}, nil
		}
		return nil, errf(400, "ExecutionAlreadyExists", "Execution Already Exists: '"+arn+"'")
	}
	o, ok := s.execOut[name]
	if !ok {
		o = s.machineOut[m.arn]
	}
	e := &execution{arn: arn, name: name, machineARN: m.arn, input: input, start: now}
	if o.Evaluate {
		if err := s.startLive(m, e); err != nil {
			return nil, errf(500, "InternalFailure", err.Error())
		}
	} else {
		w := &walker{def: m.def, out: o, region: s.region, account: s.account, start: now, step: s.step}
		e.events = w.run(json.RawMessage(input), m.roleARN)
	}
	s.executions[arn] = e
	s.execOrder = append(s.execOrder, arn)
	return map[string]any{"executionArn": arn, "startDate": epoch(now)}, nil
}

func (s *Server) describeExecution(req request) (any, *apiError) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	status, last := e.state(time.Now())
	out := map[string]any{
		"executionArn": e.arn, "stateMachineArn": e.machineARN, "name": e.name, "status": status,
		"startDate": epoch(e.start), "input": e.input, "inputDetails": map[string]bool{"included": true},
	}
	if last != nil {
		out["stopDate"] = epoch(last.at)
		for k, v := range last.details {
			out[k] = v // output, or error and cause
		}
		if _, ok := out["output"]; ok {
			out["outputDetails"] = map[string]bool{"included": true}
		}
	}
	return out, nil
}

// pageToken is the opaque nextToken of paginated answers: the position to
// continue from, bound to the resource it pages through.
type pageToken struct {
	Resource string `json:"r"`
	Next     int64  `json:"n"`
}

func encodeToken(resource string, next int64) string {
	b, _ := json.Marshal(pageToken{Resource: resource, Next: next})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok *string, resource string) (int64, bool, *apiError) {
	if tok == nil || *tok == "" {
		return 0, false, nil
	}
	var p pageToken
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil || json.Unmarshal(b, &p) != nil || p.Resource != resource {
		return 0, false, errf(400, "InvalidToken", "Invalid Token: '"+*tok+"'")
	}
	return p.Next, true, nil
}

func pageSize(max int, def int) (int, *apiError) {
	if max < 0 || max > 1000 {
		return 0, errf(400, "ValidationException", "1 validation error detected: Value '"+strconv.Itoa(max)+"' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000")
	}
	if max == 0 {
		return def, nil
	}
	return max, nil
}

func (s *Server) getExecutionHistory(req request) (any, *apiError) {
	var in struct {
		ExecutionArn string  `json:"executionArn"`
		MaxResults   int     `json:"maxResults"`
		NextToken    *string `json:"nextToken"`
		ReverseOrder bool    `json:"reverseOrder"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	limit, aerr := pageSize(in.MaxResults, 100)
	if aerr != nil {
		return nil, aerr
	}
	vis := e.visible(time.Now())
	// Events are numbered 1..len(vis); page by id so a token stays valid while
	// new events are appended.
	next, ok, aerr := decodeToken(in.NextToken, e.arn)
	if aerr != nil {
		return nil, aerr
	}
	dir := int64(1)
	if !ok {
		next = 1
	}
	if in.ReverseOrder {
		dir = -1
		if !ok {
			next = int64(len(vis))
		}
	}
	events := []histEvent{}
	for id := next; id >= 1 && id <= int64(len(vis)) && len(events) < limit; id += dir {
		events = append(events, vis[id-1])
	}
	out := map[string]any{"events": events}
	if after := next + dir*int64(len(events)); len(events) == limit && after >= 1 && after <= int64(len(vis)) {
		out["nextToken"] = encodeToken(e.arn, after)
	}
	return out, nil
}

func (s *Server) listExecutions(req request) (any, *apiError) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		StatusFilter    string  `json:"statusFilter"`
		MaxResults      int     `json:"maxResults"`
		NextToken       *string `json:"nextToken"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	if _, aerr := s.machine(in.StateMachineArn); aerr != nil {
		return nil, aerr
	}
	limit, aerr := pageSize(in.MaxResults, 100)
	if aerr != nil {
		return nil, aerr
	}
	skip, _, aerr := decodeToken(in.NextToken, in.StateMachineArn+"|"+in.StatusFilter)
	if aerr != nil {
		return nil, aerr
	}
	now := time.Now()
	var matched []map[string]any
	for i := len(s.execOrder) - 1; i >= 0; i-- { // newest first, as AWS lists them
		e := s.executions[s.execOrder[i]]
		status, last := e.state(now)
		if e.machineARN != in.StateMachineArn || (in.StatusFilter != "" && in.StatusFilter != status) {
			continue
		}
		item := map[string]any{"executionArn": e.arn, "stateMachineArn": e.machineARN, "name": e.name, "status": status, "startDate": epoch(e.start)}
		if last != nil {
			item["stopDate"] = epoch(last.at)
		}
		matched = append(matched, item)
	}
	page := matched[min(int(skip), len(matched)):]
	out := map[string]any{}
	if len(page) > limit {
		page = page[:limit]
		out["nextToken"] = encodeToken(in.StateMachineArn+"|"+in.StatusFilter, skip+int64(limit))
	}
	out["executions"] = append([]map[string]any{}, page...)
	return out, nil
}

func (s *Server) stopExecution(req request) (any, *apiError) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	now := time.Now()
	if status, last := e.state(now); status != "RUNNING" {
		return map[string]any{"stopDate": epoch(last.at)}, nil
	}
	e.abort(now, in.Error, in.Cause)
	return map[string]any{"stopDate": epoch(now)}, nil
}
