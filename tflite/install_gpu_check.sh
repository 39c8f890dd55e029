#!/usr/bin/env bash
# Installs a software Vulkan device (Mesa 25 lavapipe) so that `tflite/benchmark.py --gpu_check`
# can list the ops LiteRT's GPU (WebGPU) delegate rejects, on a machine without a GPU.
# Debian 12 (bookworm): Mesa 25 comes from bookworm-backports; bookworm's own Mesa 22 is refused
# by Dawn ("No adapters found"). Needs root (or sudo) and network access. Idempotent.
#
#   sudo tflite/install_gpu_check.sh                  # install
#   tflite/install_gpu_check.sh --print-source        # only print the backports line it would write
#
# The backports line reuses the mirror of the machine's own Debian main source (one-line `.list`
# or deb822 `.sources`), so the script names no host and works behind a local mirror.
# APT_ETC (default /etc/apt) points the derivation at another apt folder, for testing.
set -euo pipefail

APT_ETC="${APT_ETC:-/etc/apt}"
PRINT_SOURCE=0
case "${1:-}" in
  --print-source) PRINT_SOURCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--print-source]" >&2; exit 2 ;;
esac

# The files apt reads: sources.list, then sources.list.d/*.list and *.sources (others are ignored).
apt_source_files() {
  local file
  for file in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; do
    [ -f "$file" ] && echo "$file"
  done
  return 0
}

# Prints "URI SUITE [SIGNED_BY]" of the first enabled `deb` source of `main` whose suite is the
# release itself ($1, e.g. bookworm) or its bare alias (stable): not -updates, -security, ...
main_source() {
  local codename="$1" file found
  while read -r file; do
    case "$file" in
      *.sources) found="$(awk -v codename="$codename" -f <(deb822_program) "$file")" ;;
      *) found="$(awk -v codename="$codename" -f <(one_line_program) "$file")" ;;
    esac
    if [ -n "$found" ]; then echo "$found"; return 0; fi
  done < <(apt_source_files)
  return 0
}

one_line_program() {
  cat <<'AWK'
{ sub(/#.*/, "") }
$1 == "deb" {
  line = $0; signed = ""
  if (match(line, /\[[^]]*\]/)) {
    options = substr(line, RSTART + 1, RLENGTH - 2)
    line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
    n = split(options, parts, /[ \t]+/)
    for (i = 1; i <= n; i++) if (parts[i] ~ /^signed-by=/) signed = substr(parts[i], 11)
  }
  n = split(line, word, /[ \t]+/)
  # word[1] = deb, word[2] = URI, word[3] = suite, word[4..] = components
  if (word[3] != codename && word[3] ~ /-/) next
  for (i = 4; i <= n; i++) if (word[i] == "main") { print word[2], word[3], signed; exit }
}
AWK
}

deb822_program() {
  cat <<'AWK'
function flush(  n, i, j, s, u, c, found) {
  if (!done && types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
    n = split(components, c, / +/)
    for (i = 1; i <= n; i++) if (c[i] == "main") found = 1
    if (found) {
      split(uris, u, / +/)
      n = split(suites, s, / +/)
      for (j = 1; j <= n; j++) if (s[j] == codename || s[j] !~ /-/) { print u[1], s[j], signed; done = 1; exit }
    }
  }
  types = uris = suites = components = enabled = signed = ""
}
/^[ \t]*#/ { next }
/^[ \t]*$/ { flush(); next }
/^[ \t]/ { next }                      # continuation lines (inline keys): not needed here
{
  colon = index($0, ":"); field = tolower(substr($0, 1, colon - 1)); value = substr($0, colon + 1)
  gsub(/[ \t]+/, " ", value); sub(/^ /, "", value); sub(/ $/, "", value)
  if (field == "types") types = value
  else if (field == "uris") uris = value
  else if (field == "suites") suites = value
  else if (field == "components") components = value
  else if (field == "enabled") enabled = value
  else if (field == "signed-by" && value ~ /^\//) signed = value
}
END { flush() }
AWK
}

# The sources line for <suite>-backports on the mirror of the Debian main source.
backports_line() {
  local codename="$1" uri suite signed
  read -r uri suite signed < <(main_source "$codename") || true
  if [ -z "${uri:-}" ]; then
    echo "No Debian main source for $codename in $APT_ETC/sources.list or $APT_ETC/sources.list.d/*.{list,sources}." >&2
    echo "Add one (deb <your mirror> $codename main), or add ${codename}-backports yourself and run again." >&2
    return 1
  fi
  if [ -n "${signed:-}" ]; then
    echo "deb [signed-by=$signed] $uri ${suite}-backports main"
  else
    echo "deb $uri ${suite}-backports main"
  fi
}

. /etc/os-release
CODENAME="${VERSION_CODENAME:-}"

if [ "$PRINT_SOURCE" -eq 1 ]; then
  backports_line "$CODENAME"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "$CODENAME" = "bookworm" ]; then
  LIST="$APT_ETC/sources.list.d/bookworm-backports.list"
  # Already configured, under the codename or the bare suite alias: write nothing.
  if ! apt_source_files | xargs -r grep -Eqs -- "(bookworm|stable)-backports"; then
    LINE="$(backports_line "$CODENAME")"
    echo "$LINE" | $SUDO tee "$LIST" >/dev/null
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libvulkan1 vulkan-tools
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
else
  # Other distributions: any Mesa >= 25 with lavapipe (mesa-vulkan-drivers) works.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libvulkan1 vulkan-tools mesa-vulkan-drivers
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"
echo "Vulkan devices:"
vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverInfo" || echo "  vulkaninfo found no device"
dpkg -s mesa-vulkan-drivers | grep '^Version' || true
echo "Now run: python tflite/benchmark.py --models=<file.tflite> --gpu_check"
