package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/tasks"
)

// routeStd is Route as it was with encoding/json as the decoder: the reference
// the one-pass scanner must agree with.
func routeStd(event string, payload []byte, d tasks.Delivery) (Decision, error) {
	switch event {
	case "push":
		return stdThen(payload, routePush, d)
	case "issue_comment":
		return stdThen(payload, routeComment, d)
	case "check_run":
		return stdThen(payload, routeCheckRun, d)
	case "check_suite":
		return stdThen(payload, routeCheckSuite, d)
	case "installation":
		return stdThen(payload, routeInstallation, d)
	case "installation_repositories":
		return stdThen(payload, routeInstallationRepos, d)
	}
	return Route(event, payload, d)
}

func stdThen[E any](payload []byte, route func(*E, tasks.Delivery) (Decision, error), d tasks.Delivery) (Decision, error) {
	e := new(E)
	if err := json.Unmarshal(payload, e); err != nil {
		return Decision{}, err
	}
	return route(e, d)
}

// memberNames are the member names the event types decode.
var memberNames = []string{
	"login", "type", "id", "account", "repository_selection", "full_name", "message",
	"ref", "after", "deleted", "head_commit", "repository", "sender", "installation",
	"url", "action", "issue", "number", "pull_request", "comment", "body", "user",
	"identifier", "check_run", "external_id", "head_sha", "requested_action",
	"check_suite", "repositories", "repositories_added", "repositories_removed",
}

// differsByDesign reports whether encoding/json may decode payload otherwise
// than the scanner on purpose (scan.go): a bare null document, or a member
// name that matches a decoded one only case-insensitively.
func differsByDesign(payload []byte) bool {
	if string(bytes.TrimSpace(payload)) == "null" {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, ok := tok.(string)
		if !ok {
			continue
		}
		for _, m := range memberNames {
			if name != m && strings.EqualFold(name, m) {
				return true
			}
		}
	}
}

// sameDecision fails unless the scanner's Route and the encoding/json one
// agree: both refuse, or both decide the same thing with the same task.
func sameDecision(t *testing.T, event string, payload []byte) {
	t.Helper()
	d := tasks.Delivery{HookID: "1", ID: "6f7d1d40-0000-4000-8000-000000000000"}
	got, gerr := Route(event, payload, d)
	want, werr := routeStd(event, payload, d)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("%s %q: scanner error %v, encoding/json error %v", event, payload, gerr, werr)
	}
	if gerr != nil {
		if !errors.Is(gerr, ErrMalformed) {
			t.Fatalf("%s: error %v does not wrap ErrMalformed", event, gerr)
		}
		return
	}
	if got.Reason != want.Reason || got.InstallationID != want.InstallationID || got.Repo != want.Repo || (got.Task == nil) != (want.Task == nil) {
		t.Fatalf("%s %q:\nscanner       %+v\nencoding/json %+v", event, payload, got, want)
	}
	if got.Task != nil && (got.Task.Type() != want.Task.Type() || !bytes.Equal(got.Task.Payload(), want.Task.Payload())) {
		t.Fatalf("%s %q: task\nscanner       %s %s\nencoding/json %s %s", event, payload,
			got.Task.Type(), got.Task.Payload(), want.Task.Type(), want.Task.Payload())
	}
}

// fixtures returns the recorded deliveries in testdata and, when
// PANDA_WEBHOOK_FIXTURES names a directory of more (the team's shared set),
// those too, by event name.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if dir := os.Getenv("PANDA_WEBHOOK_FIXTURES"); dir != "" {
		more, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(more) == 0 {
			t.Fatalf("PANDA_WEBHOOK_FIXTURES=%s holds no *.json", dir)
		}
		files = append(files, more...)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

func eventOf(file string) string {
	event, _, _ := strings.Cut(filepath.Base(file), ".")
	return event
}

// TestScannerMatchesEncodingJSON routes every recorded delivery, and each
// with an App installation, both ways.
func TestScannerMatchesEncodingJSON(t *testing.T) {
	for file, data := range fixtures(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			sameDecision(t, eventOf(file), data)
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			m["installation"] = map[string]any{"id": 42, "account": map[string]any{"login": "octo-org"}}
			patched, _ := json.Marshal(m)
			sameDecision(t, eventOf(file), patched)
		})
	}
}

// TestScannerEdges covers what recorded deliveries rarely hold: escapes,
// bytes that are not UTF-8, nulls, repeated members, wrong types, bad syntax.
func TestScannerEdges(t *testing.T) {
	const inst = `"installation":{"id":7},"repository":{"full_name":"o/r"}`
	cases := []struct{ event, payload string }{
		{"push", `{"ref":"refs/heads/main","after":"abc","head_commit":{"id":"abc","message":"fix\n\n\"quoted\" \u00e9\ud83d\ude00 \ud800 \/"},` + inst + `}`},
		{"push", "{\"ref\":\"refs/heads/m\xffain\",\"after\":\"abc\",\"head_commit\":{\"message\":\"caf\xc3\xa9 \xed\xa0\x80\"}," + inst + "}"},
		{"push", `{"ref":"refs/heads/a","ref":"refs/heads/b","after":"x","head_commit":{"id":"1"},"head_commit":null,` + inst + `}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":null,"head_commit":{"message":"m"},` + inst + `,"installation":null}`},
		{"push", `{"r\u0065f":"refs/heads/esc","after":"x","head_commit":{},` + inst + `}`},
		{"push", `{"ref":null,"after":null,"deleted":null,"head_commit":{},"repository":null,"sender":null,` + inst + `}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":{},"installation":{"id":1.0}}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":{},"installation":{"id":1e3}}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":{},"installation":{"id":-0}}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":{},"installation":{"id":99999999999999999999}}`},
		{"push", `{"ref":"refs/heads/a","after":"x","head_commit":{},"installation":{"id":"7"}}`},
		{"push", `{"ref":5,"after":"x","head_commit":{},` + inst + `}`},
		{"push", `{"ref":"refs/heads/a","deleted":"true",` + inst + `}`},
		{"push", `{"ref":"refs/heads/a","head_commit":[],` + inst + `}`},
		{"push", `{"ref":"refs/heads/a","repository":"o/r"}`},
		{"push", `{"unknown":{"a":[1,2,{"b":[true,false,null,-1.5e+3,"x\"y"]}],"c":{}},"ref":"refs/heads/a","after":"x","head_commit":{},` + inst + `}`},
		{"push", `{"unknown":[1,],"ref":"refs/heads/a"}`},
		{"push", `{"unknown":{"a":1,},"ref":"refs/heads/a"}`},
		{"push", `{"unknown":01}`},
		{"push", `{"unknown":1.}`},
		{"push", `{"unknown":"tab	in string"}`},
		{"push", `{"unknown":"\x"}`},
		{"push", `{"unknown":"\u12"}`},
		{"push", `{"unknown":tru}`},
		{"push", `{"ref":"refs/heads/a"} {}`},
		{"push", `{"ref":"refs/heads/a"}` + " \n\t\r"},
		{"push", ` {"ref":"refs/heads/a"`},
		{"push", `[]`},
		{"push", `"push"`},
		{"push", ``},
		{"push", strings.Repeat("[", 20000) + strings.Repeat("]", 20000)},
		{"push", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`},
		{"push", `{"x":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat("}", 500) + `}`},
		{"issue_comment", `{"action":"created","issue":{"number":3,"pull_request":{"url":"u"}},"comment":{"id":9,"body":"/deploy\r\nstaging","user":{"login":"a","type":"User"}},"sender":{"type":"User"},` + inst + `}`},
		{"issue_comment", `{"action":"created","issue":{"number":3,"pull_request":null},"comment":{"id":9,"body":"/deploy","user":{"login":"a"}},` + inst + `}`},
		{"issue_comment", `{"action":"created","issue":{"number":3.5},"comment":{"body":"/deploy"},` + inst + `}`},
		{"issue_comment", `{"action":"created","issue":{"number":9223372036854775807},"comment":{"body":"/deploy"},` + inst + `}`},
		{"check_run", `{"action":"requested_action","check_run":{"id":5,"external_id":"d","head_sha":"s"},"requested_action":{"identifier":"rollback"},"sender":{"login":"x"},` + inst + `}`},
		{"check_run", `{"action":"requested_action","check_run":{"id":5},"requested_action":null,` + inst + `}`},
		{"check_suite", `{"action":"rerequested","check_suite":{"id":5,"head_sha":"s"},` + inst + `}`},
		{"installation", `{"action":"created","installation":{"id":3,"account":{"login":"o"},"repository_selection":"selected"},"repositories":[{"full_name":"o/a"},{"full_name":"o/b"}]}`},
		{"installation", `{"action":"created","installation":{"id":3},"repositories":[{"full_name":"o/a"}],"repositories":null}`},
		{"installation", `{"action":"created","installation":{"id":3},"repositories":[]}`},
		{"installation", `{"action":"created","installation":{"id":3},"repositories":[1]}`},
		{"installation", `{"action":"created","installation":{"id":3},"repositories":{}}`},
		{"installation_repositories", `{"action":"added","installation":{"id":3},"repository_selection":"all","repositories_added":[{"full_name":"o/a"}],"repositories_removed":[]}`},
		{"installation", `{"action":"created","installation":{}}`},
	}
	for _, c := range cases {
		sameDecision(t, c.event, []byte(c.payload))
	}
}

// TestScannerRefusesByDesign pins the two places where the scanner is
// stricter than encoding/json.
func TestScannerRefusesByDesign(t *testing.T) {
	d := tasks.Delivery{HookID: "1", ID: "x"}
	if _, err := Route("push", []byte(" null "), d); !errors.Is(err, ErrMalformed) {
		t.Errorf("null push: err %v, want ErrMalformed", err)
	}
	dec, err := Route("push", []byte(`{"REF":"refs/heads/main","after":"a","head_commit":{},"installation":{"id":1}}`), d)
	if err != nil || dec.Task != nil {
		t.Errorf("push with REF: %+v, %v; want ignored (REF is not ref)", dec, err)
	}
}

// FuzzScanner checks that the scanner decides every payload as encoding/json
// would, apart from the differences scan.go names.
func FuzzScanner(f *testing.F) {
	for file, data := range fixtures(f) {
		f.Add(eventOf(file), data)
	}
	f.Add("push", []byte(`{"ref":"refs/heads/a","after":"x","head_commit":{"message":"a\nb"},"installation":{"id":1}}`))
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		if differsByDesign(payload) {
			return
		}
		sameDecision(t, event, payload)
	})
}

// TestPlain8 holds the eight-byte test to the byte table, for every byte in
// every lane.
func TestPlain8(t *testing.T) {
	for c := range 256 {
		for lane := range 8 {
			b := []byte("abcdefgh")
			b[lane] = byte(c)
			if got, want := plain8(binary.LittleEndian.Uint64(b)), plainByte[c]; got != want {
				t.Fatalf("byte %#x in lane %d: plain8 %v, plainByte %v", c, lane, got, want)
			}
		}
	}
}
