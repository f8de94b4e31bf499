#!/usr/bin/env bash
# Gapura against the Portkey gateway and claude-code-router, side by side in one run: bench/README.md, part 6.
#
#   bash bench/compare/run.sh            # full run, about 18 min after the builds
#   bash bench/compare/run.sh --quick    # about 5 min
#   options passed on: --rate N (fixed rate, default 1000), --streams N (open streams, default 1000),
#                      --gapura-setting Key=Value (repeatable, e.g. Logging:LogLevel:Default=Warning),
#                      --probe-only (start all, one request per case), --memory-only (the probes, the open-stream test
#                      and the burst of large bodies), --no-peers (Gapura only),
#                      --variant NAME:ITEM[,ITEM...] (another Gapura measured in the same rounds; ITEM is Key=Value,
#                      env:NAME=VALUE or dll:PATH, e.g. --variant wks:env:DOTNET_gcServer=0)
#
# Outside the namespace it installs what it needs (wrk and nginx from Debian, the pinned peers from npm), builds Gapura and
# the open-loop client in Release, then runs itself again inside a fresh network + PID namespace. Portkey listens on every
# interface, so nothing is started before that, and the inner part refuses to run anywhere an interface other than lo exists.
# When the inner part ends, the PID namespace ends with it and the kernel stops anything still running in it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
quick=0
for a in "$@"; do [[ "$a" == "--quick" ]] && quick=1; done
# A hard bound on the measuring part, whatever happens: quick ~7 min, full ~22 min, plus room for a slow machine and
# for each --variant (another Gapura in every round).
variants=0
for a in "$@"; do [[ "$a" == "--variant" ]] && variants=$((variants + 1)); done
limit=$(( (quick ? 1200 : 3000) + variants * (quick ? 300 : 900) ))

if [[ "${GAPURA_COMPARE_INSIDE:-}" != "1" ]]; then
  # ---------------------------------------------------------------- outside: install and build, start nothing
  need_apt=()
  command -v wrk >/dev/null || need_apt+=(wrk)
  command -v nginx >/dev/null || need_apt+=(nginx-light)
  command -v python3 >/dev/null || need_apt+=(python3)
  if ((${#need_apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then echo "run.sh: needs ${need_apt[*]} (apt-get install -y ${need_apt[*]}, as root)" >&2; exit 2; fi
    echo "installing ${need_apt[*]} from Debian"
    apt-get update -qq
    # Debian starts nginx as a service where it can; policy-rc.d keeps it from starting anything outside the namespace.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
  # npm ci again only when the lock file changed since the last install (a copy of it is kept beside the packages).
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.installed-package-lock.json"; then
    echo "installing the peers (package-lock.json) with npm ci"
    (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    cp "$here/package-lock.json" "$here/node_modules/.installed-package-lock.json"
  fi
  echo "building Gapura and the open-loop client (Release)"
  dotnet build -c Release "$repo/src/Gapura/Gapura.csproj" -nologo -v q 2>&1 | grep -E " error |rror\(s\)" || true
  dotnet build -c Release "$here/OpenLoop/OpenLoop.csproj" -nologo -v q 2>&1 | grep -E " error |rror\(s\)" || true
  for f in "$repo/src/Gapura/bin/Release/net10.0/gapura.dll" "$here/OpenLoop/bin/Release/net10.0/OpenLoop.dll"; do
    [[ -f "$f" ]] || { echo "run.sh: build failed, $f missing" >&2; exit 1; }
  done
  # Root: a new network, PID and mount namespace. Otherwise a user namespace mapped to root first.
  if [[ $(id -u) -eq 0 ]]; then ns=(unshare --net --pid --fork --kill-child --mount-proc); else ns=(unshare --map-root-user --net --pid --fork --kill-child --mount-proc); fi
  exec env GAPURA_COMPARE_INSIDE=1 timeout --kill-after=15 "$limit" "${ns[@]}" bash "$0" "$@"
fi

# ------------------------------------------------------------------ inside: the private namespace
if ip -o link show | awk -F': ' '{print $2}' | grep -qv '^lo$'; then
  echo "run.sh: refusing to run: this network namespace has interfaces other than lo (not a fresh one):" >&2
  ip -o link show >&2
  exit 3
fi
ip link set lo up
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work="$(mktemp -d /tmp/gapura-compare.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 "$here/compare.py" --work "$work" \
  --gapura "$repo/src/Gapura/bin/Release/net10.0/gapura.dll" \
  --openloop "$here/OpenLoop/bin/Release/net10.0/OpenLoop.dll" \
  --node-modules "$here/node_modules" "$@"
