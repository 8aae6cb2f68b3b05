//go:build !linux

package testenv

import "syscall"

// killWithParent has no portable equivalent outside Linux; Cleanup still stops the
// server whenever the test ends normally.
func killWithParent() *syscall.SysProcAttr { return nil }
