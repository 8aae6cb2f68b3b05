//go:build !unix

package source

import "os/exec"

// killTree leaves the default cancellation (kill git itself) where process
// groups do not exist; WaitDelay still bounds the wait for its children.
func killTree(cmd *exec.Cmd) {}
