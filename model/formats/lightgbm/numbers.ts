/**
 * The numbers of a LightGBM model file, read strictly: a field's values are space-separated
 * tokens, exactly as many as the field must hold. Every refusal names the field, the tree and the
 * index; a list's length is checked against its text before anything is allocated, so a short line
 * cannot ask for a large array.
 *
 * Doubles: LightGBM writes them with "%.17g" (fmt's {:.17g}) and reads thresholds and leaf values
 * with fast_double_parser, falling back to strtod (Common::AtofPrecise): both correctly rounded, as
 * JavaScript's Number() is, so a value reads back to the very double LightGBM holds. Other floats
 * (internal_value, split_gain) are read with LightGBM's own less precise Common::Atof; forestd
 * never computes with those.
 */
import { modelSyntaxError as syntax } from "../../errors.js";

/** What a message names: "tree 3 field threshold" and so on. */
export type Where = string;

/** strtod's grammar for what LightGBM writes: a decimal with optional exponent, inf, nan. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL: Readonly<Record<string, number>> = {
  inf: Infinity,
  "+inf": Infinity,
  "-inf": -Infinity,
  infinity: Infinity,
  "-infinity": -Infinity,
  nan: NaN,
  "-nan": NaN,
};

/** One token as strtod reads it; NaN for "nan", undefined for anything that is not a number. */
export function parseDouble(token: string): number | undefined {
  if (DECIMAL.test(token)) return Number(token);
  return SPECIAL[token.toLowerCase()];
}

const INTEGER = /^[+-]?\d{1,10}$/;

/** One integer token, or undefined when it is not an integer in [min, max]. */
export function parseInteger(token: string, min: number, max: number): number | undefined {
  if (!INTEGER.test(token)) return undefined;
  const v = Number(token);
  return v >= min && v <= max ? v : undefined;
}

/**
 * Calls `each(token, i)` for the `count` space-separated tokens of `text`; refuses a text with
 * fewer or more. Empty tokens (two spaces) are skipped, as LightGBM's Split does.
 */
function forEachToken(text: string, count: number, where: Where, each: (token: string, i: number) => void) {
  let i = 0;
  let at = 0;
  const end = text.length;
  while (at < end) {
    let stop = text.indexOf(" ", at);
    if (stop === -1) stop = end;
    if (stop > at) {
      if (i === count) syntax(`${where} holds more than the ${count} values it must`);
      each(text.slice(at, stop), i);
      i++;
    }
    at = stop + 1;
  }
  if (i !== count) syntax(`${where} holds ${i} values; it must hold ${count}`);
}

/** Refuses, before anything is allocated, a text too short to hold `count` values. */
function checkRoom(text: string, count: number, where: Where): void {
  // Each value needs at least one character, and the count - 1 separators one each.
  if (count > 0 && text.length < 2 * count - 1)
    syntax(`${where} holds fewer than the ${count} values it must (${text.length} characters)`);
}

/** `count` doubles. */
export function doubles(text: string, count: number, where: Where): Float64Array {
  checkRoom(text, count, where);
  const out = new Float64Array(count);
  forEachToken(text, count, where, (token, i) => {
    const v = parseDouble(token);
    if (v === undefined) syntax(`${where}[${i}] is ${JSON.stringify(token.slice(0, 40))}, not a number`);
    out[i] = v;
  });
  return out;
}

/** `count` integers in [min, max]. */
export function integers(text: string, count: number, where: Where, min: number, max: number): Float64Array {
  checkRoom(text, count, where);
  const out = new Float64Array(count);
  forEachToken(text, count, where, (token, i) => {
    const v = parseInteger(token, min, max);
    if (v === undefined)
      syntax(`${where}[${i}] is ${JSON.stringify(token.slice(0, 40))}, not an integer in [${min}, ${max}]`);
    out[i] = v;
  });
  return out;
}

/** Every space-separated token of `text` (for lists whose length the file does not state). */
export function tokens(text: string): string[] {
  return text.split(" ").filter((s) => s.length > 0);
}

/**
 * LightGBM's Common::Atof (include/LightGBM/utils/common.h), which reads the objective's
 * parameters (`sigmoid:0.7`): digits accumulated in a double, the fraction divided by
 * Common::Pow(10, digits), the exponent applied by repeated multiplication. It is not always
 * correctly rounded, so forestd computes with the double LightGBM computes with, not Number()'s.
 * Returns NaN where LightGBM's would (a token it cannot read as a number).
 */
export function lightgbmAtof(text: string): number {
  let p = 0;
  const at = (i: number) => text.charCodeAt(i);
  const isDigit = (i: number) => i < text.length && at(i) >= 48 && at(i) <= 57;
  while (text[p] === " ") p++;
  let sign = 1.0;
  if (text[p] === "-") {
    sign = -1.0;
    p++;
  } else if (text[p] === "+") p++;
  if (!(isDigit(p) || text[p] === "." || text[p] === "e" || text[p] === "E")) {
    const word = text.slice(p).toLowerCase();
    if (word === "inf" || word === "infinity") return sign * 1e308;
    return NaN;
  }
  let value = 0.0;
  for (; isDigit(p); p++) value = value * 10.0 + (at(p) - 48);
  if (text[p] === ".") {
    let right = 0.0;
    let nn = 0;
    p++;
    for (; isDigit(p); p++) {
      right = at(p) - 48 + right * 10.0;
      nn++;
    }
    value += right / lightgbmPow(10.0, nn);
  }
  let frac = false;
  let scale = 1.0;
  if (text[p] === "e" || text[p] === "E") {
    p++;
    if (text[p] === "-") {
      frac = true;
      p++;
    } else if (text[p] === "+") p++;
    let expon = 0; // a uint32_t in C: wraps around
    for (; isDigit(p); p++) expon = (Math.imul(expon, 10) + (at(p) - 48)) >>> 0;
    if (expon > 308) expon = 308;
    while (expon >= 50) {
      scale *= 1e50;
      expon -= 50;
    }
    while (expon >= 8) {
      scale *= 1e8;
      expon -= 8;
    }
    while (expon > 0) {
      scale *= 10.0;
      expon -= 1;
    }
  }
  return sign * (frac ? value / scale : value * scale);
}

/** LightGBM's Common::Pow: by squaring and cubing, in its own order (the roundings depend on it). */
export function lightgbmPow(base: number, power: number): number {
  if (power < 0) return 1.0 / lightgbmPow(base, -power);
  if (power === 0) return 1;
  if (power % 2 === 0) return lightgbmPow(base * base, power / 2);
  if (power % 3 === 0) return lightgbmPow(base * base * base, power / 3);
  return base * lightgbmPow(base, power - 1);
}
