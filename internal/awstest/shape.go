package awstest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The ECS model keeps and answers aws-sdk-go-v2's own shapes (service/ecs and
// service/elasticloadbalancingv2 types), which are the API's shapes with each
// member's name capitalised. Two spellings of them travel:
//   - on the wire (JSON 1.1), member names as the API model spells them:
//     lowerCamel for ECS ("taskDefinitionArn"), timestamps as epoch seconds;
//   - in Step Functions' AWS SDK integrations, PascalCase ("Parameters in
//     Step Functions are expressed in PascalCase, even if the native service
//     API is in camelCase", Step Functions developer guide, "AWS SDK service
//     integrations"), which is the Go field name; absent members are absent,
//     never null.

// decodeShape decodes a request in either spelling into an SDK input shape.
// encoding/json matches member names case-insensitively; a member the shape
// does not have is refused, as ECS refuses it on the wire (SerializationException)
// and as Step Functions refuses an unknown parameter of an SDK integration.
// For the wire this is the stricter reading: the ECS and ECR API references
// do not document how an unknown member is answered.
func decodeShape(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errf(400, "SerializationException", "Unable to parse the request: "+err.Error())
	}
	return nil
}

// userMaps are members whose values are maps with keys chosen by users
// (ContainerDefinition.dockerLabels, LogConfiguration.options,
// DockerVolumeConfiguration.driverOpts and labels, hook details, and ECR's
// ImageScanFindings.findingSeverityCounts, keyed by severity): their keys
// are not member names and keep their spelling.
var userMaps = map[string]bool{"dockerLabels": true, "options": true, "driverOpts": true, "labels": true, "hookDetails": true, "findingSeverityCounts": true}

// sdkJSON is the Step Functions spelling of an SDK output shape.
func sdkJSON(v any) (json.RawMessage, error) {
	generic, err := toGeneric(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(dropNulls(generic))
}

// wireJSON is the JSON 1.1 spelling of an SDK output shape.
func wireJSON(v any) (json.RawMessage, error) {
	generic, err := toGeneric(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(toWire(dropNulls(generic), ""))
}

func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if m, ok := out.(map[string]any); ok {
		delete(m, "ResultMetadata") // the SDK's response metadata, not a member
	}
	return out, nil
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}

// toWire renames members lowerCamel and turns timestamps (members ending in
// "At", RFC 3339 in Go's encoding) into epoch seconds, the JSON 1.1 protocol's
// timestamp format.
func toWire(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if userMaps[key] {
				out[k] = e
				continue
			}
			wk := lowerFirst(k)
			out[wk] = toWire(e, wk)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = toWire(e, key)
		}
		return x
	case string:
		if strings.HasSuffix(key, "At") {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
			}
		}
	}
	return v
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
