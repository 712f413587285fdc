/**
 * A repository's layout (server/repository/layout.ts) and a model's forestd.json
 * (folder-config.ts): which entries are models and versions, and every refusal the issue lists
 * (an entry that is not a model, a version folder that is not a number, names with path tricks),
 * each with its reason; the version policies as Triton's.
 */
import t from "tap";
import { applyPolicy, parseFolderConfig } from "../../server/repository/folder-config.js";
import { layoutOf } from "../../server/repository/layout.js";

const files = (...paths: string[]) => paths.map((path) => ({ path }));
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

t.test("folders, version folders, top-level files", async (t) => {
  const { models, refused } = layoutOf(
    files(
      "churn/forestd.json",
      "churn/1/model.json",
      "churn/2/model.ubj",
      "churn/10/model.json",
      "fraud/fraud.onnx",
      "price.model.json",
      ".storage-initializer-done",
      "churn/.hidden/x.json",
      `fraud/SUCCESS.${"ab".repeat(32)}`,
    ),
  );
  t.same(refused, []);
  t.same(
    models.map((m) => [
      m.name,
      m.entry,
      m.config?.path ?? null,
      m.versions.map((v) => [v.version, v.file.path]),
    ]),
    [
      [
        "churn",
        "churn",
        "churn/forestd.json",
        [
          ["1", "churn/1/model.json"],
          ["2", "churn/2/model.ubj"],
          ["10", "churn/10/model.json"],
        ],
      ],
      ["fraud", "fraud", null, [[null, "fraud/fraud.onnx"]]],
      ["price", "price.model.json", null, [[null, "price.model.json"]]],
    ],
    "versions in numeric order; a top-level file named after itself, without its extensions; KServe's agent's marker ignored",
  );
});

t.test("every entry that is not a model is refused with its reason; the rest still served", async (t) => {
  const { models, refused } = layoutOf(
    files(
      "good/model.json",
      "latest/model.json",
      "versions/1/model.json",
      "versions/v2/model.json",
      "versions/02/model.json",
      "versions/3/a.json",
      "versions/3/b.json",
      "versions/4/deeper/model.json",
      "versions/loose.json",
      "two/a.json",
      "two/b.ubj",
      "empty/forestd.json",
      "bad name/model.json",
      `${"x".repeat(200)}/model.json`,
      "a%2F..%2Fb/model.json",
      "../escape/model.json",
      "a//b.json",
      "forestd.json",
    ),
  );
  t.same(
    models.map((m) => [m.name, m.versions.map((v) => v.version)]),
    [
      ["good", [null]],
      ["latest", [null]],
      ["versions", ["1"]],
    ],
    "good/, latest/ (a folder named 'latest' is a model named latest) and versions/1",
  );
  const reasons = Object.fromEntries(refused.map((r) => [r.entry, r.reason]));
  t.match(reasons, {
    "versions/v2": /must be a version number/,
    "versions/02": /must be a version number/,
    "versions/3": /must hold one model file; it holds 2 \(a\.json, b\.json\)/,
    "versions/4/deeper/model.json": /holds its model file, no folders/,
    "versions/loose.json": /beside version folders/,
    two: /must hold one model file, or version folders; it holds 2 files/,
    empty: /without a model file/,
    "bad name": /not a model name/,
    "a%2F..%2Fb": /not a model name/,
    "../escape/model.json": /not a plain relative path/,
    "a//b.json": /not a plain relative path/,
    "forestd.json": /belongs in a model's folder/,
  });
  t.ok(
    refused.some(
      (r) => r.entry.length <= 81 && r.entry.startsWith("xxxx") && /not a model name/.test(r.reason),
    ),
    "a 200-character name refused, shown shortened",
  );
});

t.test("forestd.json: name, version policy, per-model settings; anything else refused by name", async (t) => {
  t.same(
    parseFolderConfig(
      json({
        name: "churn-b",
        version_policy: { latest: { num_versions: 2 } },
        class_names: ["a", "b"],
        MAX_QUEUE_WAIT: 0.02,
      }),
    ),
    {
      name: "churn-b",
      policy: { kind: "latest", count: 2 },
      overrides: { class_names: ["a", "b"], max_queue_wait: 0.02 },
    },
  );
  t.same(parseFolderConfig(json({ version_policy: { all: {} } })).policy, { kind: "all" });
  t.same(parseFolderConfig(json({ version_policy: { specific: { versions: [1, 3] } } })).policy, {
    kind: "specific",
    versions: ["1", "3"],
  });
  const refusals: [unknown, RegExp][] = [
    [{ workers: 3 }, /unknown key "workers"; a forestd.json may set name, version_policy, .*max_queue_wait/],
    [{ name: "../x" }, /"name" must be a model name/],
    [{ max_queue_wait: -1 }, /"max_queue_wait" is not a valid MAX_QUEUE_WAIT/],
    [{ version_policy: { latest: { num_versions: 0 } } }, /num_versions is a whole number/],
    [{ version_policy: { specific: { versions: ["1"] } } }, /versions are positive whole numbers/],
    [{ version_policy: { newest: {} } }, /"version_policy" must be/],
    [[1, 2], /must hold a JSON object/],
  ];
  for (const [value, message] of refusals)
    t.throws(() => parseFolderConfig(json(value)), { message }, JSON.stringify(value));
  t.throws(() => parseFolderConfig(new TextEncoder().encode("{")), { message: /is not valid JSON/ });
  t.throws(() => parseFolderConfig(new Uint8Array(70_000)), { message: /at most 65536/ });
  t.throws(
    () => parseFolderConfig(Uint8Array.of(0x7b, 0xff, 0x7d)),
    { message: /is not valid JSON/ },
    "not UTF-8",
  );
});

t.test("version policies choose as Triton's", async (t) => {
  const available = ["1", "3", "10", "2"];
  t.same(applyPolicy(available, { kind: "latest", count: 1 }).served, ["10"]);
  t.same(applyPolicy(available, { kind: "latest", count: 2 }).served, ["3", "10"]);
  t.same(applyPolicy(available, { kind: "all" }).served, ["1", "2", "3", "10"]);
  const specific = applyPolicy(available, { kind: "specific", versions: ["1", "3", "7"] });
  t.same(specific.served, ["1", "3"]);
  t.same(
    specific.skipped.map((s) => s.version),
    ["2", "10"],
  );
  t.match(applyPolicy(available, { kind: "latest", count: 1 }).skipped[0].reason, /not among the latest 1/);
});
