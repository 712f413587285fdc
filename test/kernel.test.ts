/** model/kernel-wasm.ts is exactly model/kernel.wat assembled: nobody edited one without the other. */
import t from "tap";
import { KERNEL_WASM_BASE64 } from "../model/kernel-wasm.js";
import { assembleKernel } from "../scripts/build-kernel.js";

t.test("the committed kernel bytes match kernel.wat", async (t) => {
  const assembled = Buffer.from(await assembleKernel()).toString("base64");
  t.equal(KERNEL_WASM_BASE64, assembled, "run `npm run build:kernel` after editing model/kernel.wat");
});
