// Runs a BodyPix TF.js graph model with TensorFlow.js (CPU backend, the library the official
// body-pix package runs on) and writes the raw `float_segments` and `float_part_heatmaps` logits.
// usage: node tfjs_logits.js MODEL_JSON INPUT_F32 H W OUT_PREFIX
// INPUT_F32: the normalised [1,H,W,3] float32 input (what BodyPix feeds `sub_2`).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');

async function main() {
  await tf.setBackend('cpu');
  const [modelJson, inputFile, height, width, outPrefix] = process.argv.slice(2);
  const doc = JSON.parse(fs.readFileSync(modelJson));
  const specs = [];
  const shards = [];
  for (const group of doc.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tfconv.loadGraphModel(
      tf.io.fromMemory({modelTopology: doc.modelTopology, weightSpecs: specs, weightData}));
  const raw = fs.readFileSync(inputFile);
  const x = tf.tensor4d(
      new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [1, +height, +width, 3]);
  const [segments, parts] = model.execute({sub_2: x}, ['float_segments', 'float_part_heatmaps']);
  fs.writeFileSync(outPrefix + 'segments.f32', Buffer.from((await segments.data()).buffer));
  fs.writeFileSync(outPrefix + 'part_heatmaps.f32', Buffer.from((await parts.data()).buffer));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
