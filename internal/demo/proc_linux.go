package demo

import "syscall"

// childAttr makes the kernel stop a binary if the demo dies without cleaning
// up (SIGKILL, a crash), so no app or worker is left holding its port.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
