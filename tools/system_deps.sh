#!/usr/bin/env bash
# The system programs `make test` needs beyond Python: Prometheus and promtool (Debian's prometheus
# package) for the monitoring proofs, and redis-server (Debian's redis-server package) for the head
# restart with GCS fault tolerance. Installed with apt-get as root or through sudo; otherwise one
# line says the command, and the exit is 1 within seconds (never dozens of test errors later).
set -euo pipefail
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v redis-server >/dev/null || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
packages=${packages% }
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "missing: ${packages} -- run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages}" >&2
  exit 1
fi
echo "installing ${packages} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# policy-rc.d: install the binaries without starting Debian's prometheus or redis service (prometheus
# would bind every interface); removed again afterwards.
printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
"${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
# shellcheck disable=SC2086
"${sudo[@]}" apt-get install -y -qq --no-install-recommends $packages >/dev/null
