#!/bin/sh
# Every ```lua block in DOCS whose first line is "-- from tests/routes/<file>.test.lua" must be
# taken, test by test (chunks between blank lines), verbatim from that file: the docs show route
# tests that `switchboard test tests/routes` runs (Cli.RouteTestsOfTheStandardMappingsPass).
set -eu
docs=$1
root=$2
count=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for md in "$docs"/*.md; do
  awk -v out="$tmp/$(basename "$md" .md)" '
    /^```lua/ { inblock = 1; n++; first = 1; next }
    /^```/ && inblock { inblock = 0; next }
    inblock {
      if (first && $0 !~ /^-- from tests\/routes\/.*\.test\.lua$/) { inblock = 0; next }
      first = 0
      print > (out "-" n ".block")
    }
  ' "$md"
done
for block in "$tmp"/*.block; do
  [ -e "$block" ] || continue
  count=$((count + 1))
  source=$(head -n 1 "$block" | sed 's/^-- from //')
  [ -f "$root/$source" ] || { echo "$block: no file $source"; exit 1; }
  tail -n +2 "$block" > "$block.body"
  awk -v source="$root/$source" '
    BEGIN { RS = "^$"; getline text < source; RS = "\n" }
    { chunk = chunk $0 "\n" }
    /^$/ { check(); chunk = "" }
    END { check(); exit bad }
    function check() {
      sub(/\n+$/, "\n", chunk)
      if (chunk != "\n" && chunk != "" && index(text, chunk) == 0) {
        printf "not in %s:\n%s", source, chunk
        bad = 1
      }
    }
  ' "$block.body" || { echo "documented route test differs from $source"; exit 1; }
done
[ "$count" -gt 0 ] || { echo "no '-- from tests/routes/...' lua examples found in $docs"; exit 1; }
echo "$count documented route test block(s) are taken from tests/routes"
