package awstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Event patterns as EventBridge matches them (EventBridge user guide,
// "Creating event patterns" and "Content filtering in Amazon EventBridge
// event patterns"):
//   - a pattern is a JSON object; each field names an event field that must
//     be present, and holds either a nested pattern (for an object) or an
//     array of what the value may be;
//   - an array element is a value matched exactly, character by character
//     (strings, numbers, booleans, null), or a filter object:
//     {"prefix": "…"}, {"suffix": "…"}, {"anything-but": …} and {"exists": bool};
//   - when the event's value is an array, the field matches if any element does;
//   - every field of the pattern must match (AND); any element of an array may (OR).
// anything-but takes a value, a list of values, or {"prefix": …} / {"suffix": …}
// and, like every filter but exists:false, matches only fields that are present.

// checkPattern refuses what EventBridge refuses: a pattern that is not an
// object, a leaf that is not an array, an unknown filter (InvalidEventPatternException,
// EventBridge API reference, PutRule / TestEventPattern Errors). Stricter
// than EventBridge: the numeric, cidr, equals-ignore-case and wildcard
// filters, and anything-but's other operands, are documented ("Content
// filtering") but not modelled here, so they are refused.
func checkPattern(p map[string]any) error {
	for k, v := range p {
		switch x := v.(type) {
		case map[string]any:
			if err := checkPattern(x); err != nil {
				return err
			}
		case []any:
			for _, e := range x {
				if f, ok := e.(map[string]any); ok {
					if err := checkFilter(f); err != nil {
						return fmt.Errorf("%s: %w", k, err)
					}
				}
			}
		default:
			return errors.New("match value must be String, number, true, false, or null")
		}
	}
	return nil
}

func checkFilter(f map[string]any) error {
	if len(f) != 1 {
		return fmt.Errorf("a filter object has exactly one key")
	}
	for name, arg := range f {
		switch name {
		case "prefix", "suffix":
			if _, ok := arg.(string); !ok {
				return fmt.Errorf("%s match pattern must be a string", name)
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return fmt.Errorf("exists match pattern must be either true or false")
			}
		case "anything-but":
			if m, ok := arg.(map[string]any); ok {
				if len(m) != 1 || (m["prefix"] == nil && m["suffix"] == nil) {
					return fmt.Errorf("unsupported anything-but pattern")
				}
			}
		default:
			return fmt.Errorf("unrecognized match type %s", name)
		}
	}
	return nil
}

// matches reports whether event matches pattern.
func matches(pattern, event map[string]any) bool {
	for k, pv := range pattern {
		ev, present := event[k]
		switch p := pv.(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !present || !ok || !matches(p, sub) {
				return false
			}
		case []any:
			if !matchesAny(p, ev, present) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// matchesAny reports whether one element of the pattern array matches the
// event's value (or, for an array value, one of its elements).
func matchesAny(allowed []any, ev any, present bool) bool {
	values := []any{ev}
	if arr, ok := ev.([]any); ok {
		values = arr
	}
	for _, a := range allowed {
		if f, ok := a.(map[string]any); ok {
			if exists, ok := f["exists"].(bool); ok {
				if exists == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, v := range values {
			if matchesOne(a, v) {
				return true
			}
		}
	}
	return false
}

func matchesOne(a, v any) bool {
	f, ok := a.(map[string]any)
	if !ok {
		return sameValue(a, v)
	}
	s, isString := v.(string)
	if p, ok := f["prefix"].(string); ok {
		return isString && strings.HasPrefix(s, p)
	}
	if p, ok := f["suffix"].(string); ok {
		return isString && strings.HasSuffix(s, p)
	}
	if but, ok := f["anything-but"]; ok {
		switch x := but.(type) {
		case []any:
			for _, e := range x {
				if sameValue(e, v) {
					return false
				}
			}
			return true
		case map[string]any:
			if p, ok := x["prefix"].(string); ok {
				return isString && !strings.HasPrefix(s, p)
			}
			if p, ok := x["suffix"].(string); ok {
				return isString && !strings.HasSuffix(s, p)
			}
			return false
		default:
			return !sameValue(x, v)
		}
	}
	return false
}

// sameValue is exact matching: same JSON type and value ("Matching is
// exact, character by character, without case-folding"; numbers compare
// as numbers).
func sameValue(a, v any) bool { return reflect.DeepEqual(a, v) }

// parsePattern decodes and checks an event pattern.
func parsePattern(s string) (map[string]any, error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(s), &p); err != nil || p == nil {
		return nil, fmt.Errorf("filter is not an object")
	}
	if err := checkPattern(p); err != nil {
		return nil, err
	}
	return p, nil
}
