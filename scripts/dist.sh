#!/bin/sh
# scripts/dist.sh: the source distribution, proxymachine-VERSION.tar.gz.
#
#	scripts/dist.sh [DIR]
#
# Packs the files git tracks, as they are in the work tree (edits not yet
# committed included, new files only once added), except the dot files
# (.gitignore, .ci/), under proxymachine-VERSION/, into DIR (default: the
# top of the tree).  VERSION is the Makefile's.  `make dist` runs it;
# scripts/package.sh checks that the tarball builds and passes `make test`
# once unpacked elsewhere.  Exit status 0 when the tarball was written, 2
# outside a git work tree.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
out=${1:-$top}
out=$(cd "$out" && pwd) || exit 2
version=$(sed -n 's/^VERSION[[:blank:]]*=[[:blank:]]*//p' "$top/Makefile")
name=proxymachine-$version

cd "$top" || exit 2
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "dist.sh: $top is not a git work tree: a tarball is made" \
	    "from the files git tracks" >&2
	exit 2
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/pmdist.XXXXXX") || exit 2
trap 'rm -rf "$stage"' EXIT

# Names are plain (no blanks) in this tree; one that is not stops here.
files=$(git ls-files | grep -v -e '^\.' -e '/\.' | sort) || exit 2
for f in $files; do
	case $f in
	*[!A-Za-z0-9._/+-]*)
		echo "dist.sh: unexpected file name: $f" >&2
		exit 2 ;;
	esac
	mkdir -p "$stage/$name/$(dirname "$f")" &&
	    cp -p "$f" "$stage/$name/$f" || exit 2
done
(cd "$stage" && tar cf - $(find "$name" -type f | sort)) |
    gzip -9n >"$out/$name.tar.gz.new" &&
    mv "$out/$name.tar.gz.new" "$out/$name.tar.gz" || exit 2
echo "dist.sh: $out/$name.tar.gz, $(echo "$files" | wc -l | tr -d ' ')" \
    "files"
