/**
 * /invocations' text/csv bodies → a Frame, as MLflow reads them (`pd.read_csv`): the first line
 * names the columns (an empty name is pandas' "Unnamed: i", a repeated one "name.1"), blank lines
 * are skipped, quotes as RFC 4180 and as pandas (a quote inside an unquoted field is a character),
 * and a cell pandas reads as NA ("", "NA", "NaN", "null", "None", ...) is missing. Every row has
 * as many fields as the header: a ragged row is refused naming its line (pandas pads a short one).
 *
 * Parsed by csv-parse (the CSV project's parser, pure JavaScript, synchronous); the cells stay
 * strings here, and become numbers as the column's type says (to-rows.ts).
 */
import { CsvError, parse } from "csv-parse/sync";
import { type Frame, MAX_COLUMNS, rowsFrame } from "./json-input.js";
import { badRequest, pyStr } from "./protocol.js";

/** pandas' default NA spellings (pandas/_libs/parsers.pyx STR_NA_VALUES). */
const NA_VALUES = new Set([
  "",
  "#N/A",
  "#N/A N/A",
  "#NA",
  "-1.#IND",
  "-1.#QNAN",
  "-NaN",
  "-nan",
  "1.#IND",
  "1.#QNAN",
  "<NA>",
  "N/A",
  "NA",
  "NULL",
  "NaN",
  "None",
  "n/a",
  "nan",
  "null",
]);

export function isCsvNa(cell: string): boolean {
  return NA_VALUES.has(cell);
}

function failed(reason: string): never {
  throw badRequest(
    `Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the \`pandas.DataFrame.to_csv()\` method. Error: '${reason}'`,
  );
}

/** The CSV body's Frame; `maxRows` bounds the rows read (more: a TooManyRows answer upstream). */
export function frameFromCsv(text: string): Frame {
  let records: string[][];
  try {
    records = parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_quotes: true,
      record_delimiter: ["\r\n", "\n", "\r"],
      max_record_size: 1 << 24,
    }) as string[][];
  } catch (error) {
    if (error instanceof CsvError) {
      // csv-parse says "Invalid Record Length: expect 3, got 4 on line 5": pandas' words instead.
      const m = /expect (\d+), got (\d+) on line (\d+)/.exec(error.message);
      if (m) failed(`Error tokenizing data. Expected ${m[1]} fields in line ${m[3]}, saw ${m[2]}`);
      failed(error.message.slice(0, 300));
    }
    throw error;
  }
  if (records.length === 0) failed("No columns to parse from file");
  const header = records[0];
  if (header.length > MAX_COLUMNS) failed(`${header.length} columns; at most ${MAX_COLUMNS}`);
  const labels: string[] = [];
  const seen = new Set<string>();
  header.forEach((name, i) => {
    let label = name === "" ? `Unnamed: ${i}` : name;
    if (seen.has(label)) {
      let k = 1;
      while (seen.has(`${label}.${k}`)) k++;
      label = `${label}.${k}`;
    }
    seen.add(label);
    labels.push(label);
  });
  const rows = records.slice(1).map((record) => record.map((cell) => (isCsvNa(cell) ? null : cell)));
  return rowsFrame(labels, rows, labels.length, "csv", "csv");
}

/** A hint for a CSV whose first line reads as numbers: pandas took it as the header. */
export function headerHint(frame: Frame): string {
  const numeric = frame.labels?.every(
    (l) => typeof l === "string" && l.trim() !== "" && Number.isFinite(Number(l)),
  );
  return numeric
    ? ` The CSV's first line must name the columns; it reads ${frame.labels
        ?.slice(0, 5)
        .map((l) => pyStr(String(l), 20))
        .join(", ")}.`
    : "";
}
