/**
 * V8_FLAGS (server/v8-flags.ts): which flags workers are started with. A flag this Node's V8 does
 * not know must be left out, not passed on: on a worker's command line it would stop the worker.
 */
import t from "tap";
import { SETTINGS } from "../../config/settings.js";
import { parseV8Options, sortV8Flags, v8FlagName } from "../../server/v8-flags.js";

t.test("a flag's name is read the way V8 lists it", async (t) => {
  t.equal(v8FlagName("--max-semi-space-size=8"), "max-semi-space-size");
  t.equal(v8FlagName("--no-concurrent-marking"), "concurrent-marking", "the negated form");
  t.equal(v8FlagName("--max_semi_space_size"), "max-semi-space-size", "underscores as dashes");
});

t.test("node --v8-options is read for flag names, after its synopsis", async (t) => {
  const listing = [
    "SSE3=1 SSSE3=1",
    "The following syntax for options is accepted (both '-' and '--' are ok):",
    "  --flag        (bool flags only)",
    "  --no-flag     (bool flags only)",
    "",
    "Options:",
    "  --max-semi-space-size (max size of a semi-space (in MBytes))",
    "        type: size_t  default: --max-semi-space-size=0",
    "  --concurrent-marking (use concurrent marking)",
  ].join("\n");
  t.same([...parseV8Options(listing)].sort(), ["concurrent-marking", "max-semi-space-size"]);
  t.same([...parseV8Options("no options here")], [], "nothing without an Options: line");
});

t.test("known flags are kept in order, unknown ones set apart, `none` is none", async (t) => {
  const names = new Set(["max-semi-space-size", "concurrent-marking"]);
  t.same(sortV8Flags("  --max-semi-space-size=8 --no-such-flag   --no-concurrent-marking ", names), {
    usable: ["--max-semi-space-size=8", "--no-concurrent-marking"],
    unknown: ["--no-such-flag"],
    checked: true,
  });
  t.same(sortV8Flags("none", names), { usable: [], unknown: [], checked: true });
  t.same(sortV8Flags("", names), { usable: [], unknown: [], checked: true });
});

t.test("when this Node's flags cannot be listed, none is passed on", async (t) => {
  t.same(sortV8Flags("--max-semi-space-size=8", null), {
    usable: [],
    unknown: ["--max-semi-space-size=8"],
    checked: false,
  });
});

t.test("the default: a flag of V8 13 and later (Node 24), left out on older ones (Node 22)", async (t) => {
  const spec = SETTINGS.find((s) => s.key === "v8_flags");
  const fallback = spec?.default as string;
  t.match(fallback, /^--[a-z-]+$/, "the default names one flag");
  const sorted = sortV8Flags(fallback);
  t.ok(sorted.checked, "this Node's flags were listed");
  const v8Major = Number(process.versions.v8.split(".")[0]);
  if (v8Major >= 13) t.same(sorted.usable, [fallback], `V8 ${process.versions.v8} has it`);
  else t.same(sorted.unknown, [fallback], `V8 ${process.versions.v8} lacks it`);
  t.same(
    sortV8Flags("--surely-not-a-v8-flag").unknown,
    ["--surely-not-a-v8-flag"],
    "an unknown flag is set apart",
  );
});
