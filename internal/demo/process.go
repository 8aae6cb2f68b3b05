package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one of Panda's binaries run by the demo.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

// stopTimeout is how long a binary may take to shut down gracefully; the
// worker waits for its running tasks.
const stopTimeout = 20 * time.Second

// startBinaries runs the app and the worker with the environment that points
// them at the demo's servers, and waits for the app to be ready. They are
// stopped (SIGTERM, then SIGKILL) when the session closes.
func (d *demo) startBinaries(ctx context.Context) error {
	fmt.Fprintln(d.opts.Out, "==> Starting Panda's app and worker")
	if err := lookGit(); err != nil {
		return err
	}
	d.appAddr = d.opts.AppAddr
	if d.appAddr == "" {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		d.appAddr = addr
	}
	var env []string
	if err := d.s.catch(func() { env = d.env() }); err != nil {
		return err
	}
	for _, b := range []struct{ name, path string }{{"app", d.opts.AppBinary}, {"worker", d.opts.WorkerBinary}} {
		p, err := d.start(b.name, b.path, env)
		if err != nil {
			return err
		}
		d.procs = append(d.procs, p)
	}
	return d.waitReady(ctx)
}

// env is the binaries' environment: Panda's configuration against the demo's
// servers, with this run's secrets.
func (d *demo) env() []string {
	creds := d.aws.Credentials()
	env := []string{
		"PATH=" + d.opts.PATH,
		"HOME=" + d.s.TempDir(),
		"PANDA_ADDR=" + d.appAddr,
		"PANDA_REDIS_URL=" + d.redis,
		"PANDA_PUBLIC_URL=http://" + d.appAddr,
		"PANDA_API_TOKEN=" + d.token,
		"PANDA_WORK_DIR=" + d.s.TempDir(),
		// RUN steps on BuildKit need no network here: dockerd runs with
		// --bridge=none (scripts/lib.sh), so the default bridge does not exist.
		"PANDA_BUILD_NETWORK=none",
		"PANDA_WORKER_METRICS_ADDR=off",
		"GITHUB_WEBHOOK_SECRET=" + d.secret,
		"GITHUB_APP_ID=" + fmt.Sprint(d.gh.AppID()),
		"GITHUB_APP_PRIVATE_KEY=" + string(d.gh.PrivateKeyPEM()),
		"GITHUB_URL=" + d.git.URL(),
		"GITHUB_API_URL=" + d.gh.URL(),
		"AWS_ENDPOINT_URL=" + d.aws.URL,
		"AWS_REGION=" + d.aws.Region(),
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if d.opts.DockerHost != "" {
		env = append(env, "DOCKER_HOST="+d.opts.DockerHost)
	}
	return env
}

func (d *demo) start(name, path string, env []string) (*process, error) {
	out := &prefixWriter{w: d.opts.Logs, prefix: fmt.Sprintf("%-7s | ", name)}
	cmd := exec.Command(path) // #nosec G204 -- the binary the demo was told to run
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.flush()
		close(p.done)
	}()
	d.s.Cleanup(p.stop)
	return p, nil
}

// stop asks the process to shut down and kills it after stopTimeout.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited returns a channel closed when any of the binaries exits, with the
// first one's error.
func (d *demo) exited() <-chan error {
	ch := make(chan error, len(d.procs))
	for _, p := range d.procs {
		go func() {
			<-p.done
			ch <- fmt.Errorf("%s %w: %v", p.name, errExited, p.err)
		}()
	}
	return ch
}

func (d *demo) waitReady(ctx context.Context) error {
	exited := d.exited()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.appAddr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return err
		case <-ctx.Done():
			return fmt.Errorf("wait for the app at %s to be ready: %w", d.appAddr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deployment is what the API says of a deployment.
type deployment struct {
	ID          string `json:"deploymentId"`
	Status      string `json:"status"`
	Environment string `json:"environment"`
}

// deployments lists the deployments of sha through the API, as a script would.
func (d *demo) deployments(ctx context.Context, sha string) ([]deployment, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.appAddr+"/api/v1/deployments?repo="+Repo+"&sha="+sha, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Data []deployment `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list deployments: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return env.Data, nil
}

// waitDeployment waits for the deployment the push of sha made.
func (d *demo) waitDeployment(ctx context.Context, sha string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		deps, err := d.deployments(ctx, sha)
		if err == nil && len(deps) > 0 {
			return deps[0].ID, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for the deployment of %s: %w (last: %v)", sha[:7], ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watch prints each deployment's status as it changes until ctx is done. It
// returns an error only if a binary exits first.
func (d *demo) watch(ctx context.Context, mainSHA string) error {
	exited := d.exited()
	seen := map[string]string{}
	for {
		shas := []string{mainSHA}
		if head, ok := d.gitHead("hello-world"); ok {
			shas = append(shas, head)
		}
		for _, sha := range shas {
			deps, _ := d.deployments(ctx, sha)
			for _, dep := range deps {
				if seen[dep.ID] != dep.Status {
					seen[dep.ID] = dep.Status
					fmt.Fprintf(d.opts.Out, "    %s %s (%s): %s\n", dep.ID, dep.Environment, sha[:7], dep.Status)
				}
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.opts.Out, "==> Stopping")
			return nil
		case err := <-exited:
			return err
		case <-time.After(time.Second):
		}
	}
}

// gitHead is the head of branch, without failing the session.
func (d *demo) gitHead(branch string) (sha string, ok bool) {
	_ = d.s.catch(func() { sha, ok = d.repo.Head(branch) })
	return sha, ok
}

// prefixWriter writes each complete line to w with prefix, one Write per
// line; w is shared by several prefixWriters and must be safe for that.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit(string(p.buf))
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line string) {
	_, _ = io.WriteString(p.w, p.prefix+strings.TrimRight(line, "\r")+"\n")
}
