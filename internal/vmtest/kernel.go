package vmtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnavailable is wrapped by every error that means this machine lacks
// something the VM needs (qemu, busybox, the kernel, a host program), as
// opposed to a failure of the run itself. `make setup` installs all of it.
var ErrUnavailable = errors.New("vmtest: prerequisite missing")

// ErrNoKernel means the VM's kernel has not been fetched; scripts/vm-assets.sh
// (run by `make setup`) fetches it. It wraps ErrUnavailable.
var ErrNoKernel = fmt.Errorf("%w: kernel not found (run scripts/vm-assets.sh, part of `make setup`)", ErrUnavailable)

// DefaultCacheDir is where scripts/vm-assets.sh puts the kernel when
// LVSKIT_VM_CACHE is unset.
const DefaultCacheDir = "/var/cache/lvskit-vm"

// Kernel is an unpacked kernel package: a bootable image and its modules.
type Kernel struct {
	Image   string // bzImage (vmlinuz)
	Release string // uname -r of the kernel, e.g. 6.1.0-56-cloud-amd64
	// ModulesDir is lib/modules/<Release>, with modules.dep.
	ModulesDir string
}

// CacheDir returns $LVSKIT_VM_CACHE, or DefaultCacheDir.
func CacheDir() string {
	if d := os.Getenv("LVSKIT_VM_CACHE"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// FindKernel locates the kernel that scripts/vm-assets.sh unpacked into
// CacheDir()/current. The error wraps ErrNoKernel when it is missing.
func FindKernel() (*Kernel, error) {
	dir := filepath.Join(CacheDir(), "current")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoKernel, dir, err)
	}
	rel, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	release := strings.TrimSpace(string(rel))
	k := &Kernel{
		Image:      filepath.Join(dir, "vmlinuz"),
		Release:    release,
		ModulesDir: filepath.Join(dir, "lib", "modules", release),
	}
	for _, p := range []string{k.Image, filepath.Join(k.ModulesDir, "modules.dep")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoKernel, err)
		}
	}
	return k, nil
}

// moduleFiles resolves module names (ip_vs, ip_vs_rr, veth) to their files,
// each preceded by everything it depends on, each file once: the order insmod
// needs. A name may use '-' or '_' interchangeably, as modprobe allows.
func (k *Kernel) moduleFiles(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	f, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("vmtest: read modules.dep: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{} // file -> files it needs
	byName := map[string]string{} // module name -> file
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[file] = strings.Fields(rest)
		byName[moduleName(file)] = file
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vmtest: read modules.dep: %w", err)
	}

	var order []string
	done := map[string]bool{}
	var visit func(file string)
	visit = func(file string) {
		if done[file] {
			return
		}
		done[file] = true
		// modules.dep lists the dependencies of a module's dependencies too,
		// nearest first; visiting each one's own line keeps the order right
		// whatever modules.dep's order is.
		for _, d := range deps[file] {
			visit(d)
		}
		order = append(order, file)
	}
	for _, n := range names {
		file, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("vmtest: kernel %s has no module %q (built in, or not kept by scripts/vm-assets.sh?)", k.Release, n)
		}
		visit(file)
	}
	return order, nil
}

// moduleName turns kernel/net/netfilter/ipvs/ip_vs.ko.xz into ip_vs.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// readModule returns a module file's contents, decompressed: busybox insmod
// loads plain .ko files only.
func (k *Kernel) readModule(file string) ([]byte, error) {
	p := filepath.Join(k.ModulesDir, file)
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		return os.ReadFile(p)
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(p, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("vmtest: module %s: unknown compression", file)
	}
	out, err := exec.Command(tool, "-dc", p).Output()
	if err != nil {
		return nil, fmt.Errorf("vmtest: decompress module %s with %s: %w", file, tool, err)
	}
	return out, nil
}
