package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/testenv"
)

// ErrNoQEMU means qemu-system-x86_64 is not on PATH (Debian: qemu-system-x86).
// It wraps ErrUnavailable.
var ErrNoQEMU = fmt.Errorf("%w: qemu-system-x86_64 not found (apt-get install qemu-system-x86, part of `make setup`)", ErrUnavailable)

// Options describe one boot of the VM.
type Options struct {
	// Kernel to boot; nil means FindKernel().
	Kernel *Kernel
	// Builds are Go programs compiled for linux/amd64 with CGO_ENABLED=0 (so they
	// need no libraries in the guest) and put in /usr/local/bin.
	Builds []Build
	// HostPrograms are programs on this machine's PATH (ipvsadm, ip) copied into
	// /usr/local/bin with the shared libraries ldd(1) says they load.
	HostPrograms []string
	// Modules are kernel modules to load at boot, by name (ip_vs, ip_vs_wrr,
	// veth); their dependencies are loaded first, from modules.dep.
	Modules []string
	// Runs are executed one after another in the guest, from /tmp.
	Runs []Command
	// MemoryMB is the guest's memory; zero means 1024.
	MemoryMB int
	// CPUs is the number of guest CPUs; zero means 1. Under TCG each guest CPU
	// can keep a host core busy.
	CPUs int
	// Timeout bounds the whole run, builds included; zero means 10 minutes.
	Timeout time.Duration
	// Console, if set, receives the guest's serial console as it arrives.
	Console io.Writer
}

// Build is a Go program to compile for the guest.
type Build struct {
	// Name is the file name in /usr/local/bin.
	Name string
	// Dir is the directory the go command runs in ("" = the current one); it
	// selects the module, so a package of another module (a benchmark module
	// nested in this repository) builds with that module's go.mod.
	Dir string
	// Package is the package to build, as the go command takes it ("." or
	// "./cmd/x" or an import path).
	Package string
	// Test builds the package's test binary (go test -c) instead of a program.
	Test bool
}

// Command is one program run in the guest.
type Command struct {
	// Name labels the command in results and errors.
	Name string
	// Args is the command line; Args[0] is looked up in the guest's PATH.
	Args []string
	// Env holds extra NAME=value pairs for this command.
	Env []string
}

// Result is what a boot produced.
type Result struct {
	Runs []RunResult
	// Console is the guest's whole serial console output.
	Console string
}

// RunResult is the outcome of one Command.
type RunResult struct {
	Name   string
	Output string // everything the command wrote to stdout and stderr
	Status int    // exit status; -1 when the command never finished
}

// Boot builds the programs, boots the VM, runs the commands and returns their
// outputs. It fails when building fails, when the guest stops before every
// command has reported its exit status, or on timeout; a command that exits
// non-zero is not an error (its Status says so).
func Boot(ctx context.Context, opts Options) (*Result, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, ErrNoQEMU
	}
	k := opts.Kernel
	if k == nil {
		if k, err = FindKernel(); err != nil {
			return nil, err
		}
	}
	if len(opts.Runs) == 0 {
		return nil, errors.New("vmtest: no commands to run")
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "lvskit-vm-")
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	defer os.RemoveAll(dir)

	initrd := filepath.Join(dir, "initrd.cpio")
	if err := buildInitramfs(ctx, initrd, dir, k, opts); err != nil {
		return nil, err
	}

	mem, cpus := opts.MemoryMB, opts.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 1
	}
	cmd := exec.CommandContext(ctx, qemu,
		"-accel", "tcg",
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(cpus),
		"-nographic", "-no-reboot",
		"-nic", "none", // no network device: traffic stays inside the guest
		"-kernel", k.Image,
		"-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1",
	)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest: start qemu: %w", err)
	}
	// Whatever happens below, the qemu process does not outlive Boot.
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	res, done, readErr := readConsole(stdout, opts)
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("vmtest: guest did not finish (%w; timeout %v); console ends with:\n%s", ctx.Err(), timeout, Tail(res.Console, 40))
	case readErr != nil:
		return res, fmt.Errorf("vmtest: read console: %w", readErr)
	case !done:
		return res, fmt.Errorf("vmtest: guest stopped before finishing (qemu: %v %s); console ends with:\n%s",
			waitErr, strings.TrimSpace(stderr.String()), Tail(res.Console, 40))
	}
	return res, nil
}

// Sentinels the guest's /init prints around each command.
const (
	beginMark = "LVSKIT-BEGIN "
	exitMark  = "LVSKIT-EXIT "
	doneMark  = "LVSKIT-DONE"
	failMark  = "LVSKIT-INIT-FAILED "
)

// readConsole splits the serial console into the commands' outputs by the
// sentinel lines. done reports whether the guest got to the end of /init.
func readConsole(r io.Reader, opts Options) (res *Result, done bool, err error) {
	res = &Result{Runs: make([]RunResult, len(opts.Runs))}
	for i, c := range opts.Runs {
		res.Runs[i] = RunResult{Name: c.Name, Status: -1}
	}
	var console, out strings.Builder
	current := -1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		console.WriteString(line)
		console.WriteByte('\n')
		if opts.Console != nil {
			fmt.Fprintln(opts.Console, line)
		}
		// A command whose last line lacks a newline leaves the sentinel at the
		// end of that line, hence Index rather than HasPrefix.
		if i := strings.Index(line, exitMark); i >= 0 && current >= 0 {
			out.WriteString(line[:i])
			if f := strings.Fields(line[i+len(exitMark):]); len(f) == 2 && f[0] == strconv.Itoa(current) {
				if status, err := strconv.Atoi(f[1]); err == nil {
					res.Runs[current].Status = status
				}
			}
			res.Runs[current].Output = strings.TrimSuffix(out.String(), "\n")
			out.Reset()
			current = -1
			continue
		}
		switch {
		case strings.Contains(line, beginMark):
			// The first sentinel shares its line with the firmware's terminal
			// escapes.
			_, n, _ := strings.Cut(line, beginMark)
			if n, err := strconv.Atoi(n); err == nil && n >= 0 && n < len(res.Runs) {
				current = n
			}
		case strings.HasPrefix(line, doneMark):
			done = true
		case strings.HasPrefix(line, failMark):
			res.Console = console.String()
			return res, false, fmt.Errorf("guest init failed: %s", strings.TrimPrefix(line, failMark))
		case current >= 0:
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	if current >= 0 {
		res.Runs[current].Output = out.String()
	}
	res.Console = console.String()
	return res, done, sc.Err()
}

// Tail returns the last lines of s, for failure messages that must not quote a
// whole console.
func Tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// buildInitramfs writes the guest's root file system to path, compiling the Go
// programs into scratch.
func buildInitramfs(ctx context.Context, path, scratch string, k *Kernel, opts Options) error {
	busybox, err := staticBusybox()
	if err != nil {
		return err
	}
	modules, err := k.moduleFiles(opts.Modules)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	defer f.Close()
	a := newCPIOWriter(f)
	a.charDevice("/dev/console", 0o600, 5, 1)
	a.charDevice("/dev/null", 0o666, 1, 3)
	for _, d := range []string{"/proc", "/sys", "/run", "/tmp", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		a.mkdirAll(d)
	}
	a.symlink("/var/run", "/run")
	if err := addHostFile(a, "/bin/busybox", busybox, 0o755); err != nil {
		return err
	}

	var moduleLines []string
	for i, m := range modules {
		data, err := k.readModule(m)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("/lib/modules/lvskit/%03d-%s.ko", i, moduleName(m))
		a.file(name, 0o644, data)
		moduleLines = append(moduleLines, name)
	}

	libs := map[string]bool{}
	for _, prog := range opts.HostPrograms {
		p, err := exec.LookPath(prog)
		if err != nil {
			return fmt.Errorf("%w: host program %s: %v", ErrUnavailable, prog, err)
		}
		if err := addHostFile(a, "/usr/local/bin/"+filepath.Base(p), p, 0o755); err != nil {
			return err
		}
		deps, err := sharedLibraries(p)
		if err != nil {
			return err
		}
		for _, lib := range deps {
			if libs[lib] {
				continue
			}
			libs[lib] = true
			if err := addHostFile(a, lib, lib, 0o755); err != nil {
				return err
			}
		}
	}

	for _, b := range opts.Builds {
		out := filepath.Join(scratch, b.Name)
		if err := goBuild(ctx, b, out); err != nil {
			return err
		}
		if err := addHostFile(a, "/usr/local/bin/"+b.Name, out, 0o755); err != nil {
			return err
		}
		os.Remove(out)
	}

	a.file("/init", 0o755, []byte(initScript(moduleLines, opts.Runs, testenv.Strict())))
	if err := a.close(); err != nil {
		return fmt.Errorf("vmtest: write initramfs: %w", err)
	}
	return f.Close()
}

func addHostFile(a *cpioWriter, name, hostPath string, perm os.FileMode) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	a.file(name, perm, data)
	return nil
}

// staticBusybox finds a busybox that needs no shared libraries: the guest has
// none but those copied for HostPrograms (Debian: busybox-static).
func staticBusybox() (string, error) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("%w: busybox not found (apt-get install busybox-static, part of `make setup`)", ErrUnavailable)
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("vmtest: busybox: %w", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%w: %s is dynamically linked (apt-get install busybox-static)", ErrUnavailable, p)
		}
	}
	return p, nil
}

// sharedLibraries lists the files ldd(1) says prog loads, the dynamic loader
// included, at the paths the loader will look for them in the guest.
func sharedLibraries(prog string) ([]string, error) {
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		// ldd fails on static programs; they need nothing.
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("vmtest: ldd %s: %w", prog, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
		fields := strings.Fields(line)
		for i, f := range fields {
			if strings.HasPrefix(f, "/") && (i == 0 || fields[i-1] == "=>") {
				libs = append(libs, f)
				break
			}
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("vmtest: %s needs a library this machine lacks: %s", prog, strings.TrimSpace(line))
		}
	}
	return libs, nil
}

func goBuild(ctx context.Context, b Build, out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("vmtest: build %s: %w", b.Name, err)
	}
	args := []string{"build", "-o", out, b.Package}
	if b.Test {
		args = []string{"test", "-c", "-o", out, b.Package}
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vmtest: go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// initScript is the guest's /init. Any setup failure prints failMark, which
// ends the run with an error on the host instead of a confusing test result.
// With strict, the guest's commands see LVSKIT_STRICT=1 too, so a test tier
// that cannot run inside the VM fails there instead of skipping.
func initScript(modules []string, runs []Command, strict bool) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc || { echo "` + failMark + `mount /proc"; /bin/busybox poweroff -f; }
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
fail() { echo "` + failMark + `$*"; poweroff -f; sleep 10; }
mount -t sysfs sys /sys || fail mount /sys
mount -t devtmpfs dev /dev || fail mount /dev
mount -t tmpfs run /run || fail mount /run
mount -t tmpfs tmp /tmp || fail mount /tmp
hostname lvskit-vm
ip link set lo up || fail loopback up
`)
	for _, m := range modules {
		fmt.Fprintf(&b, "insmod %s || fail insmod %s\n", m, filepath.Base(m))
	}
	if strict {
		b.WriteString("export LVSKIT_STRICT=1\n")
	}
	b.WriteString("cd /tmp\n")
	for i, r := range runs {
		fmt.Fprintf(&b, "echo %s%d\n", beginMark, i)
		b.WriteString("env")
		for _, e := range r.Env {
			b.WriteString(" " + shellQuote(e))
		}
		for _, a := range r.Args {
			b.WriteString(" " + shellQuote(a))
		}
		b.WriteString(" </dev/null 2>&1\n")
		fmt.Fprintf(&b, "echo \"%s%d $?\"\n", exitMark, i)
	}
	b.WriteString("echo " + doneMark + "\npoweroff -f\nsleep 10\n")
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
