package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/pandadeploy/panda/internal/testenv"
)

// privateEngine is a dockerd of one test's own, so the test can kill and
// restart it without touching the engine the other tests share. It keeps its
// images, containers and its supervised containerd under one directory.
type privateEngine struct {
	t    *testing.T
	bin  string
	dir  string
	host string // DOCKER_HOST of the engine: unix://…/docker.sock

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrivateEngine starts a dockerd for t and waits until it answers. It
// needs root and dockerd on PATH: without them the test fails under CI and is
// skipped elsewhere. The engine is stopped, and its directory unmounted and
// removed, when the test ends.
func startPrivateEngine(t *testing.T) *privateEngine {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	testenv.RequireService(t, "dockerd", err)
	if os.Geteuid() != 0 {
		testenv.RequireService(t, "a private dockerd", errors.New("it runs as root only"))
	}
	// A short path: containerd's sockets under it must fit in a socket address.
	dir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		t.Fatal(err)
	}
	e := &privateEngine{t: t, bin: bin, dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock")}
	t.Cleanup(func() {
		e.stop(syscall.SIGTERM)
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the private engine's directory: %v", err)
		}
	})
	e.start()
	return e
}

// start runs dockerd and waits until it answers a ping.
func (e *privateEngine) start() {
	e.t.Helper()
	logf, err := os.OpenFile(filepath.Join(e.dir, "dockerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(e.bin,
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"),
		"--host", e.host,
		"--storage-driver=vfs", "--iptables=false", "--ip-masq=false", "--bridge=none",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Gone with the test binary, even when Cleanup does not run; its
	// containerd goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start dockerd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()

	cli := e.client()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			e.t.Fatalf("dockerd exited at start; log:\n%s", e.logTail())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("dockerd did not answer within a minute: %v; log:\n%s", err, e.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends dockerd with sig (SIGKILL plays a crash) and waits for it to exit.
func (e *privateEngine) stop(sig syscall.Signal) {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	e.forgetContainerd()
}

// forgetContainerd waits for the engine's containerd to die (it goes with
// dockerd) and removes its pid file. Otherwise a restarted dockerd finds the
// pid of the dead containerd, a zombie until init reaps it, takes it for a
// running one and waits in vain for its socket.
func (e *privateEngine) forgetContainerd() {
	pidFile := filepath.Join(e.dir, "exec", "containerd", "containerd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	stat := filepath.Join("/proc", strings.TrimSpace(string(b)), "stat")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s, err := os.ReadFile(stat)
		// The state follows the parenthesised command name: "pid (comm) Z …".
		if err != nil || strings.HasPrefix(string(s[strings.LastIndexByte(string(s), ')')+1:]), " Z") {
			break
		}
	}
	_ = os.Remove(pidFile)
}

// client returns a client of the engine, closed when the test ends.
func (e *privateEngine) client() *client.Client {
	e.t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(e.host), client.WithAPIVersionNegotiation())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cli.Close() })
	return cli
}

func (e *privateEngine) logTail() string {
	b, err := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), 3000)
}

// unmountUnder detaches every mount at or under dir, deepest first: dockerd
// bind-mounts its data root onto itself and leaves it mounted when killed.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
