package testenv

import "syscall"

// killWithParent makes the kernel kill a child when the test binary dies, so a test
// that panics or times out leaves no redis-server behind (Cleanup does not run then).
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
