/**
 * The Argo Rollouts examples (deploy/helm/examples/blue-green.yaml and canary.yaml): rendered by
 * helm, validated against Argo Rollouts' and the Prometheus Operator's schemas, the Rollout's pods
 * checked against forestd's settings as the Deployment's are, the strategy's references resolved
 * (services, AnalysisTemplate, its args), and the analysis queries run by promtool on series that
 * stand for a bad, a good and an idle ReplicaSet: the bad one fails, the others pass.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { ROOT } from "../helpers/fixtures.js";
import { checkServer, type K8sObject, renderChart, validateAll } from "../helpers/k8s.js";

const PROMTOOL = "/usr/bin/promtool";
const example = (name: string) => join(ROOT, "deploy", "helm", "examples", `${name}.yaml`);
const only = (objects: K8sObject[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind} objects`);
  return found[0];
};

/** Renders an example and runs the checks every strategy shares; returns its objects. */
async function renderExample(t: Test, name: string): Promise<K8sObject[]> {
  const objects = renderChart({ values: [example(name)] });
  t.notOk(
    objects.some((o) => o.kind === "Deployment"),
    "a Rollout in place of the Deployment",
  );
  validateAll(t, objects);
  const rollout = only(objects, "Rollout");
  await checkServer(t, {
    configMap: objects.find(
      (o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-settings"),
    ) as K8sObject,
    workload: rollout,
    services: objects.filter((o) => o.kind === "Service"),
    hpa: objects.find((o) => o.kind === "HorizontalPodAutoscaler"),
    pdbs: objects.filter((o) => o.kind === "PodDisruptionBudget"),
  });

  // The analysis the strategy names exists and gets every argument it declares.
  const template = only(objects, "AnalysisTemplate");
  const strategy =
    rollout.spec.strategy.blueGreen?.prePromotionAnalysis ?? rollout.spec.strategy.canary?.analysis;
  t.same(
    strategy.templates.map((x: { templateName: string }) => x.templateName),
    [template.metadata.name],
    "the strategy runs the chart's AnalysisTemplate",
  );
  t.same(
    strategy.args.map((a: { name: string }) => a.name).sort(),
    template.spec.args.map((a: { name: string }) => a.name).sort(),
    "with every argument it declares",
  );
  t.same(strategy.args[0].valueFrom, { podTemplateHashValue: "Latest" }, "judging the new pods");

  // The queries select the new pods by a label the monitor puts on every series.
  const monitor = only(objects, "PodMonitor");
  const relabel = monitor.spec.podMetricsEndpoints[0].relabelings.find(
    (r: { targetLabel: string }) => r.targetLabel === "rollouts_pod_template_hash",
  );
  t.same(relabel?.sourceLabels, ["__meta_kubernetes_pod_label_rollouts_pod_template_hash"]);
  for (const metric of prometheusMetrics(template))
    t.match(metric.query, /rollouts_pod_template_hash="\{\{args\.pod-template-hash\}\}"/, metric.name);
  return objects;
}

interface PrometheusMetric {
  name: string;
  query: string;
  /** From failureCondition "result[0] > X". */
  limit: number;
}

function prometheusMetrics(template: K8sObject): PrometheusMetric[] {
  return template.spec.metrics
    .filter((m: { provider: { prometheus?: unknown } }) => m.provider.prometheus)
    .map((m: { name: string; failureCondition: string; provider: { prometheus: { query: string } } }) => {
      const limit = /^result\[0\] > ([0-9.]+)$/.exec(m.failureCondition)?.[1];
      if (!limit) throw new Error(`${m.name}: unexpected failureCondition ${m.failureCondition}`);
      return { name: m.name, query: m.provider.prometheus.query, limit: Number(limit) };
    });
}

t.test("blue/green: preview Service, pre-promotion analysis, manual promotion", async (t) => {
  const objects = await renderExample(t, "blue-green");
  const rollout = only(objects, "Rollout");
  const { blueGreen } = rollout.spec.strategy;
  const services = objects.filter((o) => o.kind === "Service").map((s) => s.metadata.name);
  t.ok(services.includes(blueGreen.activeService), "the active Service exists");
  t.ok(services.includes(blueGreen.previewService), "the preview Service exists");
  t.not(blueGreen.activeService, blueGreen.previewService);
  t.equal(blueGreen.autoPromotionEnabled, false, "promotion waits for a person");

  const template = only(objects, "AnalysisTemplate");
  const ready = template.spec.metrics.find((m: { name: string }) => m.name === "preview-ready");
  const preview = objects.find((o) => o.metadata.name === blueGreen.previewService) as K8sObject;
  const url = new URL(ready.provider.web.url);
  t.equal(url.hostname.split(".")[0], preview.metadata.name, "the smoke check asks the preview Service");
  t.equal(
    Number(url.port || 80),
    preview.spec.ports[0].port,
    "on its HTTP port (80 when the URL names none)",
  );
  t.equal(url.pathname, "/v2/health/ready", "forestd's OIP readiness");
  t.equal(ready.provider.web.jsonPath, "{$.ready}");
});

t.test("canary: weighted steps with a background analysis", async (t) => {
  const objects = await renderExample(t, "canary");
  const { canary } = only(objects, "Rollout").spec.strategy;
  const weights = canary.steps
    .filter((s: { setWeight?: number }) => s.setWeight)
    .map((s: { setWeight: number }) => s.setWeight);
  t.ok(weights.length >= 2, "more than one step");
  t.same(
    weights,
    [...weights].sort((a: number, b: number) => a - b),
    "weights only grow",
  );
  t.ok(
    weights.every((w: number) => w > 0 && w < 100),
    "each step a share of the pods",
  );
  t.ok(
    canary.steps.some((s: { pause?: unknown }) => s.pause),
    "pauses give the analysis traffic to judge",
  );
  t.equal(canary.analysis.startingStep, 1, "the analysis starts with the first new pods");
});

t.test(
  "the analysis queries, run by promtool: a bad ReplicaSet fails, good and idle ones pass",
  async (t) => {
    const template = only(renderChart({ values: [example("canary")] }), "AnalysisTemplate");
    const metrics = prometheusMetrics(template);
    t.same(
      metrics.map((m) => m.name),
      ["error-share", "p99-seconds"],
    );
    const hashes = { bad: "bad", good: "good", idle: "idle", absent: "absent" };
    // Per minute: bad answers 10% 5xx and takes 0.1–0.25 s; good answers 200 within 10 ms; idle
    // has series but no traffic (0/0); absent has no series at all.
    const series: { series: string; values: string }[] = [];
    const labels = (hash: string, extra: string) =>
      `{namespace="forestd",rollouts_pod_template_hash="${hash}",route="/predict"${extra}}`;
    const perMinute = {
      bad: { ok: 900, failed: 100 },
      good: { ok: 1000, failed: 0 },
      idle: { ok: 0, failed: 0 },
    };
    for (const [hash, rate] of Object.entries(perMinute)) {
      series.push(
        { series: `forestd_http_requests_total${labels(hash, ',status="200"')}`, values: `0+${rate.ok}x20` },
        {
          series: `forestd_http_requests_total${labels(hash, ',status="503"')}`,
          values: `0+${rate.failed}x20`,
        },
      );
      const total = rate.ok + rate.failed;
      for (const le of ["0.01", "0.1", "0.25", "+Inf"]) {
        const below = hash === "bad" ? (le === "0.01" || le === "0.1" ? 0 : total) : total;
        series.push({
          series: `forestd_http_request_duration_seconds_bucket${labels(hash, `,le="${le}"`)}`,
          values: `0+${below}x20`,
        });
      }
    }
    const rules = {
      groups: [
        {
          name: "analysis",
          rules: metrics.flatMap((m) =>
            Object.values(hashes).map((hash) => ({
              alert: `${m.name}_${hash}`,
              expr: `(${m.query.replaceAll("{{args.pod-template-hash}}", hash)}) > ${m.limit}`,
            })),
          ),
        },
      ],
    };
    const tests = {
      rule_files: ["rules.yml"],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: series,
          alert_rule_test: metrics.flatMap((m) =>
            Object.values(hashes).map((hash) => ({
              eval_time: "10m",
              alertname: `${m.name}_${hash}`,
              exp_alerts: hash === "bad" ? [{ exp_labels: {} }] : [],
            })),
          ),
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), "forestd-analysis-"));
    writeFileSync(join(dir, "rules.yml"), stringify(rules));
    writeFileSync(join(dir, "tests.yml"), stringify(tests));
    const run = spawnSync(PROMTOOL, ["test", "rules", "tests.yml"], { cwd: dir, encoding: "utf8" });
    t.equal(run.status, 0, `promtool test rules\n${run.stdout}${run.stderr}`);
  },
);
