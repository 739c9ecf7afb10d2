#!/usr/bin/env bash
# install.sh: make a Raspberry Pi OS (bookworm) machine a dualrec appliance.
#
#   sudo provisioning/raspberry-pi/install.sh [--start] [--skip-apt]
#
# From a checkout of this repository: apt packages (picamera2, lgpio, PortAudio, the kiosk, ...),
# a copy of the release in /opt/dualrec/src with a virtualenv beside it that also sees the apt
# packages (picamera2 and libcamera exist only there), every Python package pinned and
# hash-checked (requirements.lock), the voice and recogniser models (each file checked by
# SHA-256), the service users dualrec and dualrec-screen, the
# configuration /etc/dualrec/dualrec.toml (from config/default.toml, real hardware; kept if it
# exists), the udev rule of the signature pad, the journald and hardware-watchdog settings, and
# the systemd units, enabled (the customer's screen only when [display] enabled). --start also (re)starts the appliance now; otherwise it starts at
# the next boot. Run it again after pulling a new release: every step is idempotent and the
# configuration and the spool are never touched. docs/operations.md says what comes next.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=/opt/dualrec
venv="$prefix/venv"
etc=/etc/dualrec

apt_packages=(
  python3-picamera2 python3-libcamera   # the CSI camera (libcamera exists only as apt packages)
  python3-lgpio                         # gpiozero's pin factory for the button/LED panel
  python3-venv python3-dev gcc          # the virtualenv; PyAudio and evdev compile
  portaudio19-dev alsa-utils            # PyAudio; arecord/aplay -l to find the audio devices
  espeak-ng                             # Kokoro's phonemiser falls back to it for odd words
  cage xwayland chromium                # the customer's screen: Chromium kiosk under cage
  fonts-wqy-zenhei                      # Chinese on the screen and in exports
  libsystemd-dev pkg-config             # sd_notify and the journal
  libcap-dev                            # python-prctl, should pip ever build picamera2's deps
  rsync                                 # copying the release into /opt/dualrec/src
  polkitd                               # the fleet's reboot command (50-dualrec-reboot.rules)
)

log() { echo "install.sh: $*" >&2; }

check_system() {
  [ "$(id -u)" -eq 0 ] || { log "run as root (sudo $0)"; exit 2; }
  local codename=""
  # shellcheck source=/dev/null
  if [ -r /etc/os-release ]; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  fi
  [ "$codename" = bookworm ] || log "warning: made for Raspberry Pi OS bookworm, this is '${codename:-unknown}'"
}

install_apt_packages() {
  local missing=() p
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  log "installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_user() {
  install -m 0644 "$here/sysusers-dualrec.conf" /etc/sysusers.d/dualrec.conf
  systemd-sysusers /etc/sysusers.d/dualrec.conf
  # sysusers adds groups to a user it creates; an older dualrec user gets them here.
  usermod -a -G video,audio,gpio,input dualrec
  install -m 0644 "$here/tmpfiles-dualrec.conf" /etc/tmpfiles.d/dualrec.conf
  systemd-tmpfiles --create /etc/tmpfiles.d/dualrec.conf
}

install_release() {
  # ProtectHome= hides /home from the service: the release lives in /opt, read-only to it.
  mkdir -p "$prefix"
  rsync -a --delete --exclude .git --exclude .venv --exclude '__pycache__' \
    --exclude '*.egg-info' --exclude .pytest_cache --exclude .hypothesis "$repo/" "$prefix/src/"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the virtualenv $venv (with the apt packages visible)"
    python3 -m venv --system-site-packages "$venv"
  fi
  local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  # Every package pinned and hash-checked; editable, so the script templates are found beside
  # the package (config/scripts).
  "${pip[@]}" --require-hashes -r "$prefix/src/requirements.lock"
  "${pip[@]}" --require-hashes --no-deps -r "$prefix/src/requirements-nodeps.lock"
  "${pip[@]}" --no-deps --no-build-isolation -e "$prefix/src"
  # pip brings numpy 2, which the apt build of simplejpeg (needed by picamera2) cannot load:
  # a simplejpeg built for it goes into the virtualenv (raspberrypi/picamera2#1211).
  if ! "$venv/bin/python" -c 'import picamera2' 2>/dev/null; then
    "${pip[@]}" --force-reinstall --no-deps 'simplejpeg>=1.8.1'
  fi
  "$venv/bin/python" -c 'import picamera2' || { log "picamera2 does not import in $venv"; exit 1; }
  "$venv/bin/python" -m compileall -q "$prefix/src/firmware" "$prefix/src/drivers" \
    "$prefix/src/provisioning" >/dev/null
  # the voice (Kokoro-82M) and the recogniser (Whisper-base) where the daemon looks for them
  # (PREFIX/share/dualrec-models); a second run only checks them
  "$venv/bin/python" -m provisioning.models install --dir "$venv/share/dualrec-models" \
    --cache /var/cache/dualrec-models
  ln -sfn "$venv/bin/dualrec" /usr/local/bin/dualrec
  ln -sfn "$venv/bin/dualrec-provision" /usr/local/bin/dualrec-provision
}

# The unit's configuration: the shipped defaults, every key with its comment, on real hardware.
render_config() {
  local defaults="$1"
  echo "# /etc/dualrec/dualrec.toml: written by provisioning/raspberry-pi/install.sh from"
  echo "# config/default.toml. Change what this unit needs; install.sh never overwrites it."
  echo "# Check it with: dualrec run --config /etc/dualrec/dualrec.toml --validate-config"
  echo
  sed -e '/^\[drivers\]/,/^\[/ s/^backend = "[a-z]*"/backend = "real"/' "$defaults"
}

install_config() {
  if [ ! -e "$etc/dualrec.toml" ]; then
    log "writing $etc/dualrec.toml"
    render_config "$repo/config/default.toml" > "$etc/dualrec.toml.new"
    mv "$etc/dualrec.toml.new" "$etc/dualrec.toml"
  fi
  chown root:dualrec "$etc/dualrec.toml"
  chmod 0640 "$etc/dualrec.toml"
  install -m 0640 -g dualrec "$here/enroll.env.example" "$etc/enroll.env.example"
  "$venv/bin/dualrec" run --config "$etc/dualrec.toml" --validate-config
}

# Every template's fixed prompts rendered now, as the service user, into the prompt cache
# ([speech] cache_dir, in the state directory): a session never waits for the voice on
# wording that no ticket changes. A failure here is not fatal (the daemon renders at start).
prepare_prompts() {
  install -d -o dualrec -g dualrec -m 0750 /var/lib/dualrec
  runuser -u dualrec -- "$venv/bin/dualrec" script prepare --config "$etc/dualrec.toml" \
    || log "the prompts were not rendered ahead (dualrec script prepare): the daemon renders them"
}

install_system_settings() {
  install -m 0644 "$here/70-dualrec-sigpad.rules" /etc/udev/rules.d/70-dualrec-sigpad.rules
  udevadm control --reload
  udevadm trigger --subsystem-match=input --action=change
  install -d /etc/systemd/journald.conf.d /etc/systemd/system.conf.d
  install -m 0644 "$here/journald-dualrec.conf" /etc/systemd/journald.conf.d/dualrec.conf
  # the fleet's reboot command: logind lets the service user reboot (polkit)
  install -d -m 0755 /etc/polkit-1/rules.d
  install -m 0644 "$here/50-dualrec-reboot.rules" /etc/polkit-1/rules.d/50-dualrec-reboot.rules
  install -m 0644 "$here/watchdog-dualrec.conf" /etc/systemd/system.conf.d/dualrec-watchdog.conf
  install -d -m 2755 -g systemd-journal /var/log/journal
  systemctl restart systemd-journald
}

# 0 when the unit's configuration turns the customer's screen on.
display_enabled() {
  "$venv/bin/python" -c 'import sys; from firmware.config.loading import load_config
sys.exit(0 if load_config(sys.argv[1]).display.enabled else 1)' "$etc/dualrec.toml"
}

install_units() {
  local unit
  for unit in dualrec.service dualrec-firstboot.service dualrec-verify.service \
      dualrec-verify.timer dualrec-screen.service; do
    install -m 0644 "$repo/systemd/$unit" "/etc/systemd/system/$unit"
  done
  systemctl daemon-reload
  systemctl daemon-reexec   # the hardware watchdog setting of system.conf.d
  systemctl enable dualrec.service dualrec-firstboot.service dualrec-verify.timer
  systemctl start dualrec-verify.timer
  # The kiosk takes tty1 from the console login: only on a unit whose screen is on.
  if display_enabled; then
    systemctl enable dualrec-screen.service
  else
    systemctl disable dualrec-screen.service 2>/dev/null || true
  fi
}

main() {
  local start=0 apt=1 arg
  for arg in "$@"; do
    case "$arg" in
      --start) start=1 ;;
      --skip-apt) apt=0 ;;
      *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
  done
  check_system
  if [ "$apt" -eq 1 ]; then
    install_apt_packages
  fi
  install_user
  install_release
  install_config
  prepare_prompts
  install_system_settings
  install_units
  if [ "$start" -eq 1 ]; then
    systemctl restart dualrec.service
  fi
  log "done. Next: wire and plug in the hardware, then check it:"
  log "  sudo systemctl stop dualrec; sudo -u dualrec dualrec hwcheck --config $etc/dualrec.toml"
  log "  sudo systemctl start dualrec; journalctl -u dualrec -f"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
