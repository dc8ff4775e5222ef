#!/usr/bin/env bash
# Installs everything the test tiers need on a fresh Debian machine: the system
# packages (network tools, keepalived as a reference peer, qemu for the IPVS
# kernel VM), the Go modules and the VM's kernel. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	iproute2 iputils-ping procps tcpdump tshark
	keepalived ipvsadm nginx haproxy busybox-static
	qemu-system-x86 cpio kmod zstd xz-utils
)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: not root; skipping system packages (the namespace and VM tiers need root)" >&2
else
	missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "setup: installing ${missing[*]}"
		# Packages such as nginx and keepalived start their services on install;
		# the tests start their own instances inside namespaces, so forbid that.
		policy=/usr/sbin/policy-rc.d
		had_policy=0; [ -e "$policy" ] && had_policy=1
		[ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		[ $had_policy = 1 ] || rm -f "$policy"
	fi
fi

go mod download
(cd bench/ipvs && go mod download) # the IPVS peers, for the benchmark module only
if [ -x scripts/vm-assets.sh ] && [ "$(id -u)" -eq 0 ]; then
	scripts/vm-assets.sh
fi
