package demo

import (
	"fmt"
	"html"
	"strings"
)

// cluster is the ECS cluster of the sample's environments.
const cluster = "demo"

// environments are the sample's .panda.yml environments: production deploys
// every push to main; preview only on `/deploy preview`.
var environments = []struct{ name, branch, service string }{
	{name: "production", branch: "main", service: "hello"},
	{name: "preview", service: "hello-preview"},
}

// pandaYAML is the sample repository's .panda.yml for the AWS test server's
// region and state machine.
func pandaYAML(region, stateMachine string) string {
	var b strings.Builder
	b.WriteString("# Panda deploys this repository to ECS: see the README of Panda.\nenvironments:\n")
	for _, e := range environments {
		fmt.Fprintf(&b, "  %s:\n", e.name)
		if e.branch != "" {
			fmt.Fprintf(&b, "    branch: %s\n", e.branch)
		}
		fmt.Fprintf(&b, "    region: %s\n    state_machine_arn: %s\n    cluster: %s\n    service: %s\n    task_family: %s\n    container_port: 8080\n    desired_count: 2\n",
			region, stateMachine, cluster, e.service, e.service)
	}
	return b.String()
}

// sampleFiles is the sample application: a static page served by busybox
// httpd, built FROM the base image the demo imported (nothing can be pulled).
func sampleFiles(base string) map[string]string {
	return map[string]string{
		"Dockerfile": `FROM ` + base + `
COPY index.html /www/index.html
RUN echo "built by Panda's demo" > /www/built.txt && ls /www
EXPOSE 8080
CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
`,
		".dockerignore": "README.md\n",
		"README.md":     "# hello\n\nThe sample application of Panda's demo.\n",
		"index.html":    indexHTML("Hello from Panda"),
	}
}

func indexHTML(greeting string) string {
	return "<!DOCTYPE html>\n<title>hello</title>\n<h1>" + html.EscapeString(greeting) + "</h1>\n"
}
