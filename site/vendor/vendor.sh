#!/usr/bin/env bash
# Vendor the site's one third-party library, Chart.js (the admin dashboard's charts), as the
# built file its npm package ships, with its licence. The site has no build step and loads nothing
# from a CDN at run time, so the file lives here, in git.
#
#   site/vendor/vendor.sh            # fetch the pinned version again (npm pack checks the
#                                    # registry's sha512 integrity), and check the file's sha256
#   site/vendor/vendor.sh 4.7.0      # move to another version, then update VERSION and SHA256 below
set -euo pipefail
VERSION="${1:-4.6.1}"
SHA256="87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"  # of dist/chart.umd.min.js 4.6.1
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$VERSION" >/dev/null && tar xzf "chart.js-$VERSION.tgz")
mkdir -p "$here/chart.js"
cp "$work/package/dist/chart.umd.min.js" "$here/chart.js/chart.umd.min.js"
cp "$work/package/LICENSE.md" "$here/chart.js/LICENSE.md"
actual="$(sha256sum "$here/chart.js/chart.umd.min.js" | cut -d' ' -f1)"
if [ "$VERSION" = "4.6.1" ] && [ "$actual" != "$SHA256" ]; then
  echo "chart.umd.min.js $VERSION: sha256 $actual, expected $SHA256" >&2
  exit 1
fi
echo "site/vendor/chart.js: Chart.js $VERSION, chart.umd.min.js sha256 $actual"
