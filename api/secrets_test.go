package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSecretsNeverShown registers connections with secrets through the API
// and then looks for those secrets everywhere they must not be: in Redis (they
// are stored encrypted), in every answer and in the logs.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const (
		externalID = "ext-id-7f3a9c2e"
		keyID      = "AKIAZZZZ7777QQQQ3333"
		secretKey  = "s3cr3tAccessKey/With+Chars0123456789abcd"
		ghToken    = "ghp_SECRETtoken0123456789abcdefghij"
	)
	var answers []string
	record := func(a answer) { answers = append(answers, a.Raw, fmt.Sprint(a.Header)) }
	record(e.do("POST", "/api/v1/connect/aws", `{"name":"prod","roleArn":"arn:aws:iam::210987654321:role/panda","externalId":"`+externalID+`"}`, bearer(token)))
	record(e.do("POST", "/api/v1/connect/aws", `{"name":"ci","accessKeyId":"`+keyID+`","secretAccessKey":"`+secretKey+`"}`, bearer(token)))
	record(e.do("POST", "/api/v1/connect/github", `{"repo":"octo/app","token":"`+ghToken+`"}`, bearer(token)))
	// Failures log: make some, with the secrets in the request.
	e.verifier.err = errors.New("dial tcp 127.0.0.1:1: connection refused")
	record(e.do("POST", "/api/v1/connect/aws", `{"name":"ci2","accessKeyId":"`+keyID+`","secretAccessKey":"`+secretKey+`"}`, bearer(token)))
	record(e.do("POST", "/api/v1/connect/aws", `{"name":"ci3","accessKeyId":"`+keyID+`","secretAccessKey":"`+secretKey+`","x":1}`, bearer(token)))
	record(e.do("GET", "/api/v1/connections", "", bearer(token)))
	record(e.do("POST", "/api/v1/deploy", `{"githubConnectionId":"octo/app","awsConnectionId":"ci","branch":"main"}`, bearer(token)))
	record(e.do("GET", "/api/v1/deployments", "", bearer(token)))
	record(e.do("GET", "/metrics", "", ""))

	// The connections were stored: the worker can read them back.
	aws, err := e.conns.AWS(t.Context(), "ci")
	if err != nil || aws.SecretAccessKey.Reveal() != secretKey || aws.AccessKeyID.Reveal() != keyID {
		t.Fatalf("stored keys not readable by the worker: %v", err)
	}
	if role, err := e.conns.AWS(t.Context(), "prod"); err != nil || role.ExternalID.Reveal() != externalID {
		t.Fatalf("stored external id not readable: %v", err)
	}
	// And the deployer was told the name, never the keys.
	if reqs := e.deployer.requests(); len(reqs) != 1 || strings.Contains(fmt.Sprintf("%+v", reqs[0]), secretKey) {
		t.Errorf("deploy requests %+v", reqs)
	}

	dump := dumpRedis(t, e)
	for _, secret := range []string{externalID, keyID, secretKey, ghToken} {
		if strings.Contains(dump, secret) {
			t.Errorf("Redis holds %q in clear", secret)
		}
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Errorf("an answer shows %q: %s", secret, a)
			}
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, e.logs.String())
		}
		if s := fmt.Sprintf("%v %+v %#v", aws, aws, aws); strings.Contains(s, secret) {
			t.Errorf("printing a connection shows %q", secret)
		}
	}
	if !strings.Contains(e.logs.String(), "verify AWS connection") {
		t.Errorf("the failure was not logged, so the log check proves nothing:\n%s", e.logs.String())
	}
}

// dumpRedis returns every key and value in the test's Redis as text.
func dumpRedis(t *testing.T, e *testEnv) string {
	t.Helper()
	ctx := t.Context()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("Redis is empty: nothing was stored")
	}
	var b strings.Builder
	for _, k := range keys {
		typ, _ := e.rdb.Type(ctx, k).Result()
		var v any
		switch typ {
		case "string":
			v, err = e.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = e.rdb.HGetAll(ctx, k).Result()
		case "set":
			v, err = e.rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = e.rdb.ZRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = e.rdb.XRange(ctx, k, "-", "+").Result()
		case "list":
			v, err = e.rdb.LRange(ctx, k, 0, -1).Result()
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %v\n", k, typ, v)
	}
	return b.String()
}
