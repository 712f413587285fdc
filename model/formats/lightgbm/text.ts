/**
 * A LightGBM model file split into its parts, as GBDT::LoadModelFromString reads it
 * (src/boosting/gbdt_model_text.cpp) and the Python package appends to it (basic.py):
 *
 *     tree                              the sub-model name
 *     version=v4                        header: key=value lines (or a bare key: average_output)
 *     ...
 *     tree_sizes=561 562 ...            each tree block's length in bytes
 *                                       (a blank line)
 *     Tree=0                            a tree block: key=value lines, then blank lines
 *     num_leaves=4 ...
 *     end of trees
 *     feature_importances:              name=count lines
 *     parameters: ... end of parameters the training parameters, one [name: value] a line
 *     parser: ... end of parser         (v4, optional) a custom parser's configuration
 *     pandas_categorical:[...]          (Python) each pandas category column's categories, JSON
 *
 * Only the structure is checked here (which lines, how many, where); tree.ts and index.ts read the
 * values. Lines end with \n or \r\n (LightGBM's GetLine stops at either).
 */
import { invalidModel as invalid, ModelError, modelSyntaxError as syntax } from "../../errors.js";
import { LIMITS } from "../../forest/check.js";

/** LightGBM's Tree(const char*) reads at most 22 key=value lines; later versions may add a few. */
const MAX_TREE_LINES = 64;
/** Header lines LightGBM writes: a dozen; anything near this is not a LightGBM header. */
const MAX_HEADER_LINES = 256;

export interface TreeBlock {
  /** The block's position among the trees (what Tree=N must say). */
  readonly index: number;
  /** key → value, in the order written. */
  readonly fields: ReadonlyMap<string, string>;
  /** 1-based line number of the Tree= line, for messages. */
  readonly line: number;
  /** Characters from the Tree= line to the next block (what tree_sizes states, in bytes). */
  readonly length: number;
}

export interface ModelText {
  /** Header key → value ("" for a bare key such as average_output). */
  readonly header: ReadonlyMap<string, string>;
  readonly trees: readonly TreeBlock[];
  /** The `parameters:` section's lines (`[name: value]`), empty when absent. */
  readonly parameters: readonly string[];
  /** The `feature_importances:` section as name → count text. */
  readonly featureImportances: ReadonlyMap<string, string>;
  /** The text after `pandas_categorical:` on the Python trailer line, or null. */
  readonly pandasCategorical: string | null;
}

/** A cursor over the file's lines. */
class Lines {
  private at = 0;
  /** 1-based number of the line `next()` returns. */
  number = 0;
  /** Offset (in characters) where the line `next()` returned began. */
  start = 0;

  constructor(private readonly text: string) {}

  get offset(): number {
    return this.at;
  }

  get done(): boolean {
    return this.at >= this.text.length;
  }

  next(): string {
    this.start = this.at;
    let end = this.text.indexOf("\n", this.at);
    if (end === -1) end = this.text.length;
    this.at = end + 1;
    this.number++;
    return this.text.charCodeAt(end - 1) === 13
      ? this.text.slice(this.start, end - 1)
      : this.text.slice(this.start, end);
  }

  slice(start: number, end: number): string {
    return this.text.slice(start, end);
  }

  /** The next line without consuming it, or null at the end. */
  peek(): string | null {
    if (this.done) return null;
    const { at, number, start } = this;
    const line = this.next();
    this.at = at;
    this.number = number;
    this.start = start;
    return line;
  }
}

const TREE_LINE = /^Tree=(\d{1,9})$/;
const END_OF_TREES = "end of trees";
/** Tree blocks are ASCII, so their length in characters is tree_sizes' length in bytes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range, spelled out
const NON_ASCII = /[^\x00-\x7f]/;

export function splitModelText(text: string): ModelText {
  const lines = new Lines(text);
  const header = readHeader(lines);
  const trees = readTrees(lines);
  const { parameters, featureImportances, pandasCategorical } = readTrailer(lines);
  return { header, trees, parameters, featureImportances, pandasCategorical };
}

function readHeader(lines: Lines): Map<string, string> {
  const header = new Map<string, string>();
  const first = lines.next();
  if (first !== "tree")
    syntax(`line 1 is ${JSON.stringify(first.slice(0, 40))}; a LightGBM model file starts with "tree"`);
  let count = 0;
  while (!lines.done) {
    const line = lines.peek()!;
    if (line.startsWith("Tree=") || line === END_OF_TREES) break;
    lines.next();
    if (line === "") continue;
    if (++count > MAX_HEADER_LINES) syntax(`the header has more than ${MAX_HEADER_LINES} lines`);
    const eq = line.indexOf("=");
    const key = eq === -1 ? line : line.slice(0, eq);
    const value = eq === -1 ? "" : line.slice(eq + 1);
    // LightGBM refuses a line with two '=' but in the two fields whose values may hold them.
    if (value.includes("=") && key !== "feature_names" && key !== "monotone_constraints")
      syntax(`header line ${lines.number} has more than one "=": ${JSON.stringify(line.slice(0, 60))}`);
    if (header.has(key)) invalid(`header line ${lines.number} repeats ${JSON.stringify(key.slice(0, 40))}`);
    header.set(key, value);
  }
  return header;
}

function readTrees(lines: Lines): TreeBlock[] {
  const trees: TreeBlock[] = [];
  let current: { index: number; line: number; start: number; fields: Map<string, string> } | null = null;
  let inBlank = false; // past the block's key=value lines
  const close = (end: number) => {
    if (current)
      trees.push({
        index: current.index,
        fields: current.fields,
        line: current.line,
        length: end - current.start,
      });
  };
  for (;;) {
    if (lines.done)
      syntax(`the file ends before "${END_OF_TREES}" (after ${trees.length + (current ? 1 : 0)} trees)`);
    const line = lines.next();
    if (line === END_OF_TREES) {
      close(lines.start);
      if (current && NON_ASCII.test(lines.slice(current.start, lines.start)))
        syntax(`tree ${current.index} holds a character outside ASCII (LightGBM writes trees in ASCII)`);
      return trees;
    }
    const match = TREE_LINE.exec(line);
    if (match) {
      close(lines.start);
      if (current && NON_ASCII.test(lines.slice(current.start, lines.start)))
        syntax(`tree ${current.index} holds a character outside ASCII (LightGBM writes trees in ASCII)`);
      const index = trees.length;
      // Before the block is kept: a file of a million one-line trees is refused, not held.
      if (index >= LIMITS.maxTrees)
        throw new ModelError(
          "FORESTD_ERR_MODEL_TOO_LARGE",
          `the file holds more than ${LIMITS.maxTrees} trees`,
        );
      if (Number(match[1]) !== index)
        invalid(
          `line ${lines.number} says ${line}, but it is tree ${index} (trees are numbered from 0 in order)`,
        );
      current = { index, line: lines.number, start: lines.start, fields: new Map() };
      inBlank = false;
      continue;
    }
    if (!current) syntax(`line ${lines.number} is ${JSON.stringify(line.slice(0, 40))}; expected Tree=0`);
    if (line === "") {
      inBlank = true;
      continue;
    }
    if (inBlank)
      syntax(
        `tree ${current.index}: line ${lines.number} (${JSON.stringify(line.slice(0, 40))}) follows the blank line that ends the tree`,
      );
    const eq = line.indexOf("=");
    if (eq <= 0)
      syntax(
        `tree ${current.index}: line ${lines.number} is not key=value: ${JSON.stringify(line.slice(0, 40))}`,
      );
    const key = line.slice(0, eq);
    if (current.fields.has(key)) invalid(`tree ${current.index}: line ${lines.number} repeats ${key}`);
    if (current.fields.size >= MAX_TREE_LINES)
      syntax(`tree ${current.index} has more than ${MAX_TREE_LINES} lines`);
    current.fields.set(key, line.slice(eq + 1));
  }
}

function readTrailer(lines: Lines) {
  const parameters: string[] = [];
  const featureImportances = new Map<string, string>();
  let pandasCategorical: string | null = null;
  let section: "none" | "importances" | "parameters" | "parser" = "none";
  while (!lines.done) {
    const line = lines.next();
    if (line.startsWith("pandas_categorical:")) {
      if (pandasCategorical !== null) invalid(`line ${lines.number} repeats pandas_categorical`);
      pandasCategorical = line.slice("pandas_categorical:".length);
      section = "none";
    } else if (line === "feature_importances:") section = "importances";
    else if (line === "parameters:") section = "parameters";
    else if (line === "end of parameters") section = "none";
    else if (line === "parser:") section = "parser";
    else if (line === "end of parser") section = "none";
    else if (line === "") {
      if (section === "importances") section = "none";
    } else if (section === "parameters") parameters.push(line);
    else if (section === "importances") {
      const eq = line.lastIndexOf("=");
      featureImportances.set(eq === -1 ? line : line.slice(0, eq), eq === -1 ? "" : line.slice(eq + 1));
    }
    // A parser's configuration (v4) and any other trailing text: LightGBM does not predict with it.
  }
  return { parameters, featureImportances, pandasCategorical };
}
