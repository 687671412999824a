// Reference masks from the official BodyPix library (TF.js, pure-JS CPU backend).
// Usage: see README.md in this folder. Reads the PNGs written by export_photos.py, the local
// weights from $BODYPIX_MODEL_MIRROR, writes masks (PNG) and manifest.json to the output folder.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const bodyPix = require('@tensorflow-models/body-pix');
const util = require('@tensorflow-models/body-pix/dist/util');
const { PNG } = require('pngjs');

const [photosDir, outDir] = process.argv.slice(2);
const mirror = process.env.BODYPIX_MODEL_MIRROR || path.join(__dirname, '../../../shared/models/bodypix');

// Cases: [variant, photo, internalResolution, parts]. Keep in step with tests/runtime/test_reference.py.
const CASES = [
  ['mobilenet-float-050-stride16', 'astronaut', 'medium', true],
  ['mobilenet-float-050-stride16', 'camera', 'medium', true],
  ['mobilenet-float-050-stride16', 'astronaut_wide', 'medium', true],
  ['mobilenet-float-050-stride16', 'astronaut', 'low', false],
  ['mobilenet-float-050-stride16', 'astronaut_tall', 0.63, false],
  ['mobilenet-float-050-stride8', 'astronaut', 'medium', true],
  ['mobilenet-float-050-stride8', 'camera_wide', 'high', false],
  ['mobilenet-quant2-075-stride16', 'astronaut', 'full', true],
  ['mobilenet-quant1-100-stride8', 'camera', 'medium', false],
];

function variantConfig(name) {
  const m = /^mobilenet-(float|quant2|quant1)-(050|075|100)-stride(8|16)$/.exec(name);
  if (!m) throw new Error(`unsupported variant ${name}`);
  return {
    architecture: 'MobileNetV1',
    quantBytes: { float: 4, quant2: 2, quant1: 1 }[m[1]],
    multiplier: Number(m[2]) / 100,
    outputStride: Number(m[3]),
  };
}

function ioHandler(dir, stride) {
  // A TF.js IOHandler reading the graph model JSON and shards from disk.
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, `model-stride${stride}.json`)));
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

function readPhoto(name) {
  const png = PNG.sync.read(fs.readFileSync(path.join(photosDir, `${name}.png`)));
  const rgb = new Int32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * 4 + c];
  }
  return tf.tensor3d(rgb, [png.height, png.width, 3], 'int32');
}

function writeGray(file, width, height, values) {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8 });
  png.data = Buffer.from(values);
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
}

async function main() {
  await tf.setBackend('cpu');
  fs.mkdirSync(outDir, { recursive: true });
  const manifest = { tfjs: tf.version.tfjs, bodyPix: require('@tensorflow-models/body-pix/package.json').version, threshold: 0.7, cases: [] };
  const models = {};
  for (const [variant, photo, res, parts] of CASES) {
    const cfg = variantConfig(variant);
    if (!models[variant]) {
      models[variant] = await bodyPix.load({ ...cfg, modelUrl: ioHandler(path.join(mirror, variant), cfg.outputStride) });
    }
    const net = models[variant];
    const image = readPhoto(photo);
    const [h, w] = image.shape;
    const [ih, iw] = util.toInputResolutionHeightAndWidth(res, cfg.outputStride, [h, w]);
    const { resized, padding } = util.padAndResizeTo(image, [ih, iw]);
    resized.dispose();
    const config = { internalResolution: res, segmentationThreshold: 0.7 };
    const base = `${variant}_${photo}_${String(res).replace('.', 'p')}`;
    const person = await net.segmentPerson(image, config);
    writeGray(path.join(outDir, `${base}_mask.png`), w, h, person.data.map((v) => (v ? 255 : 0)));
    const entry = { variant, photo, internal_resolution: res, height: h, width: w, input_size: [ih, iw], padding, mask: `${base}_mask.png` };
    if (parts) {
      const seg = await net.segmentPersonParts(image, config);
      writeGray(path.join(outDir, `${base}_parts.png`), w, h, Uint8Array.from(seg.data, (v) => v + 1));
      entry.parts = `${base}_parts.png`;
    }
    image.dispose();
    manifest.cases.push(entry);
    console.log(`${base}: ${ih}x${iw} padding ${JSON.stringify(padding)}`);
  }
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
