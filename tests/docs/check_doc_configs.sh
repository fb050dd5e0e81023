#!/bin/sh
# Extracts every ```lua block whose first line is "-- config" from the Markdown files in DOCS and
# runs `switchboard check` on it. Fails on the first invalid example, naming file and block.
set -eu
binary=$1
docs=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
for md in "$docs"/*.md; do
  awk -v out="$tmp/$(basename "$md" .md)" '
    /^```lua/ { inblock = 1; n++; first = 1; next }
    /^```/ && inblock { inblock = 0; next }
    inblock {
      if (first && $0 != "-- config") { inblock = 0; next }
      first = 0
      print > (out "-" n ".lua")
    }
  ' "$md"
done
for f in "$tmp"/*.lua; do
  [ -e "$f" ] || continue
  count=$((count + 1))
  (cd "$tmp" && "$binary" check "$f" >/dev/null) || { echo "invalid example: $f"; cat "$f"; exit 1; }
done
[ "$count" -gt 0 ] || { echo "no '-- config' lua examples found in $docs"; exit 1; }
echo "$count doc config example(s) pass switchboard check"
