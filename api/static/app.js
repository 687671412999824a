"use strict";
// The panel page: every control PUTs the whole settings object at once and shows what the
// server applied (or its one-sentence error). No framework, no build step.
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
let settings = null;
let backgrounds = [];
// The two colours the panel offers where no body part is (parts effect): BodyPix's opaque white,
// or transparent so the camera picture shows through. Any other comes from the config file.
const NO_PART_COLORS = { white: [255, 255, 255, 255], transparent: [0, 0, 0, 0] };

function say(text) { $("#message").textContent = text || ""; }

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401) { window.location.replace("/login"); throw new Error("logged out"); }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.detail || `The panel answered ${res.status}.`);
  }
  return res.status === 204 ? null : res.json();
}

async function applySettings(changes) {
  const next = { ...settings, ...changes };
  try {
    settings = await api("/api/settings", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(next),
    });
    say("");
  } catch (err) {
    say(err.message);
  }
  render();
}

// A slider's figure; an output may name what its 0 means ("never").
function shown(out, value) { return Number(value) === 0 && out.dataset.zero ? out.dataset.zero : value; }

function render() {
  if (!settings) return;
  for (const button of $$("[data-effect]")) {
    button.setAttribute("aria-pressed", String(button.dataset.effect === settings.effect));
  }
  for (const input of $$("[data-setting]")) {
    const value = settings[input.dataset.setting];
    if (input.type === "checkbox") input.checked = Boolean(value);
    // A slider keeps the user's thumb while dragged; a choice always shows what was applied.
    else if (input.tagName === "SELECT" || document.activeElement !== input) input.value = value;
    const out = $(`output[data-for="${input.dataset.setting}"]`);
    if (out) out.textContent = shown(out, value);
  }
  for (const tile of $$(".bg")) {
    tile.setAttribute("aria-pressed", String(tile.dataset.id === settings.background));
  }
  $("#camera").value = settings.camera || "";
  for (const el of $$("[data-only-effect]")) el.hidden = el.dataset.onlyEffect !== settings.effect;
  const color = JSON.stringify(settings.parts.no_part_color);
  $("#no-part-color").value =
    Object.keys(NO_PART_COLORS).find((key) => JSON.stringify(NO_PART_COLORS[key]) === color) || "custom";
}

// Cameras the appliance found itself, picked by the id it generated (never a device path).
async function loadCameras() {
  const listing = await api("/api/cameras");
  const select = $("#camera");
  const configured = document.createElement("option");
  configured.value = "";
  configured.textContent = listing.configured;
  const options = listing.cameras.map((camera) => {
    const option = document.createElement("option");
    option.value = camera.id;
    option.textContent = camera.label;
    return option;
  });
  select.replaceChildren(configured, ...options);
  $("#camera-choice").hidden = options.length === 0;
  render();
}

function renderBackgrounds(list) {
  const grid = $("#backgrounds");
  grid.replaceChildren();
  for (const entry of list) {
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "bg";
    tile.dataset.id = entry.id;
    tile.title = entry.name;
    const img = document.createElement("img");
    img.src = entry.thumbnail_url;
    img.alt = "";
    img.loading = "lazy";
    const label = document.createElement("span");
    label.textContent = entry.name;  // textContent: a file name is never HTML
    tile.append(img, label);
    if (entry.kind === "video") {
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = "▶ video";
      tile.append(kind);
    }
    if (!entry.builtin) {
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.title = `Delete ${entry.name}`;
      del.setAttribute("aria-label", `Delete ${entry.name}`);
      del.textContent = "×";
      del.addEventListener("click", (event) => { event.stopPropagation(); removeBackground(entry); });
      tile.append(del);
    }
    tile.addEventListener("click", () => applySettings({ effect: "replace", background: entry.id }));
    grid.append(tile);
  }
  render();
}

async function loadBackgrounds() {
  const data = await api("/api/backgrounds");
  backgrounds = data.backgrounds;
  $("#upload-hint").textContent =
    `Up to ${Math.round(data.max_upload_bytes / 1048576)} MB; videos up to ${data.max_video_seconds} s.`;
  renderBackgrounds(backgrounds);
}

async function removeBackground(entry) {
  if (!window.confirm(`Delete "${entry.name}"?`)) return;
  try {
    await api(`/api/backgrounds/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
    say("");
  } catch (err) { say(err.message); }
  await loadBackgrounds();
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  say(`Uploading ${file.name}…`);
  try {
    const entry = await api("/api/backgrounds", { method: "POST", body: form });
    await loadBackgrounds();
    await applySettings({ effect: "replace", background: entry.id });
  } catch (err) { say(err.message); }
  $("#upload").value = "";
}

function fmt(n, digits = 1) { return Number(n || 0).toFixed(digits); }

async function pollStatus() {
  try {
    const s = await api("/api/status");
    const parts = [
      s.camera_state === "running" ? "camera ok" : `camera ${s.camera_state}`,
      s.backend ? `${s.backend} on ${(s.frame_path || "").toUpperCase()}` : `model ${s.processor_state}`,
      `${fmt(s.fps_out)} fps`,
    ];
    if (s.latency_ms && s.latency_ms.segment) parts.push(`segment ${fmt(s.latency_ms.segment, 0)} ms`);
    if (s.glass_to_glass_ms) parts.push(`latency ${fmt(s.glass_to_glass_ms, 0)} ms`);
    parts.push(`${s.dropped_frames} dropped`);
    if (s.state !== "stopped" && !s.healthy) parts.push(`⚠ ${s.health}`);
    for (const notice of s.notices || []) parts.push(`⚠ ${notice}`);
    if (s.demand_state === "idle") parts.push("idle: nobody watching");  // issue 17
    if (s.last_error) parts.push(`⚠ ${s.last_error}`);
    $("#status").textContent = parts.join(" · ");
  } catch (err) {
    $("#status").textContent = "Status unavailable: " + err.message;
  }
}

function startPreview() {
  const img = $("#preview");
  img.addEventListener("error", () => {
    // The stream ended (panel restart, too many viewers): retry it in a moment.
    setTimeout(() => { img.src = `/api/preview.mjpeg?t=${Date.now()}`; }, 2000);
  });
  img.src = "/api/preview.mjpeg";
}

function bindControls() {
  for (const button of $$("[data-effect]")) {
    button.addEventListener("click", () => applySettings({ effect: button.dataset.effect }));
  }
  for (const input of $$("[data-setting]")) {
    const name = input.dataset.setting;
    const read = () => {
      if (input.type === "checkbox") return input.checked;
      return input.tagName === "SELECT" ? input.value : Number(input.value);
    };
    input.addEventListener("change", () => applySettings({ [name]: read() }));
    input.addEventListener("input", () => {
      const out = $(`output[data-for="${name}"]`);
      if (out && input.type !== "checkbox") out.textContent = shown(out, input.value);
    });
  }
  $("#no-part-color").addEventListener("change", (event) => {
    const color = NO_PART_COLORS[event.target.value];
    if (color) applySettings({ parts: { ...settings.parts, no_part_color: color } });
  });
  $("#camera").addEventListener("change", (event) => {
    applySettings({ camera: event.target.value || null });
  });
  $("#upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) upload(file);
  });
  $("#logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST" });
    window.location.replace("/login");
  });
}

async function main() {
  bindControls();
  try {
    settings = await api("/api/settings");
    render();
    await loadBackgrounds();
    await loadCameras();
  } catch (err) { say(err.message); }
  startPreview();
  pollStatus();
  setInterval(pollStatus, 2000);
}

main();
