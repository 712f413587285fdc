/**
 * npm run dashboard — writes deploy/grafana/forestd.json (and the Helm chart's copy), the
 * provisionable Grafana dashboard, with a model selector ($model) for the per-model panels.
 * Kept as code so every panel's PromQL sits in one readable list; test/process/prometheus.test.ts runs each
 * expression against a real Prometheus scraping a real forestd.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../model/index.js";
import { scriptArgs } from "./script-args.js";

interface Panel {
  title: string;
  unit: string;
  targets: { expr: string; legend: string }[];
}

const rate = "$__rate_interval";
/** Grafana's own variable syntax (not a JavaScript template): the dashboard's data source picker. */
const DATASOURCE = { type: "prometheus", uid: ["$", "{datasource}"].join("") };
/** The model selector: the models chosen (a regular expression; ".*" for all). */
const MODEL = 'model=~"$model"';
export const PANELS: Panel[] = [
  {
    title: "Requests per second",
    unit: "reqps",
    targets: [{ expr: `sum by (route) (rate(forestd_http_requests_total[${rate}]))`, legend: "{{route}}" }],
  },
  {
    title: "Error rate (5xx share)",
    unit: "percentunit",
    targets: [
      {
        expr: `(sum(rate(forestd_http_requests_total{status=~"5.."}[${rate}])) or vector(0)) / clamp_min(sum(rate(forestd_http_requests_total[${rate}])), 1e-9)`,
        legend: "5xx",
      },
    ],
  },
  {
    title: "Latency of /predict",
    unit: "s",
    targets: [0.5, 0.9, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (rate(forestd_http_request_duration_seconds_bucket{route="/predict"}[${rate}])))`,
      legend: `p${q * 100}`,
    })),
  },
  {
    title: "Inference time per task",
    unit: "s",
    targets: [0.5, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (rate(forestd_inference_duration_seconds_bucket[${rate}])))`,
      legend: `p${q * 100}`,
    })),
  },
  {
    title: "Rows per batch",
    unit: "short",
    targets: [
      {
        expr: `sum(rate(forestd_batch_rows_sum[${rate}])) / clamp_min(sum(rate(forestd_batch_rows_count[${rate}])), 1e-9)`,
        legend: "mean rows per task",
      },
    ],
  },
  {
    title: "Queue",
    unit: "short",
    targets: [
      { expr: "sum(forestd_queue_rows)", legend: "rows waiting" },
      {
        expr: `histogram_quantile(0.99, sum by (le) (rate(forestd_queue_wait_seconds_bucket[${rate}])))`,
        legend: "p99 wait (s)",
      },
      { expr: "avg(forestd_pool_utilization)", legend: "thread utilisation" },
    ],
  },
  {
    title: "Rejections",
    unit: "reqps",
    targets: [{ expr: `sum by (reason) (rate(forestd_rejected_total[${rate}]))`, legend: "{{reason}}" }],
  },
  {
    title: "Predictions per class (models selected)",
    unit: "short",
    targets: [
      {
        expr: `sum by (model, class) (rate(forestd_predictions_total{${MODEL}}[${rate}]))`,
        legend: "{{model}}: class {{class}}",
      },
    ],
  },
  {
    title: "Rows scored per model",
    unit: "short",
    targets: [{ expr: `sum by (model) (rate(forestd_rows_total{${MODEL}}[${rate}]))`, legend: "{{model}}" }],
  },
  {
    title: "Requests per model",
    unit: "reqps",
    targets: [
      {
        expr: `sum by (model, status) (rate(forestd_model_requests_total{${MODEL}}[${rate}]))`,
        legend: "{{model}} {{status}}",
      },
    ],
  },
  {
    title: "Latency per model (p99)",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.99, sum by (model, le) (rate(forestd_model_request_duration_seconds_bucket{${MODEL}}[${rate}])))`,
        legend: "{{model}}",
      },
    ],
  },
  {
    title: "Queue wait and scoring per model (p99)",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.99, sum by (model, le) (rate(forestd_queue_wait_seconds_bucket{${MODEL}}[${rate}])))`,
        legend: "{{model}}: queue wait",
      },
      {
        expr: `histogram_quantile(0.99, sum by (model, le) (rate(forestd_inference_duration_seconds_bucket{${MODEL}}[${rate}])))`,
        legend: "{{model}}: task scoring",
      },
    ],
  },
  {
    title: "Models served: compiled bytes",
    unit: "bytes",
    targets: [
      { expr: `sum by (model, version) (forestd_model_bytes{${MODEL}})`, legend: "{{model}} {{version}}" },
      { expr: "sum(forestd_model_bytes)", legend: "all models, all workers" },
    ],
  },
  {
    title: "CPU",
    unit: "percentunit",
    targets: [{ expr: `sum(rate(process_cpu_seconds_total[${rate}]))`, legend: "cores used by workers" }],
  },
  {
    title: "Memory",
    unit: "bytes",
    targets: [
      { expr: "sum(process_resident_memory_bytes)", legend: "resident (all workers)" },
      { expr: "sum(nodejs_heap_size_used_bytes)", legend: "heap used" },
    ],
  },
  {
    title: "Network",
    unit: "Bps",
    targets: [
      { expr: `sum(rate(forestd_network_receive_bytes_total[${rate}]))`, legend: "received" },
      { expr: `sum(rate(forestd_network_transmit_bytes_total[${rate}]))`, legend: "sent" },
    ],
  },
  {
    title: "Event-loop lag",
    unit: "s",
    targets: [{ expr: "max(nodejs_eventloop_lag_p99_seconds)", legend: "p99 (mean over workers)" }],
  },
  {
    title: "Workers and restarts",
    unit: "short",
    targets: [
      { expr: "sum(forestd_workers)", legend: "workers" },
      {
        expr: `sum by (reason) (increase(forestd_worker_restarts_total[${rate}]))`,
        legend: "restarts: {{reason}}",
      },
    ],
  },
  {
    title: "Model source",
    unit: "short",
    targets: [
      {
        expr: `sum by (result) (increase(forestd_model_fetch_total[${rate}]))`,
        legend: "fetches and checks: {{result}}",
      },
      {
        expr: "time() - max(forestd_model_last_reload_timestamp_seconds)",
        legend: "seconds since the last reload",
      },
    ],
  },
];

export function dashboard(): object {
  return {
    title: "forestd",
    uid: "forestd",
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "10s",
    time: { from: "now-1h", to: "now" },
    tags: ["forestd", "xgboost"],
    templating: {
      list: [
        { name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" },
        {
          // The models (every one the workers have scored or hold), for the per-model panels.
          name: "model",
          label: "Model",
          type: "query",
          datasource: DATASOURCE,
          query: { query: "label_values(forestd_model_bytes, model)", refId: "models" },
          definition: "label_values(forestd_model_bytes, model)",
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: ".*",
          current: { text: "All", value: "$__all" },
          sort: 1,
        },
      ],
    },
    panels: PANELS.map((p, i) => ({
      id: i + 1,
      type: "timeseries",
      title: p.title,
      datasource: DATASOURCE,
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.targets.map((t, j) => ({
        refId: String.fromCharCode(65 + j),
        expr: t.expr,
        legendFormat: t.legend,
        datasource: DATASOURCE,
      })),
    })),
  };
}

if (process.argv[1]?.endsWith("grafana-dashboard.js")) {
  scriptArgs(
    "npm run dashboard\n  Rewrites deploy/grafana/forestd.json and deploy/helm/forestd/files/forestd.json from the panels in scripts/grafana-dashboard.ts; no options.",
    {
      options: {},
    },
  );
  // The Helm chart ships the same dashboard (its ConfigMap reads files/forestd.json).
  for (const file of [
    join(packageRoot(), "deploy", "grafana", "forestd.json"),
    join(packageRoot(), "deploy", "helm", "forestd", "files", "forestd.json"),
  ]) {
    writeFileSync(file, `${JSON.stringify(dashboard(), null, 2)}\n`);
    console.log(`wrote ${file}`);
  }
}
