#!/usr/bin/env bash
# Copies the browser libraries Conclave serves itself from npm's node_modules into static/vendor/.
# Pages load them from the site's own origin (the Content-Security-Policy allows no other), so the
# copies are committed; run this after changing a version in package.json, then commit static/vendor.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/pdfjs-dist/package.json ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm (Node.js) is needed to fetch pdf.js" >&2; exit 2; }
  npm ci --no-audit --no-fund --ignore-scripts --omit=optional
fi
version=$(node -p 'require("./node_modules/pdfjs-dist/package.json").version')
wanted=$(node -p 'require("./package.json").devDependencies["pdfjs-dist"]')
if [ "$version" != "$wanted" ]; then
  echo "node_modules holds pdfjs-dist $version, package.json asks for $wanted: run npm ci first" >&2
  exit 2
fi
out=static/vendor/pdfjs
rm -rf "$out"
mkdir -p "$out"
cp node_modules/pdfjs-dist/build/pdf.min.mjs node_modules/pdfjs-dist/build/pdf.worker.min.mjs "$out/"
cp node_modules/pdfjs-dist/LICENSE "$out/LICENSE"
echo "$version" > "$out/VERSION"
echo "pdf.js $version copied to $out"
