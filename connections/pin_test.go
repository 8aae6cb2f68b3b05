package connections_test

import (
	"errors"
	"testing"

	"github.com/pandadeploy/panda/connections"
)

// TestAWSForDeploymentKeepsWhatItStartedWith checks the copy a deployment
// takes of its connection: it outlives a deletion and a replacement, for that
// deployment only, read by any worker (a fresh Store on the same Redis).
func TestAWSForDeploymentKeepsWhatItStartedWith(t *testing.T) {
	t.Parallel()
	s := newStore(t, true)
	ctx := t.Context()
	old := connections.AWS{Name: "prod", AccessKeyID: "AKIAOLD0000000000000", SecretAccessKey: "old-secret", SessionToken: "old-token"}
	if err := s.PutAWS(ctx, old); err != nil {
		t.Fatal(err)
	}
	const running, later = "dep_Running000", "dep_Later00000"
	got, err := s.AWSForDeployment(ctx, "prod", running)
	if err != nil || got.SecretAccessKey != "old-secret" || got.SessionToken != "old-token" {
		t.Fatalf("first read: %+v, %v", got, err)
	}
	if err := s.PutAWS(ctx, connections.AWS{Name: "prod", AccessKeyID: "AKIANEW0000000000000", SecretAccessKey: "new-secret"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AWSForDeployment(ctx, "prod", running); err != nil || got.AccessKeyID != "AKIAOLD0000000000000" {
		t.Errorf("after a replacement the running deployment reads %s, %v; want the old key", got.AccessKeyID, err)
	}
	if got, err := s.AWSForDeployment(ctx, "prod", later); err != nil || got.AccessKeyID != "AKIANEW0000000000000" {
		t.Errorf("a later deployment reads %s, %v; want the new key", got.AccessKeyID, err)
	}
	if err := s.DeleteAWS(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AWSForDeployment(ctx, "prod", running); err != nil || got.SecretAccessKey != "old-secret" {
		t.Errorf("after the deletion the running deployment reads %+v, %v", got, err)
	}
	if _, err := s.AWSForDeployment(ctx, "prod", "dep_Fresh00000"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("a new deployment after the deletion: %v, want ErrNotFound", err)
	}
	if _, err := s.AWSForDeployment(ctx, "prod", "not-a-deployment"); err == nil {
		t.Error("a malformed deployment id was accepted")
	}
}
