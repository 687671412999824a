// The official body-pix 2.2.1 renderers on a given segmentation, in a browser page.
// Loaded after tf.min.js and body-pix.min.umd.js (tests/runtime/test_official_renderers.py).
// window.officialRender(spec) -> base64 of the rendered RGBA pixels (canvas getImageData).
(function () {
  function fromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function toBase64(bytes) {
    let raw = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      raw += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(raw);
  }
  function color(rgba) {
    return {r: rgba[0], g: rgba[1], b: rgba[2], a: rgba[3]};
  }
  const bodyPix = window['body-pix'];  // the UMD bundle's global name
  window.officialRender = function (spec) {
    const width = spec.width, height = spec.height;
    const image = document.createElement('canvas');
    image.width = width;
    image.height = height;
    const pixels = new Uint8ClampedArray(fromBase64(spec.image).buffer);
    image.getContext('2d').putImageData(new ImageData(pixels, width, height), 0, 0);
    let segmentation = null;
    if (spec.mask) {
      segmentation = {data: fromBase64(spec.mask), width: width, height: height};
    }
    if (spec.parts) {
      // Sent as part id + 1 (0: no part); body-pix wants -1 for no part.
      const shifted = fromBase64(spec.parts);
      const data = new Int32Array(shifted.length);
      for (let i = 0; i < shifted.length; i++) data[i] = shifted[i] - 1;
      segmentation = {data: data, width: width, height: height};
    }
    const out = document.createElement('canvas');
    const o = spec.options;
    if (spec.effect === 'blur') {
      bodyPix.drawBokehEffect(out, image, segmentation, o.backgroundBlur, o.edgeBlur, false);
    } else if (spec.effect === 'mask') {
      const mask = bodyPix.toMask(segmentation, color(o.foreground), color(o.background));
      bodyPix.drawMask(out, image, mask, o.opacity, o.maskBlur, false);
    } else if (spec.effect === 'parts') {
      const mask = bodyPix.toColoredPartMask(segmentation);
      bodyPix.drawMask(out, image, mask, o.opacity, 0, false);
    } else if (spec.effect === 'face') {
      bodyPix.blurBodyPart(out, image, segmentation, [0, 1], o.blur, o.edgeBlur, false);
    } else {
      throw new Error('unknown effect ' + spec.effect);
    }
    const data = out.getContext('2d').getImageData(0, 0, width, height).data;
    return toBase64(new Uint8Array(data.buffer));
  };
})();
