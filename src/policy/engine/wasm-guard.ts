/**
 * Works around a V8 bug in Node 20: when TurboFan inlines a JS→Wasm call (the cedar-wasm glue)
 * into an optimised function and that function is lazily deoptimised while the Wasm call is on
 * the stack (serde-wasm-bindgen creating objects of a new shape is enough), the process aborts
 * with "Fatal error … unreachable code" in `Deoptimizer::DoComputeBuiltinContinuation`. It was
 * reproduced by preparing a few thousand policies with `policyToJson` followed by one whose scope
 * has another shape. Turning that one inlining off avoids the crash; the calls stay optimised.
 * Imported for its effect by every module that calls cedar-wasm, before any call is made.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbo-inline-js-wasm-calls');
