//go:build !linux

package demo

import "syscall"

// childAttr is nil where the kernel cannot stop children with their parent.
func childAttr() *syscall.SysProcAttr { return nil }
