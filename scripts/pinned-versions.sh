# Sourced by the build scripts: the pinned versions, whose one home is generator/model/versions.ts,
# as shell variables. `otelkit tools install` passes them in OTELKIT_VERSIONS (Node does not run
# TypeScript inside node_modules); in a checkout scripts/versions.ts prints them, run by Node >= 22.6
# (the repository pins Node 24; OTELKIT_NODE names another).
pinned_versions_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pinned_versions=${OTELKIT_VERSIONS:-}
if [[ -z $pinned_versions ]]; then
  pinned_versions_node=${OTELKIT_NODE:-$pinned_versions_dir/../node_modules/node/bin/node}
  [[ -x $pinned_versions_node ]] || pinned_versions_node=node
  pinned_versions=$("$pinned_versions_node" "$pinned_versions_dir/versions.ts") || {
    printf '%s: error: cannot read the pinned versions (run npm ci first, or set OTELKIT_NODE to a Node >= 22.6)\n' "$(basename "$0")" >&2
    exit 1
  }
fi
eval "$pinned_versions"
