package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// deliveries makes unique signed push deliveries from one recorded payload:
// each has its own delivery id and its own head commit, as a stream of real
// pushes would.
type deliveries struct {
	secret   []byte
	template []byte // the payload with the head commit's SHA as placeholder
	sha      []byte // that SHA
	run      string // distinguishes the delivery ids of this run from earlier ones
}

// delivery is one request's worth: its id, body and signature header.
type delivery struct {
	ID, Signature string
	Body          []byte
}

func newDeliveries(path string, installation int64, secret []byte) (*deliveries, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode payload %s: %w", path, err)
	}
	sha, _ := m["after"].(string)
	if len(sha) != 40 {
		return nil, fmt.Errorf("payload %s is not a push with an after SHA", path)
	}
	// A push of the App carries its installation; the recorded repository
	// webhook does not.
	m["installation"] = map[string]any{"id": installation}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	return &deliveries{secret: secret, template: body, sha: []byte(sha), run: hex.EncodeToString(run)}, nil
}

// make returns delivery i of the run. It is safe for concurrent use.
func (d *deliveries) make(i int) delivery {
	var sha [40]byte
	sum := sha256.Sum256([]byte(d.run + strconv.Itoa(i)))
	hex.Encode(sha[:], sum[:20])
	body := bytes.ReplaceAll(d.template, d.sha, sha[:])
	mac := hmac.New(sha256.New, d.secret)
	mac.Write(body)
	return delivery{
		ID:        fmt.Sprintf("load-%s-%08d", d.run, i),
		Signature: "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		Body:      body,
	}
}
