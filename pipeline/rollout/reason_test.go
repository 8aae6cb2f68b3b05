package rollout_test

import (
	"reflect"
	"testing"

	"github.com/pandadeploy/panda/pipeline/rollout"
)

func TestParseReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   rollout.Failure
		want rollout.Reason
	}{
		{name: "rolled_back_with_stopped_tasks",
			in: rollout.Failure{State: "DeploymentFailed", Error: "Panda.DeploymentRolledBack",
				Cause: "BlueGreenDeployment failed: ECS rolled back the service deployment: threshold exceeded. The service deployment ended ROLLBACK_SUCCESSFUL. Stopped tasks: Task failed ELB health checks in (target-group tg); CannotPullContainerError: x."},
			want: rollout.Reason{Step: "BlueGreenDeployment", Error: "Panda.DeploymentRolledBack", Summary: "ECS rolled back the service deployment: threshold exceeded.",
				FinalStatus: "ROLLBACK_SUCCESSFUL", StoppedTasks: []string{"Task failed ELB health checks in (target-group tg)", "CannotPullContainerError: x"}}},
		{name: "rollback_failed_too",
			in: rollout.Failure{State: "DeploymentFailed", Error: "Panda.DeploymentTimedOut",
				Cause: "BlueGreenDeployment failed: still IN_PROGRESS. The rollback failed too: Ecs.AccessDeniedException: no"},
			want: rollout.Reason{Step: "BlueGreenDeployment", Error: "Panda.DeploymentTimedOut", Summary: "still IN_PROGRESS.", RollbackFailure: "Ecs.AccessDeniedException: no"}},
		{name: "another_shape", in: rollout.Failure{State: "UpdateService", Error: "States.TaskFailed", Cause: "service web not found"},
			want: rollout.Reason{Step: "UpdateService", Error: "States.TaskFailed", Summary: "service web not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rollout.ParseReason(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReason = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
