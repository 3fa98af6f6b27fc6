#!/usr/bin/env bash
# Installs the Debian packages of apt-packages.txt that are missing or at another version.
# Does nothing (and asks no registry) when everything is already in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
want=()
while read -r line; do
  line=${line%%#*}; line=${line//[[:space:]]/}
  [ -n "$line" ] || continue
  name=${line%%=*}
  version=
  [[ $line == *=* ]] && version=${line#*=}
  have=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$name" 2>/dev/null || true)
  if [[ $have != ii* ]] || { [ -n "$version" ] && [ "${have#*|}" != "$version" ]; }; then
    want+=("$line")
  fi
done < "$here/apt-packages.txt"

[ ${#want[@]} -eq 0 ] && exit 0
echo "bootstrap: installing Debian packages: ${want[*]}"
sudo_cmd=
[ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${want[@]}"
