package rollout

import (
	"encoding/json"
	"strings"
	"time"
)

// What the history says of the ECS service deployment. The resource names
// are the AWS SDK integration's (arn:aws:states:::aws-sdk:ecs:updateService
// → resource "updateService"), and parameters and outputs are the ECS API's
// shapes with PascalCase member names (Step Functions developer guide, "AWS
// SDK service integrations"), so this reads any definition that calls ECS
// through the SDK integration, not only Panda's.

// defaultHookTimeout is a lifecycle hook's timeout when its configuration
// names none: ECS API reference, DeploymentLifecycleHookTimeoutConfiguration
// timeoutInMinutes, "Default: 1440 (24 hours)".
const defaultHookTimeout = 1440 * time.Minute

// scheduled folds a TaskScheduled event in.
func (c *Cursor) scheduled(resource, parameters string) {
	switch resource {
	case "updateService":
		c.Updating = true
		var in struct {
			DeploymentConfiguration *struct {
				BakeTimeInMinutes *int
				LifecycleHooks    []struct {
					LifecycleStages      []string
					TimeoutConfiguration *struct{ TimeoutInMinutes *int }
				}
			}
		}
		if json.Unmarshal([]byte(parameters), &in) != nil || in.DeploymentConfiguration == nil {
			return
		}
		cfg := in.DeploymentConfiguration
		var allow time.Duration
		if cfg.BakeTimeInMinutes != nil {
			allow += time.Duration(*cfg.BakeTimeInMinutes) * time.Minute
		}
		for _, h := range cfg.LifecycleHooks {
			t := defaultHookTimeout
			if h.TimeoutConfiguration != nil && h.TimeoutConfiguration.TimeoutInMinutes != nil {
				t = time.Duration(*h.TimeoutConfiguration.TimeoutInMinutes) * time.Minute
			}
			allow += t * time.Duration(len(h.LifecycleStages))
		}
		c.ECSAllowance = allow
	case "describeServiceDeployments", "stopServiceDeployment":
		var in struct {
			ServiceDeploymentArns []string
			ServiceDeploymentArn  string
		}
		if json.Unmarshal([]byte(parameters), &in) != nil {
			return
		}
		// Only an ARN: a definition's unevaluated template is none.
		if len(in.ServiceDeploymentArns) > 0 && strings.HasPrefix(in.ServiceDeploymentArns[0], "arn:") {
			c.ServiceDeploymentARN = in.ServiceDeploymentArns[0]
		} else if strings.HasPrefix(in.ServiceDeploymentArn, "arn:") {
			c.ServiceDeploymentARN = in.ServiceDeploymentArn
		}
	}
}

// succeeded folds a TaskSucceeded event in: UpdateService's answer names
// the deployment it started (ECS API reference, Service.currentServiceDeployment),
// when ECS has created it by then.
func (c *Cursor) succeeded(resource, output string) {
	if resource != "updateService" {
		return
	}
	c.Updated = true
	var out struct {
		Service struct{ CurrentServiceDeployment string }
	}
	if json.Unmarshal([]byte(output), &out) == nil && strings.HasPrefix(out.Service.CurrentServiceDeployment, "arn:") {
		c.ServiceDeploymentARN = out.Service.CurrentServiceDeployment
	}
}
