package awstest

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"
)

type rule struct {
	name, arn, bus string
	pattern        string
	schedule       string
	state          string
	description    string
	roleARN        string
	targets        []map[string]any // as PutTargets sent them, in Id order of arrival
	targetIDs      []string
}

var ruleNameRE = regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`)

func (s *Server) handleEvents(req request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.op {
	case "PutRule":
		return s.putRule(req)
	case "PutTargets":
		return s.putTargets(req)
	case "ListTargetsByRule":
		return s.listTargetsByRule(req)
	case "DescribeRule":
		return s.describeRule(req)
	case "TestEventPattern":
		return s.testEventPattern(req)
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation "+req.op)
}

func busName(b string) string {
	if b == "" {
		return "default"
	}
	return b
}

func (s *Server) rule(name, bus string) (*rule, *apiError) {
	r, ok := s.rules[busName(bus)+"/"+name]
	if !ok {
		return nil, errf(400, "ResourceNotFoundException", "Rule "+name+" does not exist on EventBus "+busName(bus)+".")
	}
	return r, nil
}

func (s *Server) putRule(req request) (any, *apiError) {
	var in struct {
		Name, EventPattern, ScheduleExpression, State, Description, RoleArn, EventBusName string
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	if !ruleNameRE.MatchString(in.Name) {
		return nil, errf(400, "ValidationException", "1 validation error detected: Value '"+in.Name+"' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+")
	}
	if in.EventPattern == "" && in.ScheduleExpression == "" {
		return nil, errf(400, "ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if in.EventPattern != "" {
		if _, err := parsePattern(in.EventPattern); err != nil {
			return nil, errf(400, "InvalidEventPatternException", "Event pattern is not valid. Reason: "+err.Error())
		}
	}
	if in.State == "" {
		in.State = "ENABLED"
	}
	bus := busName(in.EventBusName)
	arn := "arn:aws:events:" + s.region + ":" + s.account + ":rule/" + in.Name
	if bus != "default" {
		arn = "arn:aws:events:" + s.region + ":" + s.account + ":rule/" + bus + "/" + in.Name
	}
	r, ok := s.rules[bus+"/"+in.Name]
	if !ok {
		r = &rule{name: in.Name, arn: arn, bus: bus}
		s.rules[bus+"/"+in.Name] = r
	}
	r.pattern, r.schedule, r.state, r.description, r.roleARN = in.EventPattern, in.ScheduleExpression, in.State, in.Description, in.RoleArn
	return map[string]string{"RuleArn": arn}, nil
}

func (s *Server) putTargets(req request) (any, *apiError) {
	var in struct {
		Rule, EventBusName string
		Targets            []map[string]any
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	r, aerr := s.rule(in.Rule, in.EventBusName)
	if aerr != nil {
		return nil, aerr
	}
	if len(in.Targets) == 0 || len(in.Targets) > 10 {
		return nil, errf(400, "ValidationException", "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	for _, t := range in.Targets {
		id, _ := t["Id"].(string)
		arn, _ := t["Arn"].(string)
		if id == "" || arn == "" {
			return nil, errf(400, "ValidationException", "Target Id and Arn must be specified.")
		}
		if i := slices.Index(r.targetIDs, id); i >= 0 {
			r.targets[i] = t
			continue
		}
		r.targetIDs = append(r.targetIDs, id)
		r.targets = append(r.targets, t)
	}
	return map[string]any{"FailedEntryCount": 0, "FailedEntries": []any{}}, nil
}

func (s *Server) listTargetsByRule(req request) (any, *apiError) {
	var in struct{ Rule, EventBusName string }
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	r, aerr := s.rule(in.Rule, in.EventBusName)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Targets": append([]map[string]any{}, r.targets...)}, nil
}

func (s *Server) describeRule(req request) (any, *apiError) {
	var in struct{ Name, EventBusName string }
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	r, aerr := s.rule(in.Name, in.EventBusName)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"Name": r.name, "Arn": r.arn, "State": r.state, "EventBusName": r.bus, "CreatedBy": s.account}
	for k, v := range map[string]string{"EventPattern": r.pattern, "ScheduleExpression": r.schedule, "Description": r.description, "RoleArn": r.roleARN} {
		if v != "" {
			out[k] = v
		}
	}
	return out, nil
}

// testEventPattern answers whether an event matches a pattern (EventBridge
// API reference, TestEventPattern; the event must be JSON with the envelope's
// fields, or InvalidEventPatternException / ValidationException).
func (s *Server) testEventPattern(req request) (any, *apiError) {
	var in struct{ EventPattern, Event string }
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	p, err := parsePattern(in.EventPattern)
	if err != nil {
		return nil, errf(400, "InvalidEventPatternException", "Event pattern is not valid. Reason: "+err.Error())
	}
	var event map[string]any
	if json.Unmarshal([]byte(in.Event), &event) != nil || event == nil {
		return nil, errf(400, "ValidationException", "Parameter Event is not valid.")
	}
	// TestEventPattern: "the event must contain the fields id, account,
	// source, time, region, resources, and detail-type".
	for _, f := range []string{"id", "account", "source", "time", "region", "resources", "detail-type"} {
		if _, ok := event[f]; !ok {
			return nil, errf(400, "ValidationException", "Parameter Event is not valid: missing "+f+".")
		}
	}
	return map[string]bool{"Result": matches(p, event)}, nil
}

// EmitECRPush delivers the event ECR sends to EventBridge after a successful
// image push: every enabled rule on the default bus whose pattern matches it
// starts an execution for each of its state machine targets, with the event as
// input (or the target's constant Input; InputPath and InputTransformer are not
// played). It returns the ARNs of the executions started.
func (s *Server) EmitECRPush(repository, tag, digest string) []string {
	event := map[string]any{
		"version": "0", "id": randomHex(16), "detail-type": "ECR Image Action", "source": "aws.ecr",
		"account": s.account, "time": time.Now().UTC().Format(time.RFC3339), "region": s.region, "resources": []any{},
		"detail": map[string]any{"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH", "image-tag": tag},
	}
	payload, _ := json.Marshal(event)
	s.mu.Lock()
	defer s.mu.Unlock()
	var started []string
	for _, r := range s.rules {
		var pattern map[string]any
		if r.bus != "default" || r.state != "ENABLED" || json.Unmarshal([]byte(r.pattern), &pattern) != nil || !matches(pattern, event) {
			continue
		}
		for _, t := range r.targets {
			m, ok := s.machines[t["Arn"].(string)]
			if !ok {
				continue
			}
			input := string(payload)
			if in, ok := t["Input"].(string); ok && in != "" {
				input = in
			}
			if tr, ok := t["InputTransformer"].(map[string]any); ok {
				var ok2 bool
				if input, ok2 = transform(tr, event); !ok2 {
					continue // EventBridge drops an event whose template makes no JSON
				}
			}
			if out, aerr := s.startLocked(m, randomHex(16), input); aerr == nil {
				started = append(started, out.(map[string]any)["executionArn"].(string))
			}
		}
	}
	return started
}

// transform applies a target's InputTransformer to event the way EventBridge
// does: each InputPathsMap entry is a JSONPath ($.a.b) into the event, and each
// <name> in InputTemplate is replaced by that value (a string as is, anything
// else as JSON). ok is false when the result is not JSON.
func transform(tr map[string]any, event map[string]any) (string, bool) {
	tmpl, _ := tr["InputTemplate"].(string)
	paths, _ := tr["InputPathsMap"].(map[string]any)
	for name, p := range paths {
		path, _ := p.(string)
		var v any = event
		for _, part := range strings.Split(strings.TrimPrefix(path, "$."), ".") {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[part]
		}
		text, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			text = string(b)
		}
		tmpl = strings.ReplaceAll(tmpl, "<"+name+">", text)
	}
	return tmpl, json.Valid([]byte(tmpl))
}
