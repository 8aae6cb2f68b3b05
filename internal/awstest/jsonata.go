package awstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// evaluator evaluates JSONata expressions with the reference implementation:
// one long-lived node process running jsonata/eval.js, spoken to in JSON
// lines. Step Functions implements JSONata 2.0.6 ("Transforming data with
// JSONata in Step Functions"), the version jsonata/package-lock.json pins, so
// expressions behave here as they do in AWS, which a Go re-implementation
// could only approximate. It is safe for concurrent use: requests are
// serialised.
type evaluator struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	nextID int64
}

// errJSONataMissing says the reference implementation is not installed.
var errJSONataMissing = errors.New("awstest: the jsonata npm module is not installed (run: cd internal/awstest/jsonata && npm ci)")

// jsonataDir is internal/awstest/jsonata in the source tree this package was
// built from: tests of other packages run in their own directories.
func jsonataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "jsonata")
}

// startEvaluator starts node with eval.js; the process ends when ctx is done.
func startEvaluator(ctx context.Context) (*evaluator, error) {
	dir := jsonataDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jsonata", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: %v", errJSONataMissing, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJSONataMissing, err)
	}
	// #nosec G204 -- node and a script of this package, no outside input.
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "eval.js"))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	return &evaluator{cmd: cmd, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<20)}, nil
}

// close ends the node process.
func (e *evaluator) close() {
	_ = e.stdin.Close()
	_ = e.cmd.Wait()
}

// jsonataError is an expression that JSONata refused or failed to evaluate.
type jsonataError struct{ Code, Message string }

func (e *jsonataError) Error() string { return e.Code + ": " + e.Message }

// eval evaluates expr with bindings (variable name → value, without the $).
// defined is false when the result is undefined.
func (e *evaluator) eval(expr string, bindings map[string]any) (value json.RawMessage, defined bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	req, err := json.Marshal(map[string]any{"id": e.nextID, "expr": expr, "bindings": bindings})
	if err != nil {
		return nil, false, fmt.Errorf("encode bindings: %w", err)
	}
	if _, err := e.stdin.Write(append(req, '\n')); err != nil {
		return nil, false, fmt.Errorf("write to node: %w", err)
	}
	line, err := e.out.ReadBytes('\n')
	if err != nil {
		return nil, false, fmt.Errorf("read from node: %w", err)
	}
	var ans struct {
		ID    int64           `json:"id"`
		Value json.RawMessage `json:"value"`
		Error *jsonataError   `json:"error"`
	}
	if err := json.Unmarshal(line, &ans); err != nil || ans.ID != e.nextID {
		return nil, false, fmt.Errorf("bad answer from node: %q", line)
	}
	if ans.Error != nil {
		return nil, false, ans.Error
	}
	return ans.Value, len(ans.Value) > 0, nil
}
