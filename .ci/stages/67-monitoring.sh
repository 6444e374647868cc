#!/usr/bin/env bash
# Monitoring as code, offline: the SLO recording and alerting rules under `promtool check rules`
# and `promtool test rules` (synthetic series: each alert fires where it must and stays quiet
# where it must not), the scrape config under `promtool check config`, and the dashboard, rules
# and scrape job against the metrics the service really exports (deploy/monitoring/
# check_monitoring.py). Every checker is also shown a known-bad variant and must reject it.
# promtool comes from Debian's `prometheus` package, unpacked (only the promtool binary): the
# installed package would also set up and start a Prometheus server.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
out="$CI_STATE/monitoring"
tools="$OXICAM_ROOT/target/tools/prometheus"
promtool="$tools/usr/bin/promtool"
rm -rf "$out"
mkdir -p "$out" "$tools"

apt_install python3-yaml
if ! "$promtool" --version >/dev/null 2>&1; then
  log "promtool from Debian's prometheus package (unpacked into $tools)"
  download="$(mktemp -d)"
  chmod 0777 "$download" # apt's download user writes here
  if ! (cd "$download" && apt-get download prometheus >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "$download" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$download"/prometheus_*.deb | tar -x -C "$tools" ./usr/bin/promtool
  rm -rf "$download"
fi
log "$("$promtool" --version | head -n 1)"

monitoring=deploy/monitoring
log "promtool check rules"
"$promtool" check rules "$monitoring/oxicam.rules.yml"
log "promtool test rules (alerts and recording rules against synthetic series)"
"$promtool" test rules "$monitoring/oxicam.rules.test.yml" "$monitoring/oxicam.rules.slow.test.yml"

# Debian's Prometheus is built without Kubernetes service discovery: the config is checked with
# the same job on a static target (relabelling, rule files); check_monitoring.py checks the
# discovery part (namespace, admin port).
log "promtool check config (scrape job on a static target)"
python3 - "$monitoring/prometheus.yml" "$out/prometheus.yml" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for job in config["scrape_configs"]:
    assert job.pop("kubernetes_sd_configs", None), f"job {job['job_name']} has no Kubernetes discovery"
    job["static_configs"] = [{"targets": ["127.0.0.1:9090"]}]
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
cp "$monitoring/oxicam.rules.yml" "$out/"
"$promtool" check config "$out/prometheus.yml"

log "dashboard, rules and scrape job against the exported metrics"
python3 "$monitoring/check_monitoring.py" .

# ---- negative controls ----------------------------------------------------------------------
log "negative controls: each checker must reject a known-bad variant"
mkdir -p "$out/broken"
cp "$monitoring"/oxicam.rules.test.yml "$monitoring"/oxicam.rules.slow.test.yml "$out/broken/"
# 1. An alert that can no longer fire (burn factors ten times too high): the tests must fail.
sed -e 's/> 14\.4 \* /> 144 * /g' -e 's/> 6 \* /> 60 * /g' "$monitoring/oxicam.rules.yml" >"$out/broken/oxicam.rules.yml"
cmp -s "$out/broken/oxicam.rules.yml" "$monitoring/oxicam.rules.yml" && die "the burn-rate control changed nothing"
if "$promtool" test rules "$out/broken/oxicam.rules.test.yml" >"$out/broken/test.log" 2>&1; then
  die "promtool test rules passed with page alerts that cannot fire: the tests assert nothing"
fi
grep -q 'alertname: OxicamAvailabilityBudgetBurn' "$out/broken/test.log" ||
  die "promtool test rules failed on the burn-rate control, but not on the page alert: $(head -n 5 "$out/broken/test.log")"
# 2. A rule whose PromQL does not parse.
sed '0,/sum(rate(oxicam_http_requests_total{route=~"\/run|\/v1\/analyses",status!="499"}\[5m\]))$/s//sum(rate(oxicam_http_requests_total[5m])/' \
  "$monitoring/oxicam.rules.yml" >"$out/broken/unparsable.rules.yml"
cmp -s "$out/broken/unparsable.rules.yml" "$monitoring/oxicam.rules.yml" && die "the syntax control changed nothing"
if "$promtool" check rules "$out/broken/unparsable.rules.yml" >/dev/null 2>&1; then
  die "promtool check rules accepted an unbalanced parenthesis"
fi
# 3. A dashboard query on a metric the service does not export (a plausible typo).
sed '0,/oxicam_upload_bytes_total/s//oxicam_upload_bytes/' "$monitoring/grafana/oxicam-slo.json" \
  >"$out/broken/dashboard.json"
if python3 "$monitoring/check_monitoring.py" . --dashboard "$out/broken/dashboard.json" >/dev/null 2>&1; then
  die "check_monitoring.py accepted a dashboard reading a metric nobody exports"
fi
# 4. A rule on a metric the service does not export.
sed 's/oxicam_analyses_rejected_total{reason="saturated"}/oxicam_analyses_refused_total{reason="saturated"}/' \
  "$monitoring/oxicam.rules.yml" >"$out/broken/unexported.rules.yml"
cmp -s "$out/broken/unexported.rules.yml" "$monitoring/oxicam.rules.yml" && die "the metric-name control changed nothing"
if python3 "$monitoring/check_monitoring.py" . --rules "$out/broken/unexported.rules.yml" >/dev/null 2>&1; then
  die "check_monitoring.py accepted a rule reading a metric nobody exports"
fi
log "monitoring checks passed: rules, alert tests, scrape config, dashboard; 4 broken controls rejected"
