#!/usr/bin/env bash
# Fetches the kernel that the IPVS tests boot under qemu (tier 3, internal/vmtest):
# the Debian package that linux-image-cloud-amd64 depends on, unpacked into
#   ${LVSKIT_VM_CACHE:-/var/cache/lvskit-vm}/<package>/{vmlinuz,release,lib/modules/<release>}
# with modules.dep rebuilt by depmod -b and a "current" symlink naming it.
# Only the kernel image and the modules the tests need (netfilter, IPVS and what
# they depend on) are kept. Safe to run again: does nothing when already present.
set -euo pipefail

cache=${LVSKIT_VM_CACHE:-/var/cache/lvskit-vm}
kernel_package() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
pkg=$(kernel_package)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	# A fresh machine may have every package installed but no package lists.
	apt-get update -qq
	pkg=$(kernel_package)
fi
if [ -z "$pkg" ]; then
	echo "vm-assets: apt does not know linux-image-cloud-amd64 (run apt-get update)" >&2
	exit 1
fi

dest=$cache/$pkg
if [ -f "$dest/.complete" ]; then
	ln -sfn "$pkg" "$cache/current"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

echo "vm-assets: fetching $pkg into $dest"
# apt drops privileges to _apt for downloads: give it a directory it may write.
mkdir -m 0777 "$work/deb"
(cd "$work/deb" && apt-get download -q "$pkg" >/dev/null)
dpkg -x "$work/deb/$pkg"_*.deb "$work/root"

release=$(ls "$work/root/lib/modules" | head -n1)
mkdir -p "$work/out/lib/modules/$release/kernel"
cp "$work/root/boot/vmlinuz-$release" "$work/out/vmlinuz"
# IPVS, conntrack and everything else under net/ (bridge, sctp, tunnels), lib/
# and crypto/ (crc32c and friends); the tests load modules from this tree by name,
# with their dependencies from modules.dep.
for dir in kernel/net kernel/lib kernel/crypto; do
	if [ -d "$work/root/lib/modules/$release/$dir" ]; then
		mkdir -p "$work/out/lib/modules/$release/$(dirname "$dir")"
		cp -a "$work/root/lib/modules/$release/$dir" "$work/out/lib/modules/$release/$dir"
	fi
done
# veth and dummy links for the namespaces the traffic tests build.
mkdir -p "$work/out/lib/modules/$release/kernel/drivers/net"
cp "$work/root/lib/modules/$release/kernel/drivers/net"/{veth,dummy}.ko* "$work/out/lib/modules/$release/kernel/drivers/net/"
cp "$work/root/lib/modules/$release"/modules.{order,builtin}* "$work/out/lib/modules/$release/" 2>/dev/null || true
depmod -b "$work/out" "$release"
echo "$release" >"$work/out/release"
touch "$work/out/.complete"

rm -rf "$dest"
mv "$work/out" "$dest"
ln -sfn "$pkg" "$cache/current"
echo "vm-assets: kernel $release ready in $dest"
