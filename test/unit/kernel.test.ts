/** Each committed generated kernel module is exactly its source assembled: nobody edited one without the other. */
import t from "tap";
import { SHAP_KERNEL_WASM_BASE64 } from "../../model/explain/shap-kernel-wasm.js";
import { KERNEL_F32_WASM_BASE64, KERNEL_F64_WASM_BASE64 } from "../../model/kernels/kernel-wasm.js";
import {
  SIMD_KERNEL_RELAXED_WASM_BASE64,
  SIMD_KERNEL_WASM_BASE64,
} from "../../model/kernels/simd-kernel-wasm.js";
import { assembleKernel, type KernelName } from "../../scripts/build-kernel.js";

const committed: Record<KernelName, string> = {
  "kernel-f32": KERNEL_F32_WASM_BASE64,
  "kernel-f64": KERNEL_F64_WASM_BASE64,
  "shap-kernel": SHAP_KERNEL_WASM_BASE64,
  "simd-kernel": SIMD_KERNEL_WASM_BASE64,
  "simd-kernel-relaxed": SIMD_KERNEL_RELAXED_WASM_BASE64,
};

for (const [name, bytes] of Object.entries(committed) as [KernelName, string][]) {
  t.test(`the committed ${name} bytes match its .wat`, async (t) => {
    const assembled = Buffer.from(await assembleKernel(name)).toString("base64");
    t.equal(bytes, assembled, `run \`npm run build:kernel\` after editing the kernel's .wat`);
  });
}
