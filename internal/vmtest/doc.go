// Package vmtest runs programs under a real Linux kernel in a throw-away virtual
// machine: tier 3 of the test suite, for code (IPVS) that needs kernel features the
// host may lack.
//
// A run builds a busybox initramfs holding statically linked Go programs (usually
// test binaries made with `go test -c`), host programs copied with their shared
// libraries (ipvsadm, ip), and kernel modules resolved with their dependencies from
// modules.dep. It then boots the Debian cloud kernel that scripts/vm-assets.sh
// unpacked (`make setup` runs it) under
//
//	qemu-system-x86_64 -accel tcg -nic none -nographic -no-reboot
//
// and reads everything back from the serial console. TCG rather than KVM because
// nested KVM hangs at boot on the machines this project runs on; TCG is slow, so
// callers batch all their kernel work into one boot.
//
// # Isolation
//
// The VM has no network device at all (-nic none): any traffic a test makes runs
// between network namespaces inside the guest. Nothing on the host is touched
// except a temporary directory and the qemu process, which is killed (by pid)
// when the run ends or times out.
//
// # The guest
//
// The generated /init mounts proc, sysfs, devtmpfs and a tmpfs on /run and /tmp,
// loads the modules in dependency order, then runs each Command in turn from /tmp,
// framing its output with sentinel lines
//
//	LVSKIT-BEGIN <n>
//	LVSKIT-EXIT <n> <status>
//
// and finally powers off. Built programs and host programs live in /usr/local/bin,
// which comes first in PATH, ahead of busybox's applets.
//
// # Reporting
//
// Boot returns each command's output and exit status. Run does the same for a
// test, skipping (or failing when LVSKIT_STRICT=1, which the guest's commands
// then see too) when qemu or the kernel is missing, and ReportGoTest turns the `-test.v` output of a test binary run in
// the guest into one subtest per inner test, so an inner failure fails the host
// test with the inner failure's text.
//
// # Assets
//
// The kernel lives in $LVSKIT_VM_CACHE (default /var/cache/lvskit-vm), under
// current/{vmlinuz,release,lib/modules/<release>}. FindKernel locates it.
package vmtest
