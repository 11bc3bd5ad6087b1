#!/usr/bin/env bash
# Checks the shipped deployment manifests against their official schemas,
# offline (used by .ci/run; handy by hand too):
#
#   deploy/k8s/*.yaml    kubernetes-validate --strict (bundles the Kubernetes
#                        OpenAPI schemas; unknown fields are errors)
#   docker-compose.yml   check-jsonschema --builtin-schema vendor.compose-spec
#
# kustomization.yaml is kustomize's own file, for which Kubernetes has no
# schema: instead it must list exactly the other manifests, each of which is
# validated, and a manifest kubernetes-validate has no schema for fails.
# Both tools are installed from PyPI (pinned) into a venv under the cache
# dir the first time. Any failure, a missing tool included, exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${LEADSCORE_TEST_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/leadscore-manifest-tools}"
pins=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0)
venv="$home/venv"
fail() { echo "check-manifests: $*" >&2; exit 1; }

# The venv is (re)built when the pins change; $home/pins records what it holds.
if [ "$(cat "$home/pins" 2>/dev/null)" != "${pins[*]}" ]; then
  command -v python3 >/dev/null || fail "python3 is required to install ${pins[*]}"
  mkdir -p "$home"
  rm -rf "$venv" "$home/pins"
  python3 -m venv "$venv" >&2 || fail "'python3 -m venv' failed (apt-get install python3-venv)"
  "$venv/bin/pip" install -q "${pins[@]}" >&2 || fail "pip install ${pins[*]} failed"
  echo "${pins[*]}" >"$home/pins"
fi
for tool in kubernetes-validate check-jsonschema; do
  [ -x "$venv/bin/$tool" ] || fail "$tool is not installed in $venv"
done

manifests=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$(basename "$f")")
done
[ "${#manifests[@]}" -gt 0 ] || fail "no manifests in deploy/k8s"
listed=$("$venv/bin/python" - <<'PY'
import yaml
with open("deploy/k8s/kustomization.yaml") as f:
    print("\n".join(sorted(yaml.safe_load(f)["resources"])))
PY
) || fail "cannot read the resources of deploy/k8s/kustomization.yaml"
present=$(printf '%s\n' "${manifests[@]}" | sort)
[ "$listed" = "$present" ] || fail "deploy/k8s/kustomization.yaml lists [$(echo $listed)] but deploy/k8s has [$(echo $present)]"

echo "kubernetes-validate --strict ${manifests[*]}"
out=$(cd deploy/k8s && "$venv/bin/kubernetes-validate" --strict "${manifests[@]}" 2>&1) || { echo "$out" >&2; fail "a Kubernetes manifest does not validate"; }
echo "$out"
if grep -q "Couldn't find schema" <<<"$out"; then fail "a Kubernetes manifest has no schema to be checked against"; fi
passed=$(grep -c " passed for resource " <<<"$out" || true)
[ "$passed" -ge "${#manifests[@]}" ] || fail "only $passed resources validated for ${#manifests[@]} manifests"

echo "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml || fail "docker-compose.yml does not match the Compose Specification"
