package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// sockSuffix ends the name of every listener socket in the directory.
const sockSuffix = ".sock"

// maxSunPath is the longest path a Linux sockaddr_un holds, less its NUL.
const maxSunPath = 107

// withSockPath calls fn with a path naming dir/name that fits in a
// sockaddr_un. Longer paths go through /proc/self/fd/N/name, N being an
// open descriptor of dir held open for the duration of fn.
func withSockPath(dir, name string, fn func(path string) error) error {
	full := filepath.Join(dir, name)
	if len(full) <= maxSunPath {
		return fn(full)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	short := fmt.Sprintf("/proc/self/fd/%d/%s", fd, name)
	if len(short) > maxSunPath {
		return fmt.Errorf("notify: socket name %q too long", name)
	}
	return fn(short)
}

// dial returns a non-blocking datagram socket connected to dir/name. The
// error is the bare errno (ENOENT, ECONNREFUSED, EACCES...) so that callers
// can tell a vanished socket from a dead one.
func dial(dir, name string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	err = withSockPath(dir, name, func(path string) error {
		for {
			err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
			if err != syscall.EINTR {
				return err
			}
		}
	})
	if err != nil {
		syscall.Close(fd)
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return -1, err
	}
	return fd, nil
}

// send writes one datagram without ever blocking (MSG_DONTWAIT): a full
// receiver yields EAGAIN.
func send(fd int, b []byte) error {
	for {
		err := syscall.Sendto(fd, b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, nil)
		if err != syscall.EINTR {
			return err
		}
	}
}

// isSockName reports whether a directory entry name is a listener socket's.
func isSockName(name string) bool {
	return strings.HasSuffix(name, sockSuffix) && !strings.HasPrefix(name, ".")
}
