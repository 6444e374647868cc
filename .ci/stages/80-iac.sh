#!/usr/bin/env bash
# Infrastructure as code: lint the CloudFormation stacks (cfn-lint, checkov) and the Ansible
# playbooks (ansible-lint --offline), then really run the `host` and `app` roles against a local
# target: a container from the project's Debian base image, reached with Ansible's docker
# connection. The first run must change the target (packages, configs, the app container), the
# second must change nothing. What a container cannot do (k3s and SSM agent downloads, systemd
# services) is switched off by name in deploy/ansible/inventories/ci-container/group_vars.
# Dev override: OXICAM_IAC_APP_IMAGE=REF uses that image instead of building the app image.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=scripts/docker-lib.sh
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"
mkdir -p "$CI_STATE/logs"

target=oxicam-iac-target
app_container=oxicam-iac-blue
logs="$CI_STATE/logs/iac"
venv="$OXICAM_ROOT/target/venv-iac"
rm -rf "$logs"
mkdir -p "$logs"

step_start=$SECONDS
step() {
  log "[iac +$((SECONDS - step_start)) s] $*"
}

remove_containers() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    docker rm -f "$app_container" "$target" >/dev/null 2>&1 || true
  fi
}
trap remove_containers EXIT

step "tools: python venv from .ci/requirements-iac.txt"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_install python3-venv; fi
python_venv "$venv" .ci/requirements-iac.txt
export PATH="$venv/bin:$PATH"

# The four collections the playbooks need, from the pinned community bundle (see the
# requirements file for why not the whole bundle). No Galaxy access needed or attempted.
ansible_bundle="ansible==12.3.0"
collections_dir="$venv/collections"
if [ ! -f "$collections_dir/.$ansible_bundle" ]; then
  step "collections from $ansible_bundle"
  rm -rf "$collections_dir"
  wheel_dir="$(mktemp -d)"
  pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheel_dir" "$ansible_bundle"
  python3 - "$wheel_dir"/ansible-*.whl "$collections_dir" <<'PY'
import sys, zipfile
wanted = ("community/docker/", "amazon/aws/", "community/aws/", "ansible/posix/")
with zipfile.ZipFile(sys.argv[1]) as wheel:
    members = [m for m in wheel.namelist()
               if m.startswith("ansible_collections/") and m[len("ansible_collections/"):].startswith(wanted)]
    wheel.extractall(sys.argv[2], members)
print(f"{len(members)} files of {', '.join(w.rstrip('/') for w in wanted)}")
PY
  rm -rf "$wheel_dir"
  touch "$collections_dir/.$ansible_bundle"
fi
export ANSIBLE_COLLECTIONS_PATH="$collections_dir"

# ---- CloudFormation -------------------------------------------------------------------------
mapfile -t templates < <(ls deploy/cloudformation/*.yaml)
step "cfn-lint ${#templates[@]} templates"
cfn-lint "${templates[@]}"

step "checkov (skips are in each resource's Metadata, with reasons; listed in deploy/README.md)"
checkov --directory deploy/cloudformation --framework cloudformation --compact \
  --skip-download --output json >"$logs/checkov.json" || true
python3 - "$logs/checkov.json" <<'PY'
import json, sys
reports = json.load(open(sys.argv[1]))
reports = reports if isinstance(reports, list) else [reports]
failed = skipped = passed = 0
for report in reports:
    results = report["results"]
    passed += len(results["passed_checks"])
    for check in results["failed_checks"]:
        failed += 1
        print(f"FAILED {check['check_id']} {check['file_path']} {check['resource']}: {check['check_name']}")
    for check in results["skipped_checks"]:
        skipped += 1
        reason = check.get("check_result", {}).get("suppress_comment", "")
        print(f"skipped {check['check_id']} {check['file_path']} {check['resource']}: {reason[:90]}")
print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped")
if failed or not passed:
    sys.exit(1)
PY

step "deploy.sh --dry-run: stack order, parameters, service role, never ActiveColor"
plan="$(env -u OXICAM_STACKS AWS_REGION=eu-west-1 OXICAM_CFN_ROLE_ARN=arn:aws:iam::123456789012:role/deploy \
  deploy/cloudformation/deploy.sh --dry-run ci 2>/dev/null)"
[ "$(grep -oE -- '--stack-name oxicam-ci-[a-z-]+' <<<"$plan" | cut -d' ' -f2 | paste -sd' ')" = \
  "oxicam-ci-network oxicam-ci-registry oxicam-ci-hosts oxicam-ci-loadbalancer oxicam-ci-cluster" ] ||
  die "deploy.sh stack order changed: $plan"
[ "$(grep -c -- '--role-arn arn:aws:iam::123456789012:role/deploy' <<<"$plan")" -eq 5 ] ||
  die "deploy.sh does not pass the CloudFormation service role to every stack"
if grep -q ActiveColor <<<"$plan"; then die "deploy.sh must never set ActiveColor"; fi
for template in "${templates[@]}"; do
  stack="$(basename "$template" .yaml)"
  grep -q -- "--template-file [^ ]*/$stack.yaml" <<<"$plan$(AWS_REGION=eu-west-1 OXICAM_CIRCLECI_ORG_ID=x \
    OXICAM_CIRCLECI_PROJECT_ID=y deploy/cloudformation/deploy.sh --dry-run ci ci-access 2>/dev/null)" ||
    die "deploy.sh does not deploy $template"
done

# ---- Ansible lint ---------------------------------------------------------------------------
cd deploy/ansible
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# Per-task timings in the run logs.
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
step "ansible-lint --offline (production profile)"
ansible-lint --offline --nocolor
step "ansible-playbook --syntax-check site.yml deploy.yml switch.yml"
ansible-playbook --syntax-check -i inventories/ci-container -e app_color=blue \
  site.yml deploy.yml switch.yml >/dev/null

# ---- the local target -----------------------------------------------------------------------
step "Docker engine, base image and app image"
ensure_base_image
if [ -n "${OXICAM_IAC_APP_IMAGE:-}" ]; then
  app_image="$OXICAM_IAC_APP_IMAGE"
else
  app_image="$(ensure_app_image)"
fi
docker image inspect "$app_image" >/dev/null || die "app image $app_image is missing"

remove_containers
step "start the target container $target from $OXICAM_BASE_IMAGE"
# The target drives the CI host's engine through the mounted socket: the app container the
# `app` role starts there joins the target's network namespace (see the inventory).
docker run -d --name "$target" --hostname oxicam-blue --label oxicam.ci=1 \
  -v /var/run/docker.sock:/var/run/docker.sock \
  "$OXICAM_BASE_IMAGE" sleep infinity >/dev/null

# run_roles N [IMAGE]: host + app roles against the target; prints the recap's changed count.
run_roles() {
  local n="$1" image="${2:-$app_image}" recap
  ansible-playbook -i inventories/ci-container -e app_color=blue -e "app_image=$image" \
    site.yml deploy.yml >"$logs/run$n.log" 2>&1 || {
    tail -n 60 "$logs/run$n.log" >&2
    die "ansible run $n failed (full log: $logs/run$n.log)"
  }
  recap="$(grep -E "^$target +: ok=" "$logs/run$n.log" | tail -n 1)"
  [ -n "$recap" ] || die "no PLAY RECAP for $target in $logs/run$n.log"
  log "run $n: $recap"
  case "$recap" in
    *" failed=0 "*) ;;
    *) die "run $n reported failures: $recap" ;;
  esac
  sed -E 's/.* changed=([0-9]+) .*/\1/' <<<"$recap"
}

step "run 1: host + app roles (must change the target)"
changed1="$(run_roles 1)"
[ "$changed1" -gt 0 ] || die "run 1 changed nothing: the roles did not act on the target"

step "run 2: same roles again (idempotence: must report changed=0)"
changed2="$(run_roles 2)"
if [ "$changed2" -ne 0 ]; then
  grep -E -B1 '^changed:' "$logs/run2.log" >&2 || true
  die "second run changed $changed2 task(s): the roles are not idempotent"
fi

# ---- independent checks of what the roles left on the target --------------------------------
step "check the target from outside Ansible"
docker exec "$target" dpkg-query -W -f='${Package} ${Version}\n' \
  python3 openssh-server logrotate curl python3-requests
hardened="$(docker exec "$target" /usr/sbin/sshd -T -C user=root,host=localhost,addr=127.0.0.1 |
  grep -cFx -e 'permitrootlogin no' -e 'passwordauthentication no' -e 'x11forwarding no' || true)"
[ "$hardened" -eq 3 ] || die "hardened sshd settings are not in effect on the target"
logrotate_plan="$(docker exec "$target" /usr/sbin/logrotate --debug /etc/logrotate.d/oxicam 2>&1)"
grep -qF '/var/log/oxicam/*.log' <<<"$logrotate_plan" || die "logrotate does not read /etc/logrotate.d/oxicam"
docker exec "$target" test -s /etc/rancher/k3s/config.yaml -o -s /etc/docker/daemon.json ||
  die "no runtime configuration written"
[ "$(docker inspect -f '{{.State.Running}} {{index .Config.Labels "oxicam.color"}}' "$app_container")" = "true blue" ] ||
  die "$app_container is not running as blue"
version_json="$(docker exec "$target" curl -fsS --max-time 5 http://127.0.0.1:8000/version)"
log "GET /version from the target: $version_json"
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["color"] == "blue", sys.argv[1]' "$version_json"
docker exec "$target" curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:8000/readyz

step "oxicam smoke against the deployed colour: POST /run with a synthesized clip of known heart rate"
docker exec "$app_container" oxicam smoke --url http://127.0.0.1:8000 --expect-color blue --timeout 120

# A release: the same colour gets another image (the app image plus a label, so a new image id).
step "run 3: deploy a new image to the same colour (must replace the container, then be ready)"
next_image="oxicam-iac-next:$(date +%s)"
printf 'FROM %s\nLABEL oxicam.iac.release=next\n' "$app_image" | docker build -q -t "$next_image" - >/dev/null
changed3="$(run_roles 3 "$next_image")"
[ "$changed3" -gt 0 ] || die "deploying $next_image changed nothing"
[ "$(docker inspect -f '{{.Image}}' "$app_container")" = "$(docker image inspect -f '{{.Id}}' "$next_image")" ] ||
  die "$app_container does not run $next_image after run 3"
docker exec "$target" curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:8000/readyz
remove_containers
docker rmi "$next_image" >/dev/null

step "IaC stage passed: run 1 changed $changed1 task(s), run 2 changed 0, run 3 (new image) changed $changed3"
