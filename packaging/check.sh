#!/usr/bin/env bash
# Checks the two packages as a user gets them: installs them with apt, asks each binary its
# version, starts the installed gateway with the packaged unit's own command line and
# environment file and asks /healthz, opens the installed app under Xvfb until its window shows,
# then removes both packages. Root only (it installs packages). Usage: check.sh APP.deb GATEWAY.deb
set -euo pipefail
app_deb=$(realpath "$1")
gateway_deb=$(realpath "$2")
say() { printf '\033[1;36m==>\033[0m %s\n' "$*" >&2; }
fail() { echo "package check: $*" >&2; exit 1; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq eventscope eventscope-gateway >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

say "installing $(basename "$app_deb") ($(du -k "$app_deb" | cut -f1) KiB) and $(basename "$gateway_deb") ($(du -k "$gateway_deb" | cut -f1) KiB)"
t0=$(now)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$app_deb" "$gateway_deb" >/dev/null
say "installed in $(since "$t0") s"

say "versions, manual pages, completions"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml" | head -1)
[[ $(eventscope --version) == "eventscope $version" ]] || fail "eventscope --version: $(eventscope --version)"
[[ $(eventscope-cli --version) == "eventscope-cli $version" ]] || fail "eventscope-cli --version"
[[ $(eventscope-gateway --version) == "eventscope-gateway $version" ]] || fail "eventscope-gateway --version"
for f in /usr/share/man/man1/eventscope-cli.1.gz /usr/share/man/man1/eventscope-gateway.1.gz \
         /usr/share/bash-completion/completions/eventscope-cli \
         /usr/share/bash-completion/completions/eventscope-gateway \
         /usr/share/applications/Eventscope.desktop /usr/share/icons/hicolor/256x256/apps/eventscope.png; do
  [[ -s $f ]] || fail "missing $f"
done
[[ $(stat -c %a /etc/eventscope/gateway.env) == 600 ]] || fail "gateway.env is not mode 0600"
getent passwd eventscope >/dev/null || fail "no eventscope user"

say "the installed gateway, as its unit starts it"
nats_port=$(free_port)
/usr/sbin/nats-server -a 127.0.0.1 -p "$nats_port" >/dev/null 2>&1 &
pids+=($!)
gateway_port=$(free_port)
unit=/lib/systemd/system/eventscope-gateway.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $(sed -n 's/^User=//p' "$unit") == eventscope ]] || fail "the unit does not run as eventscope"
grep -q '^NoNewPrivileges=yes' "$unit" && grep -q '^ProtectSystem=strict' "$unit" || fail "the unit is not hardened"
# The packaged environment file, with what an operator would fill in.
env_file=$(mktemp)
sed -e "s|^EVENTSCOPE_LISTEN=.*|EVENTSCOPE_LISTEN=127.0.0.1:$gateway_port|" \
    -e "s|^EVENTSCOPE_NATS_URL=.*|EVENTSCOPE_NATS_URL=nats://127.0.0.1:$nats_port|" \
    -e "s|^EVENTSCOPE_JWT_SECRET=.*|EVENTSCOPE_JWT_SECRET=package-check-secret|" /etc/eventscope/gateway.env >"$env_file"
chmod 0644 "$env_file"
(
  set -a; . "$env_file"; set +a
  # systemd expands ${VAR} and splits $VAR the same way for this line.
  eval "exec runuser -u eventscope -- $exec_start"
) >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$gateway_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$gateway_port/healthz" >/dev/null || fail "the installed gateway's /healthz did not answer 200"

say "the installed app opens its window"
Xvfb :87 -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
sleep 1
config=$(mktemp -d)
t0=$(now)
DISPLAY=:87 XDG_CONFIG_HOME=$config XDG_DATA_HOME=$config/data EVENTSCOPE_NATS_URL="nats://127.0.0.1:$nats_port" \
  eventscope >/dev/null 2>&1 &
pids+=($!)
DISPLAY=:87 timeout 60 xdotool search --sync --name '^Eventscope$' >/dev/null || fail "no Eventscope window within 60 s"
say "the window showed $(since "$t0") s after launch"

say "removing the packages"
cleanup
trap - EXIT
! command -v eventscope-cli >/dev/null || fail "eventscope-cli is still installed"
say "packages checked"
