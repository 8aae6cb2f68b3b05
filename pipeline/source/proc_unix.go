//go:build unix

package source

import (
	"os/exec"
	"syscall"
)

// killTree makes cmd's cancellation kill its whole process group. git runs
// its transport (git-remote-http) as a child process; killing git alone
// would leave that child fetching from the server after a cancel, for as
// long as the server keeps the connection, so git gets a group of its own
// and a cancel kills the group.
func killTree(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is git's pid (Setpgid with Pgid 0).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
