// Command demo runs Panda's demo (package internal/demo) until Ctrl-C:
//
//	bash scripts/dev.sh demo
//
// which builds it with the app and the worker and runs
//
//	bin/demo -app bin/app -worker bin/worker -logs .dev/demo.log
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pandadeploy/panda/internal/demo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	app := flag.String("app", "bin/app", "Panda's app binary")
	worker := flag.String("worker", "bin/worker", "Panda's worker binary")
	addr := flag.String("addr", "127.0.0.1:8080", "where the app listens (127.0.0.1:0: any free port)")
	logs := flag.String("logs", "", "file the binaries' and servers' logs are appended to (empty: standard error)")
	step := flag.Duration("step", 300*time.Millisecond, "time between two events of a Step Functions execution")
	flag.Parse()
	if flag.NArg() > 0 {
		return errors.New("no arguments expected; see -help")
	}
	var logw io.Writer = os.Stderr
	if *logs != "" {
		f, err := os.OpenFile(*logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
		fmt.Printf("==> Logs: %s\n", *logs)
	}
	if *addr == "127.0.0.1:0" {
		*addr = ""
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo.Run(ctx, demo.Options{
		AppBinary: *app, WorkerBinary: *worker, Out: os.Stdout, Logs: logw,
		AppAddr: *addr, Step: *step, PATH: os.Getenv("PATH"), DockerHost: os.Getenv("DOCKER_HOST"),
	})
}
