/** Each committed model/<name>-wasm.ts is exactly its .wat assembled: nobody edited one without the other. */
import t from "tap";
import { KERNEL_WASM_BASE64 } from "../model/kernel-wasm.js";
import { SHAP_KERNEL_WASM_BASE64 } from "../model/shap-kernel-wasm.js";
import { assembleKernel } from "../scripts/build-kernel.js";

const committed = { kernel: KERNEL_WASM_BASE64, "shap-kernel": SHAP_KERNEL_WASM_BASE64 } as const;

for (const [name, bytes] of Object.entries(committed) as [keyof typeof committed, string][]) {
  t.test(`the committed ${name} bytes match ${name}.wat`, async (t) => {
    const assembled = Buffer.from(await assembleKernel(name)).toString("base64");
    t.equal(bytes, assembled, `run \`npm run build:kernel\` after editing model/${name}.wat`);
  });
}
