/**
 * V8_FLAGS (server/v8-flags.ts): which flags workers are started with. A flag this Node's V8 does
 * not know must be left out, not passed on: on a worker's command line it would stop the worker.
 */
import t from "tap";
import { SETTINGS } from "../config/settings.js";
import { parseV8Options, sortV8Flags, v8FlagName } from "../server/v8-flags.js";

t.test("a flag's name is read the way V8 lists it", async (t) => {
  t.equal(v8FlagName("--max-semi-space-size=8"), "max-semi-space-size");
  t.equal(v8FlagName("--no-concurrent-marking"), "concurrent-marking", "the negated form");
  t.equal(v8FlagName("--max_semi_space_size"), "max-semi-space-size", "underscores as dashes");
  t.equal(v8FlagName("-stack-size=100"), "stack-size", "one dash");
});

t.test("node --v8-options is read for flag names", async (t) => {
  const listing = [
    "SSE3=1 SSSE3=1",
    "Options:",
    "  --max-semi-space-size (max size of a semi-space (in MBytes))",
    "        type: size_t  default: --max-semi-space-size=0",
    "  --concurrent-marking (use concurrent marking)",
  ].join("\n");
  t.same([...parseV8Options(listing)].sort(), ["concurrent-marking", "max-semi-space-size"]);
});

t.test("known flags are kept in order, unknown ones set apart, `none` is none", async (t) => {
  const names = new Set(["max-semi-space-size", "concurrent-marking"]);
  t.same(sortV8Flags("  --max-semi-space-size=8 --no-such-flag   --no-concurrent-marking ", names), {
    usable: ["--max-semi-space-size=8", "--no-concurrent-marking"],
    unknown: ["--no-such-flag"],
  });
  t.same(sortV8Flags("none", names), { usable: [], unknown: [] });
  t.same(sortV8Flags("", names), { usable: [], unknown: [] });
});

t.test("the default is a flag of this Node's V8 (read from node --v8-options)", async (t) => {
  const spec = SETTINGS.find((s) => s.key === "v8_flags");
  const fallback = spec?.default as string;
  t.match(fallback, /^--/, "the default names a flag");
  t.same(sortV8Flags(fallback), { usable: fallback.split(" "), unknown: [] });
  t.same(
    sortV8Flags("--surely-not-a-v8-flag").unknown,
    ["--surely-not-a-v8-flag"],
    "and an unknown one is not",
  );
});
