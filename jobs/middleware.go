package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/pandadeploy/panda/tasks"
)

// LogTasks is an Asynq middleware that logs each task's end with its type,
// TaskID, deployment id (when the payload names one), attempt and duration.
func LogTasks(logger *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			id, _ := asynq.GetTaskID(ctx)
			retry, _ := asynq.GetRetryCount(ctx)
			var ids struct {
				DeploymentID string         `json:"deploymentId"`
				Delivery     tasks.Delivery `json:"delivery"`
			}
			_ = json.Unmarshal(t.Payload(), &ids)
			log := logger.With("task_type", t.Type(), "task_id", id, "attempt", retry+1)
			if ids.DeploymentID != "" {
				log = log.With("deployment_id", ids.DeploymentID)
			}
			if ids.Delivery.ID != "" {
				log = log.With("delivery_id", ids.Delivery.ID)
			}
			err := next.ProcessTask(ctx, t)
			if err != nil {
				log.Warn("task failed", "err", err, "took", time.Since(start).Round(time.Millisecond))
			} else {
				log.Debug("task done", "took", time.Since(start).Round(time.Millisecond))
			}
			return err
		})
	}
}

// AsynqLogger adapts slog to Asynq's logger.
type AsynqLogger struct{ L *slog.Logger }

func (a AsynqLogger) Debug(args ...any) { a.L.Debug(fmt.Sprint(args...)) }
func (a AsynqLogger) Info(args ...any)  { a.L.Info(fmt.Sprint(args...)) }
func (a AsynqLogger) Warn(args ...any)  { a.L.Warn(fmt.Sprint(args...)) }
func (a AsynqLogger) Error(args ...any) { a.L.Error(fmt.Sprint(args...)) }
func (a AsynqLogger) Fatal(args ...any) { a.L.Error(fmt.Sprint(args...)) }

// IsFailure tells Asynq which errors count as failures for its statistics:
// a skipped retry of bad input is not the system failing.
func IsFailure(err error) bool { return !errors.Is(err, asynq.SkipRetry) }
