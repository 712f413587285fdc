/**
 * A model version's series in a worker (WorkerMetrics.forModel): they exist at 0 from its first load,
 * and a replacement with the same labels (a model without version folders, replaced in place) keeps
 * counting where it was: cluster sums must never go backwards (seen in the chaos campaign, where
 * zeroing the histograms again on a reload made forestd_inline_scoring_seconds fall).
 */
import t from "tap";
import { WorkerMetrics } from "../../workers/process/metrics.js";

async function values(metrics: WorkerMetrics, name: string) {
  const all = await metrics.registry.getMetricsAsJSON();
  return all.find((m) => m.name === name)?.values ?? [];
}

t.test("series start at 0 at a model's first load, and a replacement does not reset them", async (t) => {
  const metrics = new WorkerMetrics({ queueRows: () => 0, poolUtilization: () => 0 });
  const first = metrics.forModel({ model: "churn" });
  const count = async () =>
    (await values(metrics, "forestd_inline_scoring_seconds")).find(
      (v) => (v as { metricName?: string }).metricName === "forestd_inline_scoring_seconds_count",
    )?.value;
  t.equal(await count(), 0, "at 0 before any scoring");
  t.same(
    (await values(metrics, "forestd_rows_total")).map((v) => [v.labels, v.value]),
    [[{ model: "churn" }, 0]],
  );
  first.inlineScoring.observe(0.00001);
  first.rows.inc(3);
  first.answered(200, 0.001);
  const replaced = metrics.forModel({ model: "churn" });
  t.equal(await count(), 1, "the replacement's load keeps the count");
  replaced.inlineScoring.observe(0.00002);
  replaced.rows.inc(2);
  t.equal(await count(), 2);
  t.same(
    (await values(metrics, "forestd_rows_total")).map((v) => v.value),
    [5],
  );
  const requests = (await values(metrics, "forestd_model_request_duration_seconds")).find(
    (v) => (v as { metricName?: string }).metricName === "forestd_model_request_duration_seconds_count",
  );
  t.equal(requests?.value, 1);

  metrics.forModel({ model: "churn", version: "2" });
  t.ok(
    (await values(metrics, "forestd_rows_total")).some((v) => v.labels.version === "2" && v.value === 0),
    "another version's series start at 0 beside",
  );
});
